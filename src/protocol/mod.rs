//! Wire codecs, free of I/O.

pub(crate) mod framing;
pub mod jsonrpc;
pub mod legacy;

#[cfg(feature = "http")]
pub mod xmlrpc;

use std::sync::OnceLock;

use crate::server::ServerFacts;
use crate::{Error, Response, Result, Value};

/// The MI message format a connection speaks: JSON-RPC or the legacy text MI
/// ([`OptionsBuilder::protocol`](crate::OptionsBuilder::protocol), or `?protocol=` in a URL).
/// Not the server's release line: that is [`server::Generation`](crate::server::Generation),
/// whose [`protocol`](crate::server::Generation::protocol) gives this.
///
/// The default is [`Protocol::Auto`]: the first call on a connection finds the server's generation
/// with a probe that disturbs no server of any generation, and the connection remembers it.
/// Say [`Protocol::JsonRpc`] or [`Protocol::Legacy`] to skip the probe; a reply of the other
/// generation is then a fast, clear error wherever the server gives one (every transport but
/// the FIFO, where a server ignores the other generation's requests: that is a timeout with
/// a hint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// JSON-RPC 2.0: OpenSIPS 3.x and 4.x.
    JsonRpc,
    /// The legacy text MI of OpenSIPS 1.x and 2.x (FIFO, datagram), 2.x `mi_xmlrpc_ng` and
    /// 1.x `mi_xmlrpc`.
    Legacy,
    /// Find out with a probe that cannot disturb any generation, once per connection,
    /// within the connection's timeout (the default).
    #[default]
    Auto,
}

impl Protocol {
    /// The name `?protocol=` and [`FromStr`](std::str::FromStr) take: `jsonrpc`, `legacy`
    /// or `auto` (`Display` writes it, so the two round-trip).
    ///
    /// ```
    /// use opensips_mi::Protocol;
    /// assert_eq!(Protocol::Legacy.as_str(), "legacy");
    /// assert_eq!(Protocol::JsonRpc.to_string(), "jsonrpc");
    /// assert_eq!("auto".parse::<Protocol>()?, Protocol::Auto);
    /// # Ok::<(), opensips_mi::Error>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::JsonRpc => "jsonrpc",
            Protocol::Legacy => "legacy",
            Protocol::Auto => "auto",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Protocol {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "jsonrpc" | "json-rpc" | "3" | "3.x" | "4" | "4.x" => Ok(Protocol::JsonRpc),
            "legacy" | "text" | "1" | "2" | "2.x" | "1.x" => Ok(Protocol::Legacy),
            "auto" => Ok(Protocol::Auto),
            other => Err(crate::Error::invalid_config(format!(
                "unknown protocol {other:?} (use jsonrpc, legacy or auto; or a generation: \
                 1, 2, 1.x, 2.x for legacy, 3, 4, 3.x, 4.x for jsonrpc)"
            ))),
        }
    }
}

/// The wire family in use once known.
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

impl From<crate::server::Generation> for Generation {
    fn from(g: crate::server::Generation) -> Generation {
        if g.is_legacy() {
            Generation::Legacy
        } else {
            Generation::JsonRpc
        }
    }
}

/// The configured protocol and what detection found about the server.
#[derive(Debug, Default)]
pub(crate) struct ProtocolChoice {
    protocol: Protocol,
    detected: OnceLock<ServerFacts>,
    /// Held while detecting: concurrent first calls wait for one probe, not one each.
    detecting: std::sync::Mutex<()>,
}

impl ProtocolChoice {
    pub(crate) fn new(protocol: Protocol) -> Self {
        ProtocolChoice {
            protocol,
            detected: OnceLock::new(),
            detecting: std::sync::Mutex::new(()),
        }
    }

    /// The protocol the connection was given (`Auto` unless `?protocol=` said otherwise).
    pub(crate) fn configured(&self) -> Protocol {
        self.protocol
    }

    /// What detection found, if it ran.
    pub(crate) fn facts(&self) -> Option<&ServerFacts> {
        self.detected.get()
    }

    /// The facts, running `detect` the first time.
    pub(crate) fn learn(
        &self,
        detect: impl FnOnce() -> crate::Result<ServerFacts>,
    ) -> crate::Result<&ServerFacts> {
        if let Some(f) = self.detected.get() {
            return Ok(f);
        }
        let _one = self.detecting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = self.detected.get() {
            return Ok(f);
        }
        // a failure is not kept: the next call detects again
        let f = detect()?;
        Ok(self.detected.get_or_init(|| f))
    }

    /// The generation to speak, running `detect` the first time for `Auto` (or for
    /// `Legacy` when `must_detect`: the 1.x and 2.x XML-RPC modules differ); an explicit
    /// legacy protocol that detection contradicts is an error naming both.
    pub(crate) fn resolve(
        &self,
        must_detect: bool,
        detect: impl FnOnce() -> crate::Result<ServerFacts>,
    ) -> crate::Result<Generation> {
        match self.protocol {
            Protocol::JsonRpc => Ok(Generation::JsonRpc),
            Protocol::Legacy if !must_detect => Ok(Generation::Legacy),
            explicit => {
                let facts = self.learn(detect)?;
                let found = Generation::from(facts.generation);
                if explicit != Protocol::Auto && Protocol::from(found) != explicit {
                    return Err(mismatch(facts.generation, explicit, &[]));
                }
                Ok(found)
            }
        }
    }
}

/// The error for a server of generation `found` spoken to in `asked`; `said` is what it
/// answered (shown in the error, nothing when detection told).
pub(crate) fn mismatch(found: crate::server::Generation, asked: Protocol, said: &[u8]) -> Error {
    let asked = match asked {
        Protocol::Legacy => "the legacy text MI (1.x/2.x, ?protocol=legacy)",
        _ => "JSON-RPC (3.x/4.x, ?protocol=jsonrpc)",
    };
    Error::malformed(
        format!(
            "this is an OpenSIPS {found} server, which does not speak {asked}: use \
             ?protocol=auto (the default) or ?protocol={}",
            if found.is_legacy() {
                "legacy"
            } else {
                "jsonrpc"
            }
        ),
        said,
    )
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
    // The fast path: one UTF-8 check for the whole reply (serde_json's `from_slice` checks
    // each string on its own, slower); only a failure pays for a sanitised copy and for
    // tracking the field path.
    if let Ok(Ok(e)) = std::str::from_utf8(raw).map(serde_json::from_str::<Envelope<T>>) {
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
        field: path.trim_start_matches("result.").to_owned(),
        reason,
    }
}
