//! Reply decoding speed and peak memory on `ul_dump` replies of 1k, 10k and 100k contacts,
//! against `serde_json::from_slice::<serde_json::Value>` on the same bytes, measured in the
//! same run.
//!
//! ```text
//! cargo bench --bench decode              # every case
//! cargo bench --bench decode -- legacy    # the baseline and the cases whose name has "legacy"
//! ```
//!
//! Peak memory is measured on a ~100 MB reply, in a child process per case that reads the
//! reply from a file (one exact-size allocation) and reports (peak RSS after decoding −
//! peak RSS with the input loaded) / input size, so neither input generation nor another
//! case's allocations hide in the number. The peak is `/proc/self/status`'s `VmHWM`, which
//! starts afresh at `exec`.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use opensips_mi::helpers::Domain;
use opensips_mi::{Value, jsonrpc, legacy};

#[derive(serde::Deserialize)]
struct Dump {
    #[serde(rename = "Domains")]
    #[allow(dead_code)]
    domains: Vec<Domain>,
}

#[derive(serde::Deserialize)]
struct Bare {
    result: Dump,
}

/// A 3.x `ul_dump` reply with `n` AORs of one contact each, like the real ones.
fn json_reply(n: usize) -> Vec<u8> {
    let mut s = String::from(
        r#"{"jsonrpc":"2.0","result":{"Domains":[{"name":"location","hash_size":512,"AORs":["#,
    );
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"AOR":"user{i}@example.com","Contacts":[{{"Contact":"sip:user{i}@10.{}.{}.{}:5060;transport=udp","ContactID":"{}","Expires":{},"Q":"","Callid":"reg-{i}-4f2a9c1b@10.0.0.1","Cseq":{},"User-agent":"Yealink SIP-T46S 66.86.0.15","State":"CS_NEW","Flags":0,"Cflags":"","Socket":"udp:10.0.0.1:5060","Methods":4294967295}}]}}"#,
            i % 250,
            (i / 250) % 250,
            i % 200 + 1,
            4_465_107_924_305_326_107u64 + i as u64,
            300 + i % 3300,
            i % 90 + 1
        ));
    }
    s.push_str(r#"]}]},"id":1}"#);
    s.into_bytes()
}

/// The same data in the 2.x text layout.
fn legacy_reply(n: usize) -> Vec<u8> {
    let mut s = String::from("200 OK\nDomain:: location hash_size=512\n");
    for i in 0..n {
        s.push_str(&format!(
            "\tAOR:: user{i}@example.com\n\t\tContact:: sip:user{i}@10.{}.{}.{}:5060;transport=udp Q=\n\t\t\tContactID:: {}\n\t\t\tExpires:: {}\n\t\t\tCallid:: reg-{i}-4f2a9c1b@10.0.0.1\n\t\t\tCseq:: {}\n\t\t\tUser-agent:: Yealink SIP-T46S 66.86.0.15\n\t\t\tState:: CS_NEW\n\t\t\tFlags:: 0\n\t\t\tCflags:: \n\t\t\tSocket:: udp:10.0.0.1:5060\n\t\t\tMethods:: 4294967295\n",
            i % 250,
            (i / 250) % 250,
            i % 200 + 1,
            4_465_107_924_305_326_107u64 + i as u64,
            300 + i % 3300,
            i % 90 + 1
        ));
    }
    s.push('\n');
    s.into_bytes()
}

const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// A 3.x `dlg_list` reply with `n` confirmed calls, SDP bodies and all, like the real ones.
fn dialogs_json(n: usize) -> Vec<u8> {
    let sdp = SDP.replace("\r\n", "\\r\\n");
    let mut s = String::from(r#"{"jsonrpc":"2.0","result":{"Dialogs":["#);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"ID":"{:x}.{:08x}","db_id":"{}","state":4,"user_flags":"","timestart":{},"datestart":"2026-11-26 11:06:16","timeout":{},"dateout":"2026-11-26 12:06:16","callid":"{i}-2824@127.0.0.1","from_uri":"sip:caller{i}@10.0.0.1:5074","to_uri":"sip:bob@10.0.0.2:5060","caller_tag":"2824SIPpTag{i}","caller_contact":"sip:caller{i}@10.0.0.1:5074","callee_cseq":"0","caller_route_set":"","caller_bind_addr":"udp:10.0.0.2:5060","caller_sdp":"{sdp}","CALLEES":[{{"callee_tag":"2740SIPpTag{i}","callee_contact":"sip:10.0.0.3:5072;transport=UDP","caller_cseq":"1","callee_route_set":"","callee_bind_addr":"udp:10.0.0.2:5060","callee_sdp":"{sdp}"}}]}}"#,
            i % 4096,
            i * 2_654_435_761 % 4_294_967_296,
            1_916_539_973_506u64 + i as u64,
            1_795_691_176 + i,
            1_795_694_776 + i
        ));
    }
    s.push_str(r#"]},"id":1}"#);
    s.into_bytes()
}

/// The same calls in the 2.x text layout (SDP lines continue after their CR LF).
fn dialogs_text(n: usize) -> Vec<u8> {
    let mut s = String::from("200 OK\n");
    for i in 0..n {
        s.push_str(&format!(
            "dialog::  ID={}\n\tstate:: 4\n\tuser_flags:: 0\n\ttimestart:: {}\n\tdatestart:: 2026-11-26 11:06:16\n\ttimeout:: {}\n\tdateout:: 2026-11-26 12:06:16\n\tcallid:: {i}-2824@127.0.0.1\n\tfrom_uri:: sip:caller{i}@10.0.0.1:5074\n\tto_uri:: sip:bob@10.0.0.2:5060\n\tcaller_tag:: 2824SIPpTag{i}\n\tcaller_contact:: sip:caller{i}@10.0.0.1:5074\n\tcallee_cseq:: 0\n\tcaller_route_set:: \n\tcaller_bind_addr:: udp:10.0.0.2:5060\n\tcaller_sdp:: {SDP}\n\tCALLEES:: \n\t\tcallee:: \n\t\t\tcallee_tag:: 2740SIPpTag{i}\n\t\t\tcallee_contact:: sip:10.0.0.3:5072;transport=UDP\n\t\t\tcaller_cseq:: 1\n\t\t\tcallee_route_set:: \n\t\t\tcallee_bind_addr:: udp:10.0.0.2:5060\n\t\t\tcallee_sdp:: {SDP}\n",
            7_745_780_787_671u64 + i as u64,
            1_795_691_176 + i,
            1_795_694_776 + i
        ));
    }
    s.push('\n');
    s.into_bytes()
}

#[derive(serde::Deserialize)]
struct DialogList {
    #[serde(rename = "Dialogs")]
    #[allow(dead_code)]
    dialogs: Vec<opensips_mi::helpers::Dialog>,
}

/// The `dlg_list` cases; the first is the baseline.
const DIALOG_CASES: &[&str] = &[
    "serde_json::Value",
    "dialogs typed",
    "dialogs streaming",
    "legacy dialogs text",
    "legacy dialogs streaming",
];

const CASES: &[&str] = &[
    "serde_json::Value",
    "Value",
    "decode_reply",
    "typed",
    "typed via decode_result",
    "bare serde derive",
    "streaming",
    "legacy text",
    "legacy typed",
    "legacy streaming",
];

/// The goals (issue 14): speed vs `serde_json::Value` on the same data, and peak memory as
/// a multiple of the reply.
fn goal(case: &str) -> Option<(f64, f64)> {
    match case {
        "Value" | "decode_reply" | "legacy text" => Some((1.0, 3.0)),
        "typed" | "dialogs typed" => Some((3.0, 3.0)),
        "streaming" | "dialogs streaming" => Some((3.0, 1.2)),
        "legacy streaming" | "legacy dialogs streaming" => Some((1.5, 1.2)),
        "legacy dialogs text" => Some((1.0, 3.0)),
        "legacy typed" => Some((1.5, 3.0)),
        _ => None,
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn run_case(case: &str, json: &[u8], text: &[u8]) {
    match case {
        "serde_json::Value" => drop(black_box(
            serde_json::from_slice::<serde_json::Value>(json).unwrap(),
        )),
        "Value" => drop(black_box(Value::from_json(json).unwrap())),
        "decode_reply" => drop(black_box(jsonrpc::decode_reply(json, 1).unwrap())),
        // what `MiCommands::ul_dump` runs on a JSON-RPC reply's bytes
        "typed" => drop(black_box(opensips_mi::helpers::ul_dump_in(json).unwrap())),
        // the same structs through the generic typed decoder (serde derive, no goal)
        "typed via decode_result" => {
            drop(black_box(jsonrpc::decode_result::<Dump>(json, 1).unwrap()))
        }
        // the same structs straight from serde_json, no envelope checks: our floor
        "bare serde derive" => drop(black_box(
            serde_json::from_slice::<Bare>(json).unwrap().result,
        )),
        // one contact at a time, nothing kept
        "streaming" => {
            black_box(opensips_mi::helpers::ul_contacts_in(json, |c| drop(black_box(c))).unwrap());
        }
        // what `ul_dump_each` / `ul_dump` run on a 1.x/2.x reply's bytes
        "legacy streaming" => {
            black_box(opensips_mi::helpers::ul_contacts_in(text, |c| drop(black_box(c))).unwrap());
        }
        "legacy text" => drop(black_box(legacy::decode_reply(text).unwrap())),
        "legacy typed" => drop(black_box(opensips_mi::helpers::ul_dump_in(text).unwrap())),
        "dialogs typed" => drop(black_box(
            jsonrpc::decode_result::<DialogList>(json, 1).unwrap(),
        )),
        "dialogs streaming" => {
            black_box(opensips_mi::helpers::dialogs_in(json, |d| drop(black_box(d))).unwrap());
        }
        "legacy dialogs text" => drop(black_box(legacy::decode_reply(text).unwrap())),
        "legacy dialogs streaming" => {
            black_box(opensips_mi::helpers::dialogs_in(text, |d| drop(black_box(d))).unwrap());
        }
        other => panic!("unknown case {other}"),
    }
}

/// This process's peak resident memory in KiB (`VmHWM`). Not `getrusage`'s `maxrss`:
/// that one carries the parent's peak across `fork` + `exec`, which hid most of every
/// child's own peak while the parent held the smaller replies.
fn peak_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One table: every case at every size, each case's speed against the first (the
/// baseline), and at the largest size each case's peak memory on the ~100 MB `files`.
fn table(
    exe: &str,
    what: &str,
    unit: &str,
    sizes: &[usize],
    cases: &[&str],
    generate: impl Fn(usize) -> (Vec<u8>, Vec<u8>),
    files: &(std::path::PathBuf, std::path::PathBuf),
) {
    for &n in sizes {
        let (json, text) = generate(n);
        let rounds = (2_000_000 / n).clamp(3, 200);
        println!(
            "{what}, {n} {unit}: JSON {:.1} MB, text {:.1} MB, best of {rounds} runs",
            json.len() as f64 / 1e6,
            text.len() as f64 / 1e6
        );
        // rounds of every case one after another, so a change in the machine's load hits
        // the baseline and the cases alike
        let mut bests = vec![f64::MAX; cases.len()];
        for _ in 0..rounds {
            for (case, best) in cases.iter().zip(bests.iter_mut()) {
                let t = Instant::now();
                run_case(case, &json, &text);
                *best = best.min(t.elapsed().as_secs_f64());
            }
        }
        let base = bests[0];
        for (case, &best) in cases.iter().zip(&bests) {
            let input = if case.starts_with("legacy") {
                text.len()
            } else {
                json.len()
            };
            let mbs = input as f64 / best / 1e6;
            let speed = base / best;
            let peak = if Some(&n) == sizes.last() {
                let file = if case.starts_with("legacy") {
                    &files.1
                } else {
                    &files.0
                };
                let out = Command::new(exe)
                    .arg("--peak")
                    .arg(case)
                    .arg(file)
                    .output()
                    .unwrap();
                let peak = String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse::<f64>()
                    .unwrap_or(f64::NAN);
                let goal = goal(case)
                    .map(|(_, g)| format!(" (goal <= {g}x: {})", verdict(peak <= g)))
                    .unwrap_or_default();
                format!("   peak {peak:.1}x input (~100 MB){goal}")
            } else {
                String::new()
            };
            let goal = goal(case)
                .map(|(g, _)| format!(" (goal >= {g:.1}x: {})", verdict(speed >= g)))
                .unwrap_or_default();
            println!(
                "  {case:<24} {:>8.2} ms  {mbs:>7.0} MB/s  speed vs serde_json::Value {speed:>5.2}x{goal}{peak}",
                best * 1e3,
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // child mode: decode the file once, report the memory it took
    if let Some(pos) = args.iter().position(|a| a == "--peak") {
        let case = &args[pos + 1];
        let input = std::fs::read(&args[pos + 2]).unwrap();
        let before = peak_kib();
        if case.starts_with("legacy") {
            run_case(case, &[], &input);
        } else {
            run_case(case, &input, &[]);
        }
        let after = peak_kib();
        println!("{}", (after - before) as f64 * 1024.0 / input.len() as f64);
        return;
    }
    if args.iter().any(|a| a == "--bench" || a == "--list") && args.iter().any(|a| a == "--list") {
        return;
    }
    // words on the command line pick cases by name; the baseline always runs
    let picked: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    let runs = |case: &str| {
        case == "serde_json::Value"
            || picked.is_empty()
            || picked.iter().any(|p| case.contains(p.as_str()))
    };
    // ~100 MB replies for the peak-memory children
    let dir = std::env::temp_dir().join(format!("opensips-mi-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = |name: &str, json: Vec<u8>, text: Vec<u8>| {
        let (j, t) = (
            dir.join(format!("{name}.json")),
            dir.join(format!("{name}.txt")),
        );
        std::fs::write(&j, json).unwrap();
        std::fs::write(&t, text).unwrap();
        (j, t)
    };
    let ul = files("ul_dump", json_reply(270_000), legacy_reply(270_000));
    let cases: Vec<&str> = CASES.iter().copied().filter(|c| runs(c)).collect();
    if cases.len() > 1 {
        table(
            &args[0],
            "ul_dump",
            "contacts",
            &[1_000, 10_000, 100_000],
            &cases,
            |n| (json_reply(n), legacy_reply(n)),
            &ul,
        );
    }
    let dlg = files("dlg_list", dialogs_json(110_000), dialogs_text(110_000));
    let cases: Vec<&str> = DIALOG_CASES.iter().copied().filter(|c| runs(c)).collect();
    if cases.len() > 1 {
        table(
            &args[0],
            "dlg_list",
            "dialogs",
            &[10_000, 40_000],
            &cases,
            |n| (dialogs_json(n), dialogs_text(n)),
            &dlg,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
