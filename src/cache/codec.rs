//! How values become bytes and back, and how a reader knows which way was used.
//!
//! Every cached item records its codec in the memcached client flags (see the module
//! `cache::envelope`), so a reader whose codec differs gets
//! [`CacheError::WrongCodec`](super::CacheError::WrongCodec), never garbage decoded the
//! wrong way; a value its own codec cannot decode is [`CacheError::Codec`](super::CacheError::Codec).

use std::sync::Arc;

use bytes::Bytes;

/// Turns values into bytes and back. `ID` is recorded with every item.
pub trait Codec: Send + Sync + 'static {
    /// The value type.
    type Value;
    /// A number unique among the codecs sharing a namespace (1 to 255).
    const ID: u8;
    /// A name for error messages.
    const NAME: &'static str;
    /// Encodes a value.
    fn encode(&self, value: &Self::Value) -> Result<Bytes, CodecError>;
    /// Decodes a value encoded by `encode`.
    fn decode(&self, bytes: Bytes) -> Result<Self::Value, CodecError>;
}

/// A value that could not be encoded or decoded: what failed, with the codec's own
/// error (serde's, UTF-8's) as its [`source`](std::error::Error::source).
///
/// ```
/// use mcaside::cache::CodecError;
/// let plain = CodecError::new("negative amounts are not stored");
/// let bad = String::from_utf8(vec![0xff]).unwrap_err();
/// let wrapped = CodecError::with_source("not UTF-8", bad);
/// assert_eq!(wrapped.to_string(), "not UTF-8");
/// assert!(std::error::Error::source(&wrapped).is_some());
/// # let _ = plain;
/// ```
#[derive(Debug, Clone)]
pub struct CodecError {
    message: String,
    // Arc, not Box: `CacheError` is `Clone`, to reach every waiter of a shared load.
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl CodecError {
    /// An error with a message and no underlying cause.
    pub fn new(message: impl Into<String>) -> CodecError {
        CodecError {
            message: message.into(),
            source: None,
        }
    }

    /// An error caused by `source`, which stays reachable through
    /// [`source`](std::error::Error::source) (so `message` should not repeat it).
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> CodecError {
        CodecError {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// The message, without the source's.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// Raw bytes, as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Value = Bytes;
    const ID: u8 = 1;
    const NAME: &'static str = "bytes";

    fn encode(&self, value: &Bytes) -> Result<Bytes, CodecError> {
        Ok(value.clone())
    }

    fn decode(&self, bytes: Bytes) -> Result<Bytes, CodecError> {
        Ok(bytes)
    }
}

/// UTF-8 strings.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringCodec;

impl Codec for StringCodec {
    type Value = String;
    const ID: u8 = 2;
    const NAME: &'static str = "string";

    fn encode(&self, value: &String) -> Result<Bytes, CodecError> {
        Ok(Bytes::copy_from_slice(value.as_bytes()))
    }

    fn decode(&self, bytes: Bytes) -> Result<String, CodecError> {
        String::from_utf8(bytes.to_vec()).map_err(|e| CodecError::with_source("not UTF-8", e))
    }
}

/// Any serde type, as JSON (feature `json`).
#[cfg(feature = "json")]
pub struct JsonCodec<T>(std::marker::PhantomData<fn() -> T>);

// By hand: a derive would ask `T: Debug`, which the codec does not need.
#[cfg(feature = "json")]
impl<T> std::fmt::Debug for JsonCodec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonCodec<{}>", std::any::type_name::<T>())
    }
}

// By hand too, for the same reason.
#[cfg(feature = "json")]
impl<T> Clone for JsonCodec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

#[cfg(feature = "json")]
impl<T> Copy for JsonCodec<T> {}

#[cfg(feature = "json")]
impl<T> JsonCodec<T> {
    /// A JSON codec for `T`.
    pub fn new() -> Self {
        JsonCodec(std::marker::PhantomData)
    }
}

#[cfg(feature = "json")]
impl<T> Default for JsonCodec<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "json")]
impl<T> Codec for JsonCodec<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    type Value = T;
    const ID: u8 = 3;
    const NAME: &'static str = "json";

    fn encode(&self, value: &T) -> Result<Bytes, CodecError> {
        serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(|e| CodecError::with_source("json: cannot encode the value", e))
    }

    fn decode(&self, bytes: Bytes) -> Result<T, CodecError> {
        serde_json::from_slice(&bytes)
            .map_err(|e| CodecError::with_source("json: cannot decode the value", e))
    }
}
