//! Wire codecs, free of I/O.

pub(crate) mod framing;
pub mod jsonrpc;
pub mod legacy;

#[cfg(feature = "http")]
pub mod xmlrpc;

use std::sync::OnceLock;

use crate::{Error, Response, Result, Value};

/// Which MI generation the server speaks ([`Options::protocol`](crate::Options::protocol),
/// or `?protocol=` in a URL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// JSON-RPC 2.0: OpenSIPS 3.x and 4.x (the default).
    #[default]
    JsonRpc,
    /// The legacy text MI of OpenSIPS 1.x and 2.x (FIFO, datagram), and 2.x `mi_xmlrpc_ng`.
    Legacy,
    /// Find out with a probe that cannot disturb either generation, once per connection,
    /// within the connection's timeout.
    Auto,
}

impl std::str::FromStr for Protocol {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "jsonrpc" | "json-rpc" | "3" | "3.x" => Ok(Protocol::JsonRpc),
            "legacy" | "text" | "2" | "2.x" | "1.x" => Ok(Protocol::Legacy),
            "auto" => Ok(Protocol::Auto),
            other => Err(crate::Error::InvalidConfig(format!(
                "unknown protocol {other:?} (use jsonrpc, legacy or auto)"
            ))),
        }
    }
}

/// The generation in use once known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Generation {
    JsonRpc,
    Legacy,
}

impl From<Generation> for Protocol {
    fn from(g: Generation) -> Protocol {
        match g {
            Generation::JsonRpc => Protocol::JsonRpc,
            Generation::Legacy => Protocol::Legacy,
        }
    }
}

/// The configured protocol and, for [`Protocol::Auto`], the cached detection result.
#[derive(Debug, Default)]
pub(crate) struct ProtocolChoice {
    protocol: Protocol,
    detected: OnceLock<Generation>,
}

impl ProtocolChoice {
    pub(crate) fn new(protocol: Protocol) -> Self {
        ProtocolChoice {
            protocol,
            detected: OnceLock::new(),
        }
    }

    /// The generation to speak, running `detect` the first time for `Auto`.
    pub(crate) fn resolve(
        &self,
        detect: impl FnOnce() -> crate::Result<Generation>,
    ) -> crate::Result<Generation> {
        match self.protocol {
            Protocol::JsonRpc => Ok(Generation::JsonRpc),
            Protocol::Legacy => Ok(Generation::Legacy),
            Protocol::Auto => {
                if let Some(g) = self.detected.get() {
                    return Ok(*g);
                }
                let g = detect()?;
                Ok(*self.detected.get_or_init(|| g))
            }
        }
    }
}

/// The value of a response whose 1.x/2.x text reply was left undecoded (see
/// [`Cmd::lazy`](crate::Cmd)); any other response as it is.
pub(crate) fn materialize(mut resp: Response) -> Result<Response> {
    if resp.value.is_null() && legacy::looks_like_reply(&resp.raw) {
        resp.value = legacy::value_of(&resp.raw)?;
    }
    Ok(resp)
}

/// The `result` of the JSON-RPC reply in `raw` as `T`, in one pass; an `error` reply is
/// the error it carries. Errors name the path of the bad field.
pub(crate) fn json_result<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T> {
    #[derive(serde::Deserialize)]
    struct Envelope<T> {
        result: T,
    }
    #[derive(serde::Deserialize)]
    struct Failed {
        error: Value,
    }
    // The fast path (serde_json checks the UTF-8 of what it reads); only a failure pays
    // for a look at the whole text and for tracking the field path.
    if let Ok(e) = serde_json::from_slice::<Envelope<T>>(raw) {
        return Ok(e.result);
    }
    let sanitized;
    let bytes: &[u8] = if std::str::from_utf8(raw).is_ok() {
        raw
    } else {
        sanitized = jsonrpc::sanitize_utf8(raw);
        &sanitized
    };
    if let Ok(e) = serde_json::from_slice::<Envelope<T>>(bytes) {
        return Ok(e.result);
    }
    if let Ok(Failed { error }) = serde_json::from_slice::<Failed>(bytes) {
        return match jsonrpc::error_object(error) {
            Err(e) => Err(e),
            Ok(_) => Err(unexpected(
                "result".into(),
                "the reply has no result".into(),
            )),
        };
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, Envelope<T>>(&mut de) {
        Ok(e) => Ok(e.result),
        // not JSON at all (the transport hands over a lone reply unparsed)
        Err(e) if e.inner().is_syntax() || e.inner().is_eof() => Err(Error::malformed(
            format!("the reply is not valid JSON: {}", e.inner()),
            raw,
        )),
        Err(e) => Err(unexpected(e.path().to_string(), e.inner().to_string())),
    }
}

/// Decodes a reply into `T`: from the raw JSON-RPC bytes when the result was left undecoded,
/// otherwise from the value after `normalize`. Errors name the path of the bad field.
pub(crate) fn decode_typed<T: serde::de::DeserializeOwned>(
    resp: Response,
    normalize: fn(Value) -> Value,
) -> Result<T> {
    let resp = materialize(resp)?;
    if resp.value.is_null() && resp.raw.first() == Some(&b'{') {
        return json_result(&resp.raw);
    }
    // Read the (normalized) tree in place; only a failure pays for the field path.
    let value = normalize(resp.value);
    match T::deserialize(&value) {
        Ok(t) => Ok(t),
        Err(_) => serde_path_to_error::deserialize::<_, T>(&value)
            .map_err(|e| unexpected(e.path().to_string(), e.inner().to_string())),
    }
}

pub(crate) fn unexpected(path: String, reason: String) -> Error {
    Error::UnexpectedReply {
        path: path.trim_start_matches("result.").to_owned(),
        reason,
    }
}
