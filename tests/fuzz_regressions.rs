//! Inputs the fuzzers (`fuzz/`) once broke something with, kept as regression tests: every
//! decoder takes each of them without panicking, and JSON values survive a round trip.

use opensips_mi::events::Event;
#[cfg(feature = "http")]
use opensips_mi::xmlrpc;
use opensips_mi::{Value, jsonrpc, legacy};

#[test]
fn every_saved_input_decodes_or_errors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let _ = jsonrpc::decode_reply(&data, 1);
        let _ = legacy::decode_reply(&data);
        #[cfg(feature = "http")]
        {
            let _ = xmlrpc::decode_reply(&data);
            for method in [
                "ul_dump",
                "dlg_list_ctx",
                "t_uac_dlg",
                "subscribers_list",
                "ps",
            ] {
                let _ = xmlrpc::decode_reply_v1(&data, method);
            }
        }
        let _ = opensips_mi::helpers::ul_dump_in(&data);
        let _ = opensips_mi::helpers::ul_contacts_in(&data, |_| {});
        let _ = Event::parse(&data);
        let _ = opensips_mi::__fuzz::event_stream(&data);
        if let Ok(text) = std::str::from_utf8(&data) {
            let _ = opensips_mi::__fuzz::parse_url(text);
        }
        if let Ok(v) = Value::from_json(&data) {
            assert_eq!(
                Value::from_json(&v.to_json()).unwrap(),
                v,
                "{}",
                path.display()
            );
        }
        n += 1;
    }
    assert!(n > 0);
}

#[test]
fn floats_parse_correctly_rounded() {
    // found by the jsonrpc_reply fuzzer: without correct rounding this came back 1 ULP off
    let v = Value::from_json(b"1110000445766447.492158").unwrap();
    assert_eq!(v, Value::Float(1_110_000_445_766_447.5));
    assert_eq!(Value::from_json(&v.to_json()).unwrap(), v);
}

// A short property-test pass over the same entry points as the fuzz targets (the long runs
// are `cargo +nightly fuzz run <target>` in fuzz/).
mod properties {
    use opensips_mi::events::Event;
    use opensips_mi::server::Generation;
    use opensips_mi::sip;
    #[cfg(feature = "http")]
    use opensips_mi::xmlrpc;
    use opensips_mi::{Value, jsonrpc, legacy};
    use proptest::prelude::*;

    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        // bytes drawn mostly from JSON / MI punctuation, so they get past the first byte
        proptest::collection::vec(
            prop_oneof![
                Just(b'{'),
                Just(b'}'),
                Just(b'['),
                Just(b']'),
                Just(b'"'),
                Just(b':'),
                Just(b','),
                Just(b'\\'),
                Just(b'\n'),
                Just(b'\t'),
                any::<u8>(),
                (b'0'..=b'9'),
                (b'a'..=b'z'),
            ],
            0..200,
        )
    }

    /// Any tree: objects with repeated keys (from a few names, as replies repeat them),
    /// strings short (inline) and long (on the heap), non-ASCII included.
    fn tree() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (-1e12f64..1e12).prop_map(Value::Float),
            r#"[a-z"\\\u{e9}\u{1f600} ]{0,40}"#.prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::vec(
                    ("(Contact|Q|a|b|\u{e9}t\u{e9}|[a-z]{0,30})", inner),
                    0..6
                )
                .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn value_json_round_trip(v in tree()) {
            let json = v.to_json();
            let back = Value::from_json(&json).unwrap();
            prop_assert_eq!(&back, &v);
            // Display is the same compact JSON, and serde_json reads it as the same data
            prop_assert_eq!(back.to_string().into_bytes(), json.clone());
            let theirs: serde_json::Value = serde_json::from_slice(&json).unwrap();
            let ours: serde_json::Value = serde_json::to_value(&v).unwrap();
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn decoders_never_panic(data in jsonish()) {
            let _ = jsonrpc::decode_reply(&data, 1);
            let _ = legacy::decode_reply(&data);
            #[cfg(feature = "http")]
            let _ = xmlrpc::decode_reply(&data);
            let _ = opensips_mi::helpers::ul_dump_in(&data);
            let _ = opensips_mi::helpers::ul_contacts_in(&data, |_| {});
            let mut text = b"200 OK\n".to_vec();
            text.extend_from_slice(&data);
            let _ = opensips_mi::helpers::ul_dump_in(&text);
            let _ = opensips_mi::helpers::ul_contacts_in(&text, |_| {});
            let _ = Event::parse(&data);
            let _ = opensips_mi::__fuzz::event_stream(&data);
            if let Ok(v) = Value::from_json(&data) {
                prop_assert_eq!(Value::from_json(&v.to_json()).unwrap(), v);
            }
        }

        #[test]
        fn replies_with_any_prefix_and_id(prefix in jsonish(), id in any::<u32>()) {
            let mut reply = prefix.clone();
            reply.extend_from_slice(format!(r#"{{"jsonrpc":"2.0","result":"OK","id":{id}}}"#).as_bytes());
            let _ = jsonrpc::decode_reply(&reply, id);
            let _ = jsonrpc::decode_result::<String>(&reply, id);
        }

        #[test]
        fn urls_never_panic(url in "[a-z]{0,7}(://)?[ -~]{0,40}") {
            let _ = opensips_mi::__fuzz::parse_url(&url);
        }

        #[test]
        fn sip_header_blocks_hold_exactly_our_lines(
            headers in proptest::collection::vec(("[ -~\r\n\t]{0,12}", "[ -~\r\n\t\u{80}-\u{10ffff}]{0,24}"), 0..6)
        ) {
            let mut req = sip::uac_dlg("NOTIFY", "sip:1001@10.0.0.1").from("<sip:a@b>").to("<sip:c@d>");
            for (n, v) in &headers {
                req = req.header(n, v);
            }
    let token = |n: &str| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c));
            if let Ok(block) = req.header_block() {
                prop_assert!(headers.iter().all(|(n, v)| token(n) && !v.contains(['\r', '\n'])), "accepted: {:?}", headers);
                prop_assert!(block.ends_with("\r\n"));
                let lines: Vec<&str> = block.trim_end_matches("\r\n").split("\r\n").collect();
                prop_assert_eq!(lines.len(), headers.len() + 2);
                prop_assert!(lines.iter().all(|l| !l.contains(['\r', '\n'])));
                let _ = req.to_cmd(Generation::V3).unwrap();
                let _ = req.to_cmd(Generation::V2);
            } else {
                prop_assert!(headers.iter().any(|(n, v)| !token(n) || v.contains(['\r', '\n'])), "refused: {:?}", headers);
            }
        }
    }
}
