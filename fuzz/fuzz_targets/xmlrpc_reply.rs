//! XML-RPC replies (3.x and 2.x shapes, and the 1.x flat string with the nesting of each
//! command whose tree is rebuilt).
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensips_mi::xmlrpc;

fuzz_target!(|data: &[u8]| {
    let _ = xmlrpc::decode_reply(data);
    for method in ["ul_dump", "dlg_list_ctx", "t_uac_dlg", "subscribers_list", "ps"] {
        let _ = xmlrpc::decode_reply_v1(data, method);
    }
});
