//! The protocol core's internals, for the fuzz targets (`fuzz/`) and the tests.
//!
//! **Not stable.** Nothing here is covered by semver: it may change or go in any
//! release, as the client's machinery changes. It is public only so that the fuzz
//! targets, which are built as a separate crate, can drive the parts of the core that
//! users do not need: the reply-line grammar on its own, and the identity records with
//! which the assembler proves each reply is its request's. Build on the stable items of
//! [`proto`](super) instead.

use super::reply::Assembler;
use super::{Frame, Step};
use crate::error::ProtocolError;

pub use super::identity::Stamp;
pub use super::parse::{Flags, Line, Word, line as parse_line};

/// [`Assembler::push`] that also checks the frame against the request's identity
/// record (written by a [`Stamp`]), as the connection does.
pub fn push_checked(
    assembler: &mut Assembler,
    frame: Frame,
    record: &[u8],
) -> Result<Step, ProtocolError> {
    assembler.push_checked(frame, record)
}
