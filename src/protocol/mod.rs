//! Wire codecs, free of I/O.

pub mod jsonrpc;

#[cfg(feature = "http")]
pub mod xmlrpc;
