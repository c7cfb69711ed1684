//! XML-RPC replies (3.x and 2.x shapes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensips_mi::xmlrpc;

fuzz_target!(|data: &[u8]| {
    let _ = xmlrpc::decode_reply(data);
});
