//! JSON-RPC replies: the generic decoder, the typed path and `Value` must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensips_mi::helpers::Domain;
use opensips_mi::{Value, jsonrpc};

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct UlDump {
    #[serde(rename = "Domains")]
    domains: Vec<Domain>,
}

fuzz_target!(|data: &[u8]| {
    let _ = jsonrpc::decode_reply(data, 1);
    let _ = jsonrpc::decode_result::<UlDump>(data, 1);
    let _ = opensips_mi::helpers::ul_dump_in(data);
    let _ = opensips_mi::helpers::ul_contacts_in(data, |_| {});
    if let Ok(v) = Value::from_json(data) {
        // what we decode, we can print and decode again to the same tree
        let again = Value::from_json(&v.to_json()).expect("re-encoded JSON decodes");
        assert_eq!(again, v);
    }
});
