//! 1.x/2.x text replies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensips_mi::legacy;

fuzz_target!(|data: &[u8]| {
    let _ = legacy::decode_reply(data);
});
