//! Event payloads: one datagram, and the back-to-back `event_stream` framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensips_mi::events::Event;

fuzz_target!(|data: &[u8]| {
    let _ = Event::parse(data);
    let _ = opensips_mi::__fuzz::event_stream(data);
});
