#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(
        clippy::panic,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

mod access;
mod cmd;
mod connection;
mod error;
pub mod events;
mod fleet;
pub mod helpers;
mod options;
mod pool;
mod protocol;
pub mod server;
mod session;
pub mod sip;
mod transport;
mod url;
pub mod value;

/// A small deterministic generator for the randomized tests: `next(n)` is in `0..n`.
#[cfg(test)]
pub(crate) fn test_rng(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}

#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;

pub use access::remove_reply_files;
pub use cmd::{Cmd, ConnectionLike, Params, Response, cmd};
pub use connection::Connection;
pub use error::{Error, Result, ServerError};
pub use fleet::Fleet;
pub use helpers::MiCommands;
pub use options::{DEFAULT_MAX_REPLY, DEFAULT_TIMEOUT, Options};
pub use pool::{Pool, PooledConnection};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use protocol::xmlrpc;
pub use protocol::{Protocol, jsonrpc, legacy};
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use session::HttpConnection;
pub use session::{FifoConnection, UdpConnection, UnixDatagramConnection};
pub use transport::datagram::DEFAULT_DATAGRAM_BUFFER;
pub use transport::fifo::MAX_FIFO_REQUEST;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use transport::http::HttpProtocol;
pub use url::{redact_url, url_with_param};

pub use value::{Array, Map, Str, Value};

/// Entry points for the fuzz targets in `fuzz/` (not part of the API; may change at any time).
#[doc(hidden)]
pub mod __fuzz {
    /// Parses a connection URL without opening anything.
    pub fn parse_url(url: &str) -> crate::Result<()> {
        crate::url::parse_url(url, crate::Options::default()).map(drop)
    }

    /// Feeds bytes to the `event_stream` framer; returns how many events (or errors) came out.
    pub fn event_stream(bytes: &[u8]) -> usize {
        let mut framer = crate::events::StreamFramer::default();
        let (events, _) = framer.feed(bytes, &mut std::io::sink());
        events.len()
    }
}
