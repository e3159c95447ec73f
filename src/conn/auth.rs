//! ASCII authentication (memcached `-Y`): the login every new connection makes before
//! its first request.
//!
//! memcached 1.5.15+ started with an auth file (`user:password` lines) answers every
//! command with `CLIENT_ERROR unauthenticated` until the connection logs in, which it
//! does with a storage command whose data block is `<user> <password>`: `STORED` means
//! in, `CLIENT_ERROR authentication failure` means not. (Any key will do; nothing is
//! stored.) The server splits the block at a space, so neither part may contain one.
//!
//! The password is kept out of every log: [`Credentials`] prints it as `<redacted>`, and
//! the wire log shows the login's data block as `<redacted>` too. SASL, memcached's
//! other authentication, exists only in the binary protocol and is out of scope.

use std::fmt;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::trace;

use crate::error::{AuthError, ConfigError, Error, ProtocolError};
use crate::proto::{Decoder, Frame, Limits};

/// A user name and password for memcached's ASCII authentication.
///
/// ```
/// let creds = mcaside::conn::Credentials::new("app", "s3cret").unwrap();
/// assert_eq!(format!("{creds:?}"), r#"Credentials { user: "app", password: "<redacted>" }"#);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: String,
}

impl Credentials {
    /// Checks and keeps a user name and password. Both must be non-empty, and neither
    /// may contain a space or a control character (the login's data block is split at
    /// the first space; the auth file ends a password at a line end); the user name may
    /// not contain `:` (the auth file's separator).
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Result<Credentials, Error> {
        let (user, password) = (user.into(), password.into());
        let plain = |s: &str| !s.is_empty() && !s.bytes().any(|b| b <= b' ' || b == 0x7f);
        if !plain(&user) || user.contains(':') {
            return Err(ConfigError::BadUser.into());
        }
        if !plain(&password) {
            return Err(ConfigError::BadPassword.into());
        }
        Ok(Credentials { user, password })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Logs in on a freshly opened connection. (The caller bounds it with the connect
/// timeout.) Nothing else may have been sent on `io` yet.
pub(crate) async fn login<S>(io: &mut S, creds: &Credentials, limits: Limits) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let block_len = creds.user.len() + 1 + creds.password.len();
    let header = format!("set mcaside-auth 0 0 {block_len}\r\n");
    trace!(target: "mcaside::wire", "> {}<redacted>\\r\\n", crate::proto::Escaped(header.as_bytes()));
    let mut out = Vec::with_capacity(header.len() + block_len + 2);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(creds.user.as_bytes());
    out.push(b' ');
    out.extend_from_slice(creds.password.as_bytes());
    out.extend_from_slice(b"\r\n");
    io.write_all(&out).await?;
    io.flush().await?;

    let mut decoder = Decoder::new(limits);
    let mut buf = BytesMut::with_capacity(256);
    let frame = loop {
        if let Some(frame) = decoder.decode(&mut buf)? {
            break frame;
        }
        if io.read_buf(&mut buf).await? == 0 {
            return Err(Error::Closed);
        }
    };
    match frame {
        Frame::Stored => {
            trace!(target: "mcaside::wire", "< STORED\\r\\n");
            Ok(())
        }
        Frame::Error { message, .. } if message.as_ref() == b"authentication failure" => {
            trace!(target: "mcaside::wire", "< CLIENT_ERROR authentication failure\\r\\n");
            Err(AuthError::Refused.into())
        }
        other => Err(ProtocolError::Unexpected(format!(
            "{} in reply to the login",
            crate::proto::reply::frame_name(&other)
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_checked() {
        assert!(Credentials::new("app", "pw").is_ok());
        for (u, p) in [("", "pw"), ("a b", "pw"), ("a:b", "pw"), ("a\n", "pw")] {
            assert!(
                matches!(
                    Credentials::new(u, p),
                    Err(Error::Config(ConfigError::BadUser))
                ),
                "{u:?}"
            );
        }
        for p in ["", "p w", "p\r\nw"] {
            assert!(
                matches!(
                    Credentials::new("u", p),
                    Err(Error::Config(ConfigError::BadPassword))
                ),
                "{p:?}"
            );
        }
    }
}
