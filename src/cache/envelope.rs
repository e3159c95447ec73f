//! The format of a cached item: a small header, then the codec's bytes.
//!
//! ```text
//! client flags:  0x4D43_<marks>_<codec id>     ("MC", marks, then the codec)
//! data:          <version 1> <kind: 1 value | 2 absent> <stored_at ms, u64 BE>
//!                <expires_at ms, u64 BE, 0 = never> <load time ms, u32 BE> <payload>
//! ```
//!
//! The flags say which codec wrote the item, so a reader with another codec gets a
//! typed error; an item whose flags lack the `MC` mark was not written by this layer.
//! The one mark so far, `0x01` (refreshing), is set on a value one reader has taken to
//! refresh early on a classic server (see [`classic`](super::classic)); readers that do not know it
//! (this layer before it) ignore it. The header records whether the row was absent
//! (negative caching), when the value was loaded and how long loading took, and when it
//! expires. An item of zero bytes is a lease placeholder (memcached's vivify creates
//! them, and the classic lease writes one).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};

const FLAGS_MARK: u32 = 0x4D43_0000;
const FLAGS_MARK_MASK: u32 = 0xFFFF_0000;
/// The item's value is being refreshed by one reader (classic servers).
const FLAG_REFRESHING: u32 = 0x0000_0100;
const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 1 + 8 + 8 + 4;

/// What an item holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// A lease placeholder: someone is loading the value.
    Placeholder,
    /// The row, encoded.
    Value(Entry),
    /// The row did not exist when it was loaded.
    Absent(Entry),
}

/// A decoded item's metadata and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub stored_at_ms: u64,
    pub expires_at_ms: u64,
    pub load_ms: u32,
    pub payload: Bytes,
}

/// Why an item could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    /// Written with another codec.
    Codec { found: u8 },
    /// Not written by this layer at all.
    Foreign,
}

pub(crate) fn flags(codec_id: u8) -> u32 {
    FLAGS_MARK | u32::from(codec_id)
}

/// The flags of a value one reader has taken to refresh early.
pub(crate) fn refreshing_flags(codec_id: u8) -> u32 {
    flags(codec_id) | FLAG_REFRESHING
}

/// Whether an item's flags say one reader is refreshing it.
pub(crate) fn is_refreshing(item_flags: u32) -> bool {
    item_flags & FLAG_REFRESHING != 0
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Builds an item's data: the header, then `payload` (`None` for an absent row).
pub(crate) fn seal(payload: Option<&[u8]>, ttl: Option<Duration>, load: Duration) -> Bytes {
    let now = now_ms();
    let mut b = BytesMut::with_capacity(HEADER_LEN + payload.map_or(0, <[u8]>::len));
    b.put_u8(VERSION);
    b.put_u8(if payload.is_some() { 1 } else { 2 });
    b.put_u64(now);
    b.put_u64(ttl.map_or(0, |t| now + t.as_millis() as u64));
    b.put_u32(load.as_millis().min(u128::from(u32::MAX)) as u32);
    if let Some(p) = payload {
        b.put_slice(p);
    }
    b.freeze()
}

/// Reads an item written by this layer with codec `codec_id`.
pub(crate) fn open(data: Bytes, item_flags: u32, codec_id: u8) -> Result<Stored, EnvelopeError> {
    if data.is_empty() {
        return Ok(Stored::Placeholder);
    }
    if item_flags & FLAGS_MARK_MASK != FLAGS_MARK || data.len() < HEADER_LEN || data[0] != VERSION {
        return Err(EnvelopeError::Foreign);
    }
    let found = (item_flags & 0xFF) as u8;
    if found != codec_id {
        return Err(EnvelopeError::Codec { found });
    }
    let mut h = &data[1..HEADER_LEN];
    let kind = h.get_u8();
    let entry = Entry {
        stored_at_ms: h.get_u64(),
        expires_at_ms: h.get_u64(),
        load_ms: h.get_u32(),
        payload: data.slice(HEADER_LEN..),
    };
    match kind {
        1 => Ok(Stored::Value(entry)),
        2 => Ok(Stored::Absent(entry)),
        _ => Err(EnvelopeError::Foreign),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let data = seal(
            Some(b"row"),
            Some(Duration::from_secs(60)),
            Duration::from_millis(7),
        );
        let Ok(Stored::Value(e)) = open(data, flags(3), 3) else {
            panic!()
        };
        assert_eq!(&e.payload[..], b"row");
        assert_eq!(e.load_ms, 7);
        assert!(e.expires_at_ms >= e.stored_at_ms + 60_000);
        let data = seal(None, None, Duration::ZERO);
        assert!(
            matches!(open(data.clone(), flags(3), 3), Ok(Stored::Absent(e)) if e.expires_at_ms == 0)
        );
        assert_eq!(
            open(data.clone(), flags(2), 3),
            Err(EnvelopeError::Codec { found: 2 })
        );
        assert_eq!(open(data, 0, 3), Err(EnvelopeError::Foreign));
        assert_eq!(open(Bytes::new(), 0, 3), Ok(Stored::Placeholder));
        // The refreshing mark is not part of the codec or the ownership check.
        let data = seal(Some(b"row"), None, Duration::ZERO);
        assert!(matches!(
            open(data, refreshing_flags(3), 3),
            Ok(Stored::Value(_))
        ));
        assert!(is_refreshing(refreshing_flags(3)) && !is_refreshing(flags(3)));
    }
}
