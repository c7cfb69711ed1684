//! Connection URLs (parsed only; nothing is opened).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(url) = std::str::from_utf8(data) {
        let _ = opensips_mi::__fuzz::parse_url(url);
    }
});
