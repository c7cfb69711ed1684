//! Wire codecs, free of I/O.

pub mod jsonrpc;
