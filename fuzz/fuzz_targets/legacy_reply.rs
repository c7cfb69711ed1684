//! 1.x/2.x text replies: the tree decoder and the line-at-a-time `ul_dump` readers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensips_mi::{helpers, legacy};

fuzz_target!(|data: &[u8]| {
    let _ = legacy::decode_reply(data);
    let _ = helpers::ul_dump_in(data);
    let _ = helpers::ul_contacts_in(data, |_| {});
});
