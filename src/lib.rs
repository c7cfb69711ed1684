#![doc = include_str!("../README.md")]
//!
//! ## API conventions
//!
//! One rule for names, so that the next method is where you expect it:
//!
//! * **Constructors** are `open(…)` with defaults and `open_with(…, options)` with
//!   [`Options`], options last: [`Connection::open`] / [`Connection::open_with`],
//!   [`Pool::open`] / [`Pool::open_with`], [`Fleet::open`] / [`Fleet::open_with`],
//!   [`Fleet::from_file`] / [`Fleet::from_file_with`]. A typed connection has one
//!   constructor, taking what a URL cannot express well plus options
//!   ([`FifoConnection::open`]`(path, options)`, …). Whatever takes options takes
//!   `impl Into<Options>`: an [`OptionsBuilder`] can be passed without
//!   [`build`](OptionsBuilder::build).
//! * **Getters** are the bare noun: [`Options::timeout`], [`Connection::timeout`],
//!   [`Connection::protocol`], [`Connection::transport`], [`Pool::max_size`].
//! * **Builders** (types whose setters take and return `self`: [`OptionsBuilder`], [`Cmd`],
//!   `mock::MockBuilder`, [`events::EventListenerBuilder`], [`Fleet`]) name a setter by the
//!   bare noun; a getter whose noun a setter already has is `get_noun`, as in
//!   `std::process::Command` ([`Cmd::get_timeout`]).
//! * **Live objects** change a setting with `set_noun(&mut self, …)`
//!   ([`Connection::set_timeout`]).
//! * **Words**: [`Protocol`] is the MI message format (JSON-RPC or the legacy text MI,
//!   `?protocol=`); [`server::Generation`] the server's release line (1.x to 4.x);
//!   [`Transport`] the OpenSIPS module and URL scheme (`fifo`, `udp`, `unix`, `http`,
//!   `xmlrpc`).
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
pub use connection::{Connection, Transport};
pub use error::{Error, ErrorKind, Result, ServerError};
pub use fleet::{Fleet, NodeResult};
pub use helpers::MiCommands;
pub use options::{DEFAULT_MAX_REPLY, DEFAULT_TIMEOUT, Options, OptionsBuilder};
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
