//! How values become bytes and back, and how a reader knows which way was used.
//!
//! Every cached item records its codec in the memcached client flags (see
//! [`super::envelope`]), so a reader whose codec differs gets
//! [`CacheError::Codec`](super::CacheError::Codec), never garbage decoded the wrong way.

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

/// A value that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

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
        String::from_utf8(bytes.to_vec()).map_err(|e| CodecError(format!("not UTF-8: {e}")))
    }
}

/// Any serde type, as JSON (feature `json`).
#[cfg(feature = "json")]
pub struct JsonCodec<T>(std::marker::PhantomData<fn() -> T>);

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
            .map_err(|e| CodecError(format!("json: {e}")))
    }

    fn decode(&self, bytes: Bytes) -> Result<T, CodecError> {
        serde_json::from_slice(&bytes).map_err(|e| CodecError(format!("json: {e}")))
    }
}
