//! The JSON-RPC codec accepts every reply captured from OpenSIPS 3.5.9 and 4.0.1 and maps it
//! to the right value or error.

mod support;

use opensips_mi::{Error, jsonrpc};
use serde_json::Value as J;

fn http_body(b: &[u8]) -> Option<&[u8]> {
    b.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| &b[i + 4..])
}

/// The request's JSON object (after the FIFO `:name:` prefix or the HTTP head).
fn request_json(raw: &[u8], ext: &str) -> Option<J> {
    let body: &[u8] = match ext {
        "http" => http_body(raw)?,
        "txt" => {
            let text = std::str::from_utf8(raw).ok()?;
            let i = text.find('{')?;
            &raw[i..]
        }
        _ => raw,
    };
    serde_json::Deserializer::from_slice(body)
        .into_iter::<J>()
        .next()?
        .ok()
}

fn check(dir: &str) -> usize {
    let mut checked = 0;
    for (case, req_path, reply_path) in support::cases(dir) {
        let ext = req_path.extension().unwrap().to_string_lossy().into_owned();
        let reply_ext = reply_path
            .extension()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if ext == "sip" {
            continue; // SIP traffic behind the events, not MI
        }
        let raw_reply = std::fs::read(&reply_path).unwrap();
        if reply_ext == "NONE" || raw_reply.is_empty() {
            continue; // silence: covered by the transport tests
        }
        let reply: &[u8] = if reply_ext == "http" {
            match http_body(&raw_reply) {
                Some(b) if b.first() == Some(&b'{') => b,
                _ => continue, // HTTP-level answers (405, 400, HTML): the HTTP transport's business
            }
        } else {
            &raw_reply
        };
        let Some(req) = request_json(&std::fs::read(&req_path).unwrap(), &ext) else {
            // not JSON (e.g. truncated on purpose): the reply must be a plain-text or -32700 error
            let e = jsonrpc::decode_reply(reply, 1).unwrap_err();
            assert!(
                matches!(e, Error::ServerFailure { .. } | Error::Rpc(_)),
                "{dir}/{case}: {e}"
            );
            checked += 1;
            continue;
        };
        let id = req
            .get("id")
            .and_then(J::as_u64)
            .and_then(|i| u32::try_from(i).ok());
        if reply.first() != Some(&b'{') {
            let e = jsonrpc::decode_reply(reply, id.unwrap_or(1)).unwrap_err();
            assert!(
                matches!(e, Error::ServerFailure { .. }),
                "{dir}/{case}: {e}"
            );
            checked += 1;
            continue;
        }
        let expected: J = serde_json::Deserializer::from_slice(reply)
            .into_iter::<J>()
            .map(Result::unwrap)
            .find(|r| r.get("id") == req.get("id") || r["id"].is_null())
            .unwrap_or_else(|| panic!("{dir}/{case}: no reply for the request id"));
        let got = jsonrpc::decode_reply(reply, id.unwrap_or(0));
        match (id, &expected.get("result"), &expected.get("error")) {
            (None, _, None) => {
                // string / null / absent ids: we never send them, so a result cannot be ours
                assert!(
                    got.is_err(),
                    "{dir}/{case}: accepted a reply for an id we never send"
                );
            }
            (_, Some(result), None) => {
                let resp = got.unwrap_or_else(|e| panic!("{dir}/{case}: {e}"));
                assert_eq!(resp.code(), 200, "{dir}/{case}");
                let ours: J = serde_json::from_slice(&resp.value().to_json()).unwrap();
                assert_eq!(&ours, *result, "{dir}/{case}");
                // object key order is the server's
                if let (Some(o), Some(r)) = (resp.value().as_object(), result.as_object()) {
                    let text = String::from_utf8_lossy(reply);
                    let mut last = 0;
                    for (k, _) in o {
                        assert!(r.contains_key(k));
                        let pos = text[last..]
                            .find(&format!("\"{k}\":"))
                            .map(|p| p + last)
                            .unwrap();
                        last = pos;
                    }
                }
                // the codec reads the caller's bytes in place and keeps no copy
                assert_eq!(resp.raw(), None, "{dir}/{case}");
            }
            (_, None, Some(err)) => {
                let e = got.unwrap_err();
                let code = err["code"].as_i64().unwrap();
                let se = e
                    .server_error()
                    .unwrap_or_else(|| panic!("{dir}/{case}: {e}"));
                assert_eq!(se.code, code, "{dir}/{case}");
                assert_eq!(se.message, err["message"].as_str().unwrap(), "{dir}/{case}");
                assert_eq!(
                    se.data.as_ref().and_then(|d| d.as_str()),
                    err.get("data").and_then(J::as_str),
                    "{dir}/{case}"
                );
                if code < 0 {
                    assert!(matches!(e, Error::Rpc(_)), "{dir}/{case}");
                } else {
                    assert!(matches!(e, Error::Command(_)), "{dir}/{case}");
                }
            }
            other => panic!("{dir}/{case}: unexpected {other:?}"),
        }
        checked += 1;
    }
    checked
}

#[test]
fn every_3x_reply_decodes() {
    let n = check("3x/fifo")
        + check("3x/datagram")
        + check("3x/datagram_unix")
        + check("3x/http")
        + check("3x/setup");
    assert!(n > 150, "only {n} replies checked");
}

#[test]
fn every_4x_reply_decodes() {
    let n = check("4x/fifo")
        + check("4x/datagram")
        + check("4x/http")
        + check("4x/setup")
        + check("4x/events")
        + check("4x/http_auth");
    assert!(n > 100, "only {n} replies checked");
}

#[test]
fn two_replies_in_one_read_are_told_apart() {
    let reply = support::fixture("3x/fifo/93_two_requests_one_write.reply.txt");
    let version = jsonrpc::decode_reply(&reply, 14).unwrap();
    assert!(
        version.value()["Server"]
            .as_str()
            .unwrap()
            .starts_with("OpenSIPS (3.5.9")
    );
    let uptime = jsonrpc::decode_reply(&reply, 15).unwrap();
    assert!(
        uptime.value()["Up time"]
            .as_str()
            .unwrap()
            .ends_with("[sec]")
    );
}

#[cfg(feature = "http")]
mod xmlrpc_replies {
    use super::*;
    use opensips_mi::{Value, xmlrpc};

    /// Decodes the body of a captured XML-RPC HTTP reply.
    fn decode(rel: &str) -> opensips_mi::Result<opensips_mi::Response> {
        let raw = support::fixture(rel);
        xmlrpc::decode_reply(http_body(&raw).unwrap())
    }

    #[test]
    fn every_xmlrpc_reply_decodes_consistently_with_its_fault_flag() {
        let mut n = 0;
        for dir in ["2x/xmlrpc", "3x/xmlrpc", "4x/xmlrpc", "4x/http_auth"] {
            for (case, _req, reply) in support::cases(dir) {
                let raw = std::fs::read(&reply).unwrap();
                let Some(body) = http_body(&raw) else {
                    continue;
                };
                if !body.starts_with(b"<?xml") {
                    continue; // GET 405 / 401 HTML: HTTP-level answers
                }
                let text = String::from_utf8_lossy(body);
                match xmlrpc::decode_reply(body) {
                    Ok(_) => assert!(!text.contains("<fault>"), "{dir}/{case}"),
                    Err(e) => {
                        assert!(text.contains("<fault>"), "{dir}/{case}: {e}");
                        let code = e.server_error().unwrap().code;
                        assert!(
                            text.contains(&format!("<int>{code}</int>")),
                            "{dir}/{case}: {e}"
                        );
                    }
                }
                n += 1;
            }
        }
        assert!(n >= 45, "only {n}");
    }

    #[test]
    fn xmlrpc_values_match_the_json_rpc_captures() {
        // The same server answered the same commands over mi_http: same Value.
        let json = |rel: &str| {
            let raw = support::fixture(rel);
            jsonrpc::decode_reply(http_body(&raw).unwrap(), 1)
                .unwrap()
                .into_value()
        };
        let statistics = decode("3x/xmlrpc/05_get_statistics_named.reply.http")
            .unwrap()
            .into_value();
        let keys = |v: &Value| {
            v.as_object()
                .unwrap()
                .iter()
                .map(|(k, _)| k.to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(&statistics),
            keys(&json(
                "3x/http/08_get_statistics_dialog_tm_named.reply.http"
            ))
        );
        let alice = decode("3x/xmlrpc/09_ul_show_contact_alice.reply.http")
            .unwrap()
            .into_value();
        let alice_json = json("3x/http/18_ul_show_contact_alice.reply.http");
        assert_eq!(
            keys(&alice["Contacts"][0]),
            keys(&alice_json["Contacts"][0])
        );
        assert_eq!(
            alice["Contacts"][0]["Methods"],
            Value::Int(4_294_967_295),
            "<double> → integer"
        );
        assert_eq!(alice["Contacts"][0]["ContactID"].kind(), "string");
    }

    #[test]
    fn escapes_crlf_and_faults() {
        let v = decode("3x/xmlrpc/14_cache_fetch.reply.http")
            .unwrap()
            .into_value();
        assert_eq!(v["value"].as_str(), Some("x<y&z>\"'"));
        let v = decode("3x/xmlrpc/17_t_uac_dlg_notify.reply.http")
            .unwrap()
            .into_value();
        let msg = v["Message"].as_str().unwrap();
        assert!(
            msg.contains("CSeq: 10 NOTIFY\r\nCall-ID:")
                && msg.ends_with("Content-Length: 0\r\n\r\n"),
            "{msg:?}"
        );
        let e = decode("3x/xmlrpc/20_err_malformed_xml.reply.http").unwrap_err();
        assert!(matches!(e, Error::Rpc(ref s) if s.code == 32700), "{e}");
        let e = decode("4x/xmlrpc/07_cache_fetch_miss.reply.http").unwrap_err();
        assert!(
            matches!(e, Error::Command(ref s) if s.code == 400 && s.message == "Value not found"),
            "{e}"
        );
        let e = decode("4x/xmlrpc/09_ambiguous_list.reply.http").unwrap_err();
        assert!(matches!(e, Error::Rpc(ref s) if s.code == -32601), "{e}");
    }

    #[test]
    fn legacy_2x_structured_replies_decode() {
        let up = decode("2x/xmlrpc/01_uptime.reply.http")
            .unwrap()
            .into_value();
        assert_eq!(up["Up time"].as_str(), Some("17 [sec]"));
        let which = decode("2x/xmlrpc/00_which.reply.http")
            .unwrap()
            .into_value();
        assert!(
            which["name"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v.as_str() == Some("uptime"))
        );
        let dump = decode("2x/xmlrpc/05_ul_dump.reply.http")
            .unwrap()
            .into_value();
        let domain = &dump["Domain"][0];
        assert_eq!(domain["value"].as_str(), Some("location"));
        assert_eq!(domain["kids"]["AOR"][0]["value"].as_str(), Some("dave"));
        let e = decode("2x/xmlrpc/13_err_unknown_method.reply.http").unwrap_err();
        assert!(
            matches!(e, Error::Command(ref s) if s.code == 401 && s.message == "Empty request"),
            "{e}"
        );
        let uac = decode("2x/xmlrpc/12_t_uac_dlg_notify.reply.http")
            .unwrap()
            .into_value();
        assert!(uac["Message"].as_str().unwrap().contains("\r\n\r\n"));
    }
}

mod legacy_replies {
    use super::*;
    use opensips_mi::{Value, legacy};

    #[test]
    fn every_2x_fifo_and_datagram_reply_decodes() {
        let mut n = 0;
        for dir in ["2x/fifo", "2x/datagram", "2x/setup"] {
            for (case, _req, reply) in support::cases(dir) {
                let bytes = std::fs::read(&reply).unwrap();
                if bytes.is_empty() {
                    continue; // silence
                }
                let status: i64 = String::from_utf8_lossy(&bytes[..3]).parse().unwrap();
                match legacy::decode_reply(&bytes) {
                    Ok(r) => assert_eq!(r.code(), status, "{dir}/{case}"),
                    Err(Error::Command(e)) => {
                        assert_eq!(e.code, status, "{dir}/{case}");
                        assert!(!(200..300).contains(&e.code), "{dir}/{case}");
                    }
                    Err(e) => panic!("{dir}/{case}: {e}"),
                }
                n += 1;
            }
        }
        assert!(n >= 70, "only {n}");
    }

    fn decode(rel: &str) -> Value {
        legacy::decode_reply(&support::fixture(rel))
            .unwrap()
            .into_value()
    }

    #[test]
    fn shapes_of_real_2x_replies() {
        let which = decode("2x/fifo/00_which.reply.txt");
        assert!(
            which
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v.as_str() == Some("t_uac_dlg"))
        );
        let ps = decode("2x/fifo/03_ps.reply.txt");
        let procs: Vec<&Value> = ps.get_all("Process").collect();
        assert_eq!(procs.len(), 9);
        assert_eq!(
            procs[6]["Type"].as_str(),
            Some("SIP receiver udp:127.0.0.1:5062 ")
        );
        assert_eq!(procs[1]["PID"].as_str(), Some("4903"));
        let stats = decode("2x/fifo/05_get_statistics_dialog_tm.reply.txt");
        assert_eq!(stats["dialog:active_dialogs"].as_i64(), Some(2));
        let dump = decode("2x/fifo/09_ul_dump.reply.txt");
        let domain = &dump["Domain"];
        assert_eq!(
            (domain["value"].as_str(), domain["hash_size"].as_str()),
            (Some("location"), Some("512"))
        );
        let carol = domain
            .get_all("AOR")
            .find(|a| a["value"] == Value::from("carol"))
            .unwrap();
        assert_eq!(
            carol["Contact"]["value"].as_str(),
            Some("sip:carol@127.0.0.1:5082;transport=udp")
        );
        assert_eq!(
            carol["Contact"]["Socket"].as_str(),
            Some("udp:127.0.0.1:5062")
        );
        let alice = decode("2x/fifo/11_ul_show_contact_alice.reply.txt");
        assert_eq!(alice["AOR"].get_all("Contact").count(), 2);
        let dialogs = decode("2x/fifo/15_dlg_list_ctx.reply.txt");
        let d: Vec<&Value> = dialogs.get_all("dialog").collect();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0]["ID"].as_str(), Some("7745780787671"));
        assert_eq!(
            d[0]["CALLEES"]["callee"]["callee_tag"].as_str(),
            Some("4918SIPpTag011")
        );
        assert_eq!(
            d[0]["context"]["profiles"]["caller"].as_str(),
            Some("caller1")
        );
        let uac = decode("2x/fifo/25_t_uac_dlg_notify.reply.txt");
        assert_eq!(uac["Status"].as_str(), Some("200 OK"));
        let msg = uac["Message"].as_str().unwrap();
        assert!(
            msg.starts_with("Via: ") && msg.ends_with("Content-Length: 0\r\n\r\n"),
            "{msg:?}"
        );
        let miss = decode("2x/fifo/21_cache_fetch_missing.reply.txt");
        assert_eq!(miss, Value::from(vec!["Value not found"]));
        let e = legacy::decode_reply(&support::fixture(
            "2x/fifo/12_ul_show_contact_missing.reply.txt",
        ))
        .unwrap_err();
        assert!(
            matches!(e, Error::Command(ref s) if s.code == 404 && s.message == "AOR not found")
        );
        let profile = decode("2x/fifo/16_profile_get_size.reply.txt");
        assert_eq!(
            (
                profile["profile"]["count"].as_str(),
                profile["profile"]["value"].as_str()
            ),
            (Some("2"), Some(""))
        );
    }

    #[test]
    fn legacy_fifo_requests_are_encoded_exactly_like_the_captures() {
        use opensips_mi::Params;
        let cases: [(&str, &str, Params); 4] = [
            ("2x/fifo/01_uptime.request.txt", "uptime", Params::None),
            (
                "2x/fifo/05_get_statistics_dialog_tm.request.txt",
                "get_statistics",
                Params::positional([["dialog:", "tm:"]]),
            ),
            (
                "2x/fifo/18_cache_store.request.txt",
                "cache_store",
                Params::positional(["local", "k_fifo", "hello \"world\" / fifo"]),
            ),
            (
                "2x/fifo/23_cache_store_named_args.request.txt",
                "cache_store",
                Params::named([("system", "local"), ("attr", "kn_fifo"), ("value", "named")]),
            ),
        ];
        for (rel, method, params) in cases {
            let captured = support::fixture(rel);
            let name = String::from_utf8_lossy(&captured)
                .split(':')
                .nth(2)
                .unwrap()
                .split('\n')
                .next()
                .unwrap()
                .to_owned();
            let ours = legacy::encode_request(method, &params, Some(&name)).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&captured),
                "{rel}"
            );
        }
        let uac = support::fixture("2x/fifo/25_t_uac_dlg_notify.request.txt");
        let headers = "From: <sip:mi-client@127.0.0.1>;tag=mififo\r\nTo: <sip:listener@127.0.0.1:5077>\r\nEvent: check-sync\r\nContact: <sip:mi-client@127.0.0.1:5062>\r\nSubscription-State: active\r\n";
        let ours = legacy::encode_request(
            "t_uac_dlg",
            &Params::positional(["NOTIFY", "sip:listener@127.0.0.1:5077", ".", ".", headers]),
            Some("mi2_capture_reply_25"),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&uac)
        );
    }
}

/// OpenSIPS 1.11.11 (`1x/`): every FIFO, datagram and `mi_xmlrpc` capture decodes, and the
/// flat XML-RPC strings give the same trees as the FIFO.
#[cfg(feature = "http")]
mod legacy_1x {
    use super::*;
    use opensips_mi::helpers::{Contact, Dialog, normalize_reply};
    use opensips_mi::{Value, legacy, xmlrpc};

    /// The method of a captured request (`:cmd:` or `<methodName>`).
    fn method_of(req: &[u8]) -> String {
        let text = String::from_utf8_lossy(req);
        if let Some(i) = text.find("<methodName>") {
            let rest = &text[i + 12..];
            return rest[..rest.find('<').unwrap_or(0)].to_owned();
        }
        text.split(':').nth(1).unwrap_or_default().to_owned()
    }

    #[test]
    fn every_1x_fifo_datagram_and_setup_reply_decodes() {
        let mut n = 0;
        for dir in ["1x/fifo", "1x/datagram", "1x/setup"] {
            for (case, _req, reply) in support::cases(dir) {
                let bytes = std::fs::read(&reply).unwrap();
                if bytes.is_empty() {
                    continue; // silence
                }
                let status: i64 = String::from_utf8_lossy(&bytes[..3]).parse().unwrap();
                match legacy::decode_reply(&bytes) {
                    Ok(r) => assert_eq!(r.code(), status, "{dir}/{case}"),
                    Err(Error::Command(e)) => {
                        assert_eq!(e.code, status, "{dir}/{case}");
                        assert!(!(200..300).contains(&e.code), "{dir}/{case}");
                    }
                    Err(e) => panic!("{dir}/{case}: {e}"),
                }
                n += 1;
            }
        }
        assert!(n >= 75, "only {n}");
    }

    #[test]
    fn every_1x_xmlrpc_reply_decodes() {
        let mut n = 0;
        for (case, req, reply) in support::cases("1x/xmlrpc") {
            let raw = std::fs::read(&reply).unwrap();
            let body = http_body(&raw).unwrap();
            if !body.starts_with(b"<?xml") {
                continue; // Abyss' 404 / 405 HTML pages
            }
            let method = method_of(&std::fs::read(&req).unwrap());
            let text = String::from_utf8_lossy(body);
            match xmlrpc::decode_reply_v1(body, &method) {
                Ok(_) => assert!(!text.contains("<fault>"), "{case}"),
                Err(e) => {
                    assert!(text.contains("<fault>"), "{case}: {e}");
                    let code = e.server_error().unwrap().code;
                    assert!(text.contains(&format!("<i4>{code}</i4>")), "{case}: {e}");
                }
            }
            n += 1;
        }
        assert!(n >= 28, "only {n}");
    }

    fn fifo(rel: &str) -> Value {
        legacy::decode_reply(&support::fixture(rel))
            .unwrap()
            .into_value()
    }

    fn xml(rel: &str, method: &str) -> Value {
        let raw = support::fixture(rel);
        xmlrpc::decode_reply_v1(http_body(&raw).unwrap(), method)
            .unwrap()
            .into_value()
    }

    /// The keys of a value, recursively, with numbers and times left out.
    fn shape(v: &Value) -> String {
        match v {
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| format!("{k}{{{}}}", shape(v)))
                .collect::<Vec<_>>()
                .join(","),
            Value::Array(a) => format!("[{}]", a.iter().map(shape).collect::<Vec<_>>().join(",")),
            _ => String::new(),
        }
    }

    #[test]
    fn xmlrpc_flat_strings_rebuild_the_fifo_trees() {
        for (fifo_rel, xml_rel, method) in [
            (
                "1x/fifo/09_ul_dump.reply.txt",
                "1x/xmlrpc/05_ul_dump.reply.http",
                "ul_dump",
            ),
            (
                "1x/fifo/10_ul_dump_brief.reply.txt",
                "1x/xmlrpc/25_ul_dump_brief.reply.http",
                "ul_dump",
            ),
            (
                "1x/fifo/14_dlg_list.reply.txt",
                "1x/xmlrpc/08_dlg_list.reply.http",
                "dlg_list",
            ),
            (
                "1x/fifo/15_dlg_list_ctx.reply.txt",
                "1x/xmlrpc/26_dlg_list_ctx.reply.http",
                "dlg_list_ctx",
            ),
            (
                "1x/fifo/11_ul_show_contact_alice.reply.txt",
                "1x/xmlrpc/06_ul_show_contact_alice.reply.http",
                "ul_show_contact",
            ),
            (
                "1x/fifo/03_ps.reply.txt",
                "1x/xmlrpc/15_ps.reply.http",
                "ps",
            ),
            (
                "1x/fifo/00_which.reply.txt",
                "1x/xmlrpc/00_which.reply.http",
                "which",
            ),
            (
                "1x/fifo/05_get_statistics_dialog_tm.reply.txt",
                "1x/xmlrpc/03_get_statistics.reply.http",
                "get_statistics",
            ),
        ] {
            let (f, x) = (fifo(fifo_rel), xml(xml_rel, method));
            assert_eq!(shape(&f), shape(&x), "{xml_rel}");
            let (f, x) = (normalize_reply(method, f), normalize_reply(method, x));
            assert_eq!(shape(&f), shape(&x), "{xml_rel} normalized");
        }
        let uac = xml("1x/xmlrpc/12_t_uac_dlg_notify.reply.http", "t_uac_dlg");
        let reply = opensips_mi::sip::SipReply::from_value(&uac).unwrap();
        assert_eq!(reply.status, 200);
        let msg = reply.message.unwrap();
        assert!(
            msg.starts_with("Via: ")
                && msg.contains("CSeq: 10 NOTIFY\r\n")
                && msg.ends_with("\r\n\r\n"),
            "{msg:?}"
        );
        let fifo_uac = fifo("1x/fifo/25_t_uac_dlg_notify.reply.txt");
        let reply = opensips_mi::sip::SipReply::from_value(&fifo_uac).unwrap();
        assert_eq!(reply.status, 200);
        assert!(
            reply
                .message
                .unwrap()
                .ends_with("Content-Length: 0\r\n\r\n")
        );
        let timeout = fifo("1x/fifo/26_t_uac_dlg_timeout.reply.txt");
        let reply = opensips_mi::sip::SipReply::from_value(&timeout).unwrap();
        assert_eq!((reply.status, reply.message), (408, None));
    }

    #[test]
    fn typed_1x_replies_are_the_2x_structs() {
        let contacts = |v: Value| -> Vec<Contact> {
            let v = normalize_reply("ul_show_contact", v);
            <Vec<Contact> as serde::Deserialize>::deserialize(&v["Contacts"]).unwrap()
        };
        for v in [
            fifo("1x/fifo/11_ul_show_contact_alice.reply.txt"),
            fifo("1x/datagram/11_ul_show_contact_alice.reply.txt"),
            xml(
                "1x/xmlrpc/06_ul_show_contact_alice.reply.http",
                "ul_show_contact",
            ),
        ] {
            let c = contacts(v);
            assert_eq!(c.len(), 2);
            assert_eq!(c[0].contact, "sip:alice@127.0.0.1:5080");
            assert_eq!(
                (c[0].flags, c[0].methods, c[0].q),
                (0, Some(4_294_967_295), None)
            );
            assert_eq!(c[0].socket.as_deref(), Some("udp:127.0.0.1:5068"));
            assert_eq!(c[0].user_agent.as_deref(), Some("py-sip-register/1.0"));
            assert!(c[0].callid.starts_with("reg-alice-"));
        }
        let dialogs = |v: Value| -> Vec<Dialog> {
            let v = normalize_reply("dlg_list", v);
            <Vec<Dialog> as serde::Deserialize>::deserialize(&v["Dialogs"]).unwrap()
        };
        for v in [
            fifo("1x/fifo/15_dlg_list_ctx.reply.txt"),
            xml("1x/xmlrpc/26_dlg_list_ctx.reply.http", "dlg_list_ctx"),
        ] {
            let d = dialogs(v);
            assert_eq!(d.len(), 2);
            assert_eq!(d[0].callees.len(), 1, "{d:?}");
        }
        let stats = fifo("1x/fifo/08_get_statistics_all.reply.txt");
        let stats = normalize_reply("get_statistics", stats);
        assert!(
            stats.get("load:udp:127.0.0.1:5068-load").is_some(),
            "a statistic name with ':' stays whole: {stats}"
        );
    }
}
