//! Wire codecs, free of I/O.

pub mod jsonrpc;
pub mod legacy;

#[cfg(feature = "http")]
pub mod xmlrpc;
