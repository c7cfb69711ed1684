//! The SIP request builder: whatever the names and values, either an error or a header
//! block that cannot smuggle a line (every line is one of ours, CRLF-terminated).
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensips_mi::server::Generation;
use opensips_mi::sip;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // fields separated by NUL: method, ruri, then name/value pairs
    let mut parts = text.split('\0');
    let method = parts.next().unwrap_or("");
    let ruri = parts.next().unwrap_or("");
    let mut req = sip::uac_dlg(method, ruri).from("<sip:a@b>").to("<sip:c@d>");
    let mut added = 2;
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        req = req.header(name, value);
        added += 1;
    }
    if let Ok(block) = req.header_block() {
        assert!(block.ends_with("\r\n"), "{block:?}");
        let lines: Vec<&str> = block.trim_end_matches("\r\n").split("\r\n").collect();
        assert_eq!(lines.len(), added, "{block:?}");
        assert!(
            lines
                .iter()
                .all(|l| !l.contains(['\r', '\n']) && l.contains(':')),
            "{block:?}"
        );
    }
    let _ = req.to_cmd(Generation::V3);
    let _ = req.to_cmd(Generation::V2);
});
