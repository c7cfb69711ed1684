//! The `opensips-mi` binary against the mock over every transport: exit codes, argument
//! forms, output modes and the helper subcommands.
#![cfg(feature = "cli")]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use opensips_mi::mock::{Fault, Flavor, MockServer};
use opensips_mi::{Params, Value};

const BIN: &str = env!("CARGO_BIN_EXE_opensips-mi");

/// The binary, with its caches (detected generations, completion) in this test run's own
/// directory under cargo's target tmp dir: never the user's, never an earlier run's.
fn bin() -> Command {
    let mut c = Command::new(BIN);
    c.env(
        "XDG_CACHE_HOME",
        format!(
            "{}/cli-cache-{}",
            env!("CARGO_TARGET_TMPDIR"),
            std::process::id()
        ),
    );
    c
}

fn run(url: &str, args: &[&str]) -> Output {
    bin()
        .arg("-u")
        .arg(url)
        .args(args)
        .env_remove("OPENSIPS_MI_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn urls(server: &MockServer) -> Vec<String> {
    let urls = server.urls();
    assert_eq!(urls.len(), 5, "every transport: {urls:?}");
    urls
}

#[test]
fn commands_over_every_transport_with_json_output_when_piped() {
    let server = MockServer::start().unwrap();
    for url in urls(&server) {
        let o = run(&url, &["uptime"]);
        assert_eq!(o.status.code(), Some(0), "{url}: {}", stderr(&o));
        let out = stdout(&o);
        assert_eq!(out.lines().count(), 1, "piped output is one line: {out}");
        let v = Value::from_json(out.trim().as_bytes()).unwrap();
        assert!(v["Up time"].as_str().unwrap().ends_with("[sec]"));
    }
}

#[test]
fn argument_forms() {
    let server = MockServer::builder().fifo().start().unwrap();
    server.handle("echo", |p| Ok(p.to_value()));
    let url = server.fifo_url().unwrap();
    let echo = |args: &[&str]| {
        let mut all = vec!["echo"];
        all.extend_from_slice(args);
        let o = run(&url, &all);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        Value::from_json(stdout(&o).trim().as_bytes()).unwrap()
    };
    assert_eq!(
        echo(&["a", "sip:x@y;transport=udp", "b c"]),
        Value::from(vec!["a", "sip:x@y;transport=udp", "b c"])
    );
    assert_eq!(
        echo(&["table_name=location", "aor=alice@example.com"]),
        Params::named([("table_name", "location"), ("aor", "alice@example.com")]).to_value()
    );
    assert_eq!(
        echo(&["statistics:=[\"dialog:\",\"tm:\"]", "n:=5"]),
        Params::named([
            ("statistics", Value::from(["dialog:", "tm:"])),
            ("n", Value::Int(5))
        ])
        .to_value()
    );
    assert_eq!(
        echo(&[":=[\"dialog:\",\"tm:\"]", ":=7"]),
        Value::Array(vec![Value::from(["dialog:", "tm:"]), Value::Int(7)].into())
    );
    assert_eq!(echo(&[]), Value::Null);
    // the array stays one parameter on the wire
    let req = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "echo")
        .nth(2)
        .unwrap();
    assert_eq!(req.params.len(), 2);
}

#[test]
fn exit_codes() {
    let server = MockServer::builder().fifo().udp().start().unwrap();
    let url = server.fifo_url().unwrap();
    // 1: OpenSIPS answered with an error, code and message on stderr
    let o = run(&url, &["ul_show_contact", "location", "nobody"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).trim(), "opensips-mi: 404 AOR not found");
    assert!(o.stdout.is_empty());
    let o = run(&url, &["cache_store", "local"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("-32602 Invalid params (Too few or too many parameters)"),
        "{}",
        stderr(&o)
    );
    // 2: usage errors
    for args in [
        &["cache_fetch", "local", "attr=x"][..],
        &["--output", "yaml", "uptime"],
        &["--timeout", "-1", "uptime"],
        &[],
    ] {
        let o = run(&url, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty());
    }
    let o = run("ftp://nowhere", &["uptime"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // 3: could not talk to OpenSIPS
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        &format!("fifo://{}/missing_fifo", dir.path().display()),
        &["uptime"],
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    server.inject(Fault::NoReply);
    let start = Instant::now();
    let o = run(&server.udp_url().unwrap(), &["-t", "0.5", "uptime"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("timed out after 0.500s"),
        "{}",
        stderr(&o)
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    server.clear_faults();
    server.inject(Fault::Garbage(b"garbage".to_vec()));
    let o = run(&url, &["uptime"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("malformed reply"), "{}", stderr(&o));
    // 0 with --help
    let o = bin().arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("EXIT CODES"));
}

#[test]
fn output_modes() {
    let server = MockServer::builder().udp().start().unwrap();
    let url = server.udp_url().unwrap();
    let pretty = stdout(&run(&url, &["-o", "pretty", "version"]));
    assert!(
        pretty.starts_with("{\n  \"Server\": \"OpenSIPS (3.5.9"),
        "{pretty}"
    );
    let json = stdout(&run(&url, &["--output", "json", "version"]));
    assert_eq!(json, "{\"Server\":\"OpenSIPS (3.5.9 (x86_64/linux))\"}\n");
    let raw = run(&url, &["-o", "raw", "version"]);
    assert!(
        raw.stdout
            .starts_with(br#"{"jsonrpc":"2.0","result":{"Server":"#),
        "{}",
        stdout(&raw)
    );
    assert!(
        raw.stdout.ends_with(b"}"),
        "raw is the exact reply, no newline added"
    );
}

#[test]
fn url_from_the_environment_and_protocols() {
    let server = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .start()
        .unwrap();
    let o = bin()
        .args(["--protocol", "auto", "uptime"])
        .env("OPENSIPS_MI_URL", server.fifo_url().unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("Up time"));
    let raw = run(
        &server.fifo_url().unwrap(),
        &["--protocol", "legacy", "-o", "raw", "uptime"],
    );
    assert!(raw.stdout.starts_with(b"200 OK\nNow:: "));
    // --protocol takes what ?protocol= takes: generations too, any case
    for p in ["2", "2.x", "1.X", "LEGACY"] {
        let raw = run(
            &server.fifo_url().unwrap(),
            &["--protocol", p, "-o", "raw", "uptime"],
        );
        assert_eq!(raw.status.code(), Some(0), "{p}: {}", stderr(&raw));
        assert!(raw.stdout.starts_with(b"200 OK\nNow:: "), "{p}");
    }
    let bad = run(
        &server.fifo_url().unwrap(),
        &["--protocol", "5.x", "uptime"],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("4.x"), "{}", stderr(&bad));
}

#[test]
fn helper_subcommands() {
    let server = MockServer::builder().fifo().udp().start().unwrap();
    let url = server.udp_url().unwrap();
    let o = run(
        &url,
        &[
            "mwi-update",
            "sip:1001@10.0.0.21",
            "sip:*97@vm.example.com",
            "2",
            "5",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        Value::from_json(stdout(&o).trim().as_bytes()).unwrap()["status"],
        Value::Int(200)
    );
    let o = run(
        &url,
        &["mwi-update", "sip:1002@10.0.0.22", "-", "0", "0", "1", "0"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&url, &["event-notify", "sip:1001@10.0.0.21", "snom-reboot"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // a custom Event value is explicit; an unknown preset name is an error listing them
    let o = run(
        &url,
        &["event-notify", "sip:1001@10.0.0.21", "--event", "my-custom"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&url, &["event-notify", "sip:1001@10.0.0.21", "SnomRebot"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("snom_reboot"), "{}", stderr(&o));
    let sent = server.uac_requests();
    assert_eq!(sent.len(), 4);
    assert_eq!(
        sent[0].body.as_deref(),
        Some(
            "Messages-Waiting: yes\r\nMessage-Account: sip:*97@vm.example.com\r\nVoice-Message: 2/5\r\n"
        )
    );
    assert_eq!(
        sent[1].body.as_deref(),
        Some("Messages-Waiting: no\r\nVoice-Message: 0/0 (1/0)\r\n")
    );
    assert!(
        sent[2]
            .headers
            .ends_with("Event: check-sync;reboot=true\r\n")
    );
    assert!(sent[3].headers.ends_with("Event: my-custom\r\n"));
    // a SIP failure exits 1
    server.set_uac_responder(|_| opensips_mi::mock::UacReply::status("486 Busy Here"));
    let o = run(&url, &["event-notify", "sip:1001@10.0.0.21", "snom-reboot"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("486 Busy Here"));
    // injection is a usage error, nothing sent
    let o = run(
        &url,
        &[
            "event-notify",
            "sip:1@x",
            "--event",
            "check-sync\r\nX-Evil: 1",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(server.uac_requests().len(), 5);
    // list
    let o = run(&url, &["-o", "pretty", "list"]);
    assert!(stdout(&o).lines().any(|l| l == "uptime"), "{}", stdout(&o));
    // piped too: one name per line, for grep; JSON only when asked for
    let o = run(&url, &["list"]);
    assert!(stdout(&o).lines().count() > 10);
    assert!(stdout(&o).lines().any(|l| l == "ul_dump"), "{}", stdout(&o));
    let o = run(&url, &["-o", "json", "list"]);
    let list = Value::from_json(stdout(&o).trim().as_bytes()).unwrap();
    assert!(list.as_array().unwrap().len() > 10);
    assert!(list[0]["name"].as_str().is_some());
    // completions
    for shell in ["bash", "zsh", "fish"] {
        let o = bin().args(["completions", shell]).output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains("opensips-mi"), "{shell}");
    }
}

#[test]
fn mock_subcommand_runs_until_sigterm_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("opensips_fifo");
    let sock = dir.path().join("mi.sock");
    let mut child = bin()
        .args([
            "mock",
            "--fifo",
            fifo.to_str().unwrap(),
            "--udp",
            "127.0.0.1:0",
            "--unix",
            sock.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().starts_with("mock OpenSIPS"));
    let urls: Vec<String> = (0..5).map(|_| lines.next().unwrap().unwrap()).collect();
    assert!(
        urls[0].starts_with(&format!("fifo://{}", fifo.display())),
        "{urls:?}"
    );
    for url in &urls {
        let o = run(url, &["version"]);
        assert_eq!(o.status.code(), Some(0), "{url}: {}", stderr(&o));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        !fifo.exists() && !sock.exists(),
        "the mock removes its FIFO and socket"
    );

    let mut legacy = bin()
        .args(["mock", "--legacy", "--udp", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(legacy.stdout.take().unwrap()).lines();
    let _ = lines.next();
    let url = lines.next().unwrap().unwrap();
    let o = run(&url, &["--protocol", "legacy", "-o", "raw", "uptime"]);
    assert!(o.stdout.starts_with(b"200 OK\n"), "{}", stdout(&o));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(legacy.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_eq!(legacy.wait().unwrap().code(), Some(0));
}

#[test]
fn events_subcommand_prints_json_lines_until_sigterm() {
    let server = MockServer::builder()
        .flavor(Flavor::V4)
        .udp()
        .start()
        .unwrap();
    let conn = opensips_mi::Connection::open(&server.udp_url().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ev.sock");
    for (n, transport) in ["udp", "tcp", "unix"].into_iter().enumerate() {
        let mut child = bin()
            .args([
                "-u",
                &server.udp_url().unwrap(),
                "events",
                "E_UL_AOR_INSERT",
            ])
            .args([
                "E_UL_CONTACT_INSERT",
                "--transport",
                transport,
                "--expire",
                "60",
            ])
            .args(["--path", path.to_str().unwrap()])
            .env_remove("OPENSIPS_MI_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + support::GENEROUS;
        while server.subscriptions().len() < 2 {
            assert!(Instant::now() < deadline, "{transport}: never subscribed");
            std::thread::sleep(Duration::from_millis(20));
        }
        let subs = server.subscriptions();
        assert!(
            subs.iter()
                .all(|s| s.socket.starts_with(transport) && s.expire == 60),
            "{subs:?}"
        );
        let aor = format!("ev{n}@127.0.0.1");
        conn.command(
            "ul_add",
            [
                "location",
                &aor,
                "sip:ev@10.0.0.1",
                "60",
                "1",
                "0",
                "0",
                "15",
            ],
        )
        .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = Value::from_json(lines.next().unwrap().unwrap().as_bytes()).unwrap();
        let second = Value::from_json(lines.next().unwrap().unwrap().as_bytes()).unwrap();
        assert_eq!(
            first["name"].as_str(),
            Some("E_UL_AOR_INSERT"),
            "{transport}"
        );
        assert_eq!(first["params"]["aor"].as_str(), Some(aor.as_str()));
        assert_eq!(second["name"].as_str(), Some("E_UL_CONTACT_INSERT"));
        assert_eq!(second["params"]["qval"].as_i64(), Some(1000));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(0), "{transport}");
        assert!(
            server.subscriptions().is_empty(),
            "{transport}: still subscribed"
        );
        assert!(!path.exists());
    }

    let o = run(&server.udp_url().unwrap(), &["events", "E_NOPE"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Bad parameter value"), "{}", stderr(&o));
}

#[test]
fn events_over_unix_default_to_a_private_unpredictable_socket() {
    use std::os::unix::fs::PermissionsExt;
    let server = MockServer::builder().udp().start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "-u",
            &server.udp_url().unwrap(),
            "events",
            "E_CORE_THRESHOLD",
        ])
        .args(["--transport", "unix"])
        .env_remove("OPENSIPS_MI_URL")
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + support::GENEROUS;
    while server.subscriptions().is_empty() {
        assert!(Instant::now() < deadline, "never subscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let socket = server.subscriptions()[0].socket.clone();
    let path = std::path::PathBuf::from(socket.strip_prefix("unix:").unwrap());
    let dir = path.parent().unwrap();
    assert_eq!(dir.parent(), Some(tmp.path()));
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("opensips-mi-events-"), "{name}");
    assert!(!name.contains(&child.id().to_string()), "{name}");
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o711);
    let p = Value::Object(vec![("n".into(), Value::Int(1))].into());
    assert_eq!(server.raise_event("E_CORE_THRESHOLD", p), 1);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = Value::from_json(lines.next().unwrap().unwrap().as_bytes()).unwrap();
    assert_eq!(line["params"]["n"].as_i64(), Some(1));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

fn run_plain(args: &[&str]) -> Output {
    bin()
        .args(args)
        .env_remove("OPENSIPS_MI_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Global options after the command (like git), `--` to end them.
#[test]
fn global_options_after_the_command() {
    let server = MockServer::builder().udp().start().unwrap();
    server.handle("echo", |p| Ok(p.to_value()));
    let url = server.udp_url().unwrap();
    let o = run_plain(&["uptime", "-u", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run_plain(&["uptime", "-u", &url, "-o", "pretty"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).lines().count() > 1, "pretty: {}", stdout(&o));
    let o = run_plain(&["echo", "-u", &url, "--", "-1", "-u"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), r#"["-1","-u"]"#);
}

/// `… | head -c 10`: the run stops quietly when stdout is closed.
#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let server = MockServer::builder().fifo().start().unwrap();
    let mut child = bin()
        .args(["-u", &server.fifo_url().unwrap(), "ul_dump"])
        .env_remove("OPENSIPS_MI_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before anything is written
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

/// One jq pipeline for every generation: the 3.x/4.x shape, never a repeated key, the same
/// statistics and cache_fetch behaviour.
#[test]
fn the_same_json_from_every_generation() {
    let mut contacts = Vec::new();
    for flavor in [Flavor::V1, Flavor::V2, Flavor::V3, Flavor::V4] {
        let server = MockServer::builder().flavor(flavor).fifo().start().unwrap();
        let url = format!("{}&protocol=auto", server.fifo_url().unwrap());
        let o = run(&url, &["ul_dump"]);
        assert_eq!(o.status.code(), Some(0), "{flavor:?}: {}", stderr(&o));
        let out = stdout(&o);
        // a JSON parser that keeps the last of duplicate keys sees every AOR
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let n: usize = v["Domains"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["AORs"].as_array().unwrap())
            .map(|a| a["Contacts"].as_array().unwrap().len())
            .sum();
        contacts.push(n);
        // numbers are numbers, as 3.x sends them
        let c = &v["Domains"][0]["AORs"][0]["Contacts"][0];
        assert!(
            c["Expires"].is_i64() && c["Cseq"].is_i64(),
            "{flavor:?}: {c}"
        );
        let ps: serde_json::Value = serde_json::from_str(&stdout(&run(&url, &["ps"]))).unwrap();
        assert!(ps["Processes"][0]["PID"].is_i64(), "{flavor:?}: {ps}");
        assert!(
            ps["Processes"][0].get("value").is_none(),
            "{flavor:?}: {ps}"
        );
        // raw keeps the server's own bytes
        let raw = run(&url, &["-o", "raw", "ul_dump"]);
        if matches!(flavor, Flavor::V1 | Flavor::V2) {
            assert!(stdout(&raw).starts_with("200 OK\n"), "{}", stdout(&raw));
        }
        // get_statistics as opensips-cli users type it
        let o = run(&url, &["get_statistics", "dialog:", "core:rcv_requests"]);
        assert_eq!(o.status.code(), Some(0), "{flavor:?}: {}", stderr(&o));
        let v = Value::from_json(stdout(&o).trim().as_bytes()).unwrap();
        assert!(v["core:rcv_requests"].as_i64().is_some(), "{flavor:?}: {v}");
        assert!(
            v["dialog:active_dialogs"].as_i64().is_some(),
            "{flavor:?}: {v}"
        );
        assert!(v.get("core:fwd_requests").is_none(), "{flavor:?}: {v}");
        // cache_fetch: found prints key and value, missing exits 1 everywhere
        assert_eq!(
            run(&url, &["cache_store", "local", "k", "v"]).status.code(),
            Some(0)
        );
        let o = run(&url, &["cache_fetch", "local", "k"]);
        assert_eq!(
            stdout(&o).trim(),
            r#"{"key":"k","value":"v"}"#,
            "{flavor:?}"
        );
        let o = run(&url, &["cache_fetch", "local", "nope"]);
        assert_eq!(o.status.code(), Some(1), "{flavor:?}");
        assert_eq!(stderr(&o).trim(), "opensips-mi: 400 Value not found");
    }
    assert!(contacts[0] >= 3, "{contacts:?}");
    assert!(contacts.iter().all(|n| *n == contacts[0]), "{contacts:?}");
}

#[test]
fn did_you_mean_and_aliases_in_list() {
    for flavor in [Flavor::V1, Flavor::V2, Flavor::V3, Flavor::V4] {
        let server = MockServer::builder().flavor(flavor).fifo().start().unwrap();
        let url = format!("{}&protocol=auto", server.fifo_url().unwrap());
        let o = run(&url, &["uptme"]);
        assert_eq!(o.status.code(), Some(1), "{flavor:?}");
        // 4.0: the canonical `core:uptime`
        assert!(
            stderr(&o).contains("uptime`?)"),
            "{flavor:?}: {}",
            stderr(&o)
        );
    }
    let server = MockServer::builder()
        .flavor(Flavor::V4)
        .fifo()
        .start()
        .unwrap();
    let o = run(&server.fifo_url().unwrap(), &["list"]);
    assert!(
        stdout(&o).lines().any(|l| l == "usrloc:dump\tul_dump"),
        "{}",
        stdout(&o)
    );
}

/// Several `-u` (or `--fleet FILE`): one JSON line per node, exit 0 / 1 / 3.
#[test]
fn fleets_of_mixed_generations() {
    let (_servers, urls) = support::mixed_generations();
    let fleet_args = |extra: &[&str]| {
        let mut a: Vec<String> = Vec::new();
        for u in &urls {
            a.push("-u".into());
            a.push(u.clone());
        }
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let args = fleet_args(&["ul_dump"]);
    let o = run_plain(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| Value::from_json(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (line, url) in lines.iter().zip(&urls) {
        assert_eq!(line["node"].as_str(), Some(url.as_str()));
        assert!(line["result"]["Domains"].as_array().is_some(), "{line}");
    }
    // a node answering with an error: exit 1, its error in its line
    let args = fleet_args(&["ul_show_contact", "location", "nobody@nowhere"]);
    let o = run_plain(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let first = Value::from_json(stdout(&o).lines().next().unwrap().as_bytes()).unwrap();
    assert!(
        first.get("result").is_some() || first["error"]["kind"].as_str() == Some("command"),
        "{first}"
    );
    // a dead node: exit 3, the others still answer
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet");
    std::fs::write(
        &file,
        format!(
            "# the fleet\n{}\n{}\nfifo://{}/missing_fifo\n",
            urls[1],
            urls[2],
            dir.path().display()
        ),
    )
    .unwrap();
    let o = run_plain(&["--fleet", file.to_str().unwrap(), "uptime"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| Value::from_json(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0]["result"]["Up time"].as_str().is_some());
    assert!(lines[1]["result"]["Up time"].as_str().is_some());
    assert_eq!(
        lines[2]["error"]["kind"].as_str(),
        Some("not_found"),
        "{}",
        lines[2]
    );
    // pretty groups by node
    let o = run_plain(&["--fleet", file.to_str().unwrap(), "-o", "pretty", "uptime"]);
    assert_eq!(
        stdout(&o).lines().filter(|l| l.starts_with("== ")).count(),
        3
    );
    // built-ins take one URL
    let o = run_plain(&["-u", &urls[1], "-u", &urls[2], "list"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn prometheus_output_for_cron() {
    let a = MockServer::builder().fifo().start().unwrap();
    let b = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .start()
        .unwrap();
    let o = run(
        &a.fifo_url().unwrap(),
        &[
            "--output",
            "prometheus",
            "get_statistics",
            "core:",
            "shmem:",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("# TYPE opensips_core_rcv_requests counter\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE opensips_shmem_used_size gauge\n"),
        "{text}"
    );
    // a fleet: node labels, one family each
    let o = run_plain(&[
        "-u",
        &a.fifo_url().unwrap(),
        "-u",
        &format!("{}&protocol=auto", b.fifo_url().unwrap()),
        "-o",
        "prometheus",
        "get_statistics",
        "core:rcv_requests",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("opensips_core_rcv_requests{"))
            .count(),
        2,
        "{text}"
    );
    assert!(text.contains(&format!(
        "opensips_core_rcv_requests{{node=\"{}\"}}",
        a.fifo_url().unwrap()
    )));
    // a dead node (issue 24): the live nodes' metrics, `opensips_up{node} 0` for it, exit 0
    // so that the README's `> tmp && mv tmp file` refreshes the file; a password in a URL
    // is never printed
    let dead = "http://ops:s3cret@127.0.0.1:9/mi?timeout=300ms";
    let o = run_plain(&[
        "-u",
        &a.fifo_url().unwrap(),
        "-u",
        dead,
        "-o",
        "prometheus",
        "get_statistics",
        "all",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        !text.contains("s3cret") && !stderr(&o).contains("s3cret"),
        "{text}"
    );
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert!(
        text.contains(&format!(
            "opensips_up{{node=\"{}\"}} 1\n\
             opensips_up{{node=\"http://ops:***@127.0.0.1:9/mi?timeout=300ms\"}} 0\n",
            a.fifo_url().unwrap()
        )),
        "{text}"
    );
    assert!(text.contains("opensips_core_rcv_requests{node="), "{text}");
    assert!(text.contains("# HELP opensips_up "), "{text}");
    // one server, down: `opensips_up 0` and exit 0 too
    let o = run(
        "udp://127.0.0.1:9?timeout=300ms",
        &["-o", "prometheus", "get_statistics"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("\nopensips_up 0\n"), "{}", stdout(&o));
    // other commands have no Prometheus form
    let o = run(&a.fifo_url().unwrap(), &["-o", "prometheus", "uptime"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn diagnose_reports_each_node() {
    let v2 = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .start()
        .unwrap();
    let v4 = MockServer::builder()
        .flavor(Flavor::V4)
        .udp()
        .http()
        .start()
        .unwrap();
    let dead = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        format!("udp://{}", s.local_addr().unwrap())
    };
    let v1 = MockServer::builder()
        .flavor(Flavor::V1)
        .fifo()
        .start()
        .unwrap();
    // no ?protocol= anywhere: diagnose finds each generation itself, and quickly
    let started = std::time::Instant::now();
    let o = run_plain(&[
        "-u",
        &v2.fifo_url().unwrap(),
        "-u",
        &v4.udp_url().unwrap(),
        "-u",
        &v4.http_url().unwrap(),
        "-u",
        &dead,
        "-u",
        &v1.fifo_url().unwrap(),
        "diagnose",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    let reports: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| Value::from_json(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(reports.len(), 5);
    assert!(
        reports[0]["generation"]
            .as_str()
            .unwrap()
            .starts_with("2.x"),
        "{}",
        reports[0]
    );
    assert!(reports[0]["version"].as_str().unwrap().contains("2.4"));
    assert!(
        reports[4]["generation"]
            .as_str()
            .unwrap()
            .starts_with("1.x"),
        "{}",
        reports[4]
    );
    assert!(reports[4]["version"].as_str().unwrap().contains("1.11"));
    assert_eq!(reports[1]["generation"].as_str(), Some("4.x (JSON-RPC)"));
    assert!(reports[1]["version"].as_str().unwrap().contains("4.0"));
    for r in &reports[..3] {
        assert_eq!(r["reachable"], Value::Bool(true), "{r}");
        assert!(r["uptime_seconds"].as_i64().is_some(), "{r}");
        assert!(r["processes"].as_i64().unwrap() > 0, "{r}");
        assert!(r["memory"]["shmem:total_size"].as_i64().unwrap() > 0, "{r}");
        assert!(r["registrations"].as_i64().is_some(), "{r}");
    }
    let warnings = |r: &Value| -> Vec<String> {
        r["warnings"]
            .as_array()
            .unwrap_or_default()
            .iter()
            .map(|w| w.as_str().unwrap().to_owned())
            .collect()
    };
    // no noise: a handful of registrations fit in a datagram, and the other HTTP module
    // answering on the same httpd is no problem
    assert!(warnings(&reports[1]).is_empty(), "{}", reports[1]);
    assert!(warnings(&reports[2]).is_empty(), "{}", reports[2]);
    assert_eq!(reports[3]["reachable"], Value::Bool(false));
    assert_eq!(reports[3]["error"]["kind"].as_str(), Some("not_running"));
    // a --protocol that does not fit: still found, and said
    let o = run_plain(&[
        "-u",
        &v1.fifo_url().unwrap(),
        "--protocol",
        "jsonrpc",
        "diagnose",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = Value::from_json(stdout(&o).trim().as_bytes()).unwrap();
    assert!(r["generation"].as_str().unwrap().starts_with("1.x"), "{r}");
    assert!(
        warnings(&r).iter().any(|w| w.contains("?protocol=legacy")),
        "{r}"
    );
    // 2.4's mi_xmlrpc_ng is 2.x, not 3.x/4.x
    let xml = MockServer::builder()
        .flavor(Flavor::V2)
        .http()
        .start()
        .unwrap();
    let o = run_plain(&["-u", &xml.xmlrpc_url().unwrap(), "diagnose"]);
    let r = Value::from_json(stdout(&o).trim().as_bytes()).unwrap();
    assert_eq!(
        r["generation"].as_str(),
        Some("2.x (legacy text MI)"),
        "{r}"
    );
    assert!(r["version"].as_str().unwrap().contains("2.4.11"), "{r}");
}

/// Completion of MI command names from the server, with 4.0 aliases, cached per URL.
#[test]
fn completion_from_the_server() {
    let server = MockServer::builder()
        .flavor(Flavor::V4)
        .fifo()
        .start()
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let complete = |url: &str| {
        bin()
            .args(["-u", url, "complete-commands"])
            .env("XDG_CACHE_HOME", cache.path())
            .env_remove("OPENSIPS_MI_URL")
            .output()
            .unwrap()
    };
    let url = server.fifo_url().unwrap();
    let o = complete(&url);
    let names: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert!(names.iter().any(|n| n == "usrloc:dump"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "ul_dump"),
        "4.0 aliases too: {names:?}"
    );
    assert_eq!(
        std::fs::read_dir(cache.path().join("opensips-mi"))
            .unwrap()
            .count(),
        1
    );
    // cached: answers with the server gone
    drop(server);
    let again = complete(&url);
    assert_eq!(stdout(&again), stdout(&o));
    // a server that does not answer: nothing, quickly, exit 0
    let o = complete("udp://127.0.0.1:9");
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    // the scripts call it
    for shell in ["bash", "zsh", "fish"] {
        let o = bin().args(["completions", shell]).output().unwrap();
        assert!(stdout(&o).contains("complete-commands"), "{shell}");
    }
    // bash, for real: `opensips-mi -u URL ul_d<TAB>`
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let script = format!(
        "source <(opensips-mi completions bash); COMP_WORDS=(opensips-mi -u '{url}' ul_d); \
         COMP_CWORD=3; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
         _opensips_mi_dynamic opensips-mi ul_d opensips-mi; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let o = Command::new("bash")
        .args(["-c", &script])
        .env("XDG_CACHE_HOME", cache.path())
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    assert!(
        stdout(&o).lines().any(|l| l == "ul_dump"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// The generation detected for a URL is cached (0700 directory, 0600 file, no password in
/// its name), used on the next run without a probe, and detected again when it turns out
/// wrong.
#[test]
fn the_detected_generation_is_cached_per_url() {
    use std::os::unix::fs::PermissionsExt;
    let cache = tempfile::tempdir().unwrap();
    let with_cache = |url: &str, args: &[&str]| {
        Command::new(BIN)
            .args(["-u", url])
            .args(args)
            .env("XDG_CACHE_HOME", cache.path())
            .env_remove("OPENSIPS_MI_URL")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let v2 = MockServer::builder()
        .flavor(Flavor::V2)
        .udp()
        .start()
        .unwrap();
    let url = v2.udp_url().unwrap();
    let o = with_cache(&url, &["uptime"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let methods =
        |s: &MockServer| -> Vec<String> { s.requests().iter().map(|r| r.method.clone()).collect() };
    assert!(methods(&v2).contains(&"version".to_owned()), "probed first");
    let dir = cache.path().join("opensips-mi");
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), "legacy\n");
    // next run: no probe
    v2.clear_requests();
    let o = with_cache(&url, &["uptime"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(methods(&v2), ["uptime"]);
    // the same address now served by a 3.x: the cached entry is found wrong, re-detected
    let port = v2.udp_addr().unwrap();
    drop(v2);
    let v3 = MockServer::builder().udp_at(port).start().unwrap();
    let o = with_cache(&url, &["uptime"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), "jsonrpc\n");
    drop(v3);
    // an explicit protocol is not cached; a password never names a file
    let http = MockServer::builder().http().start().unwrap();
    let addr = http.http_addr().unwrap();
    for pass in ["secret1", "secret2"] {
        let u = format!("xmlrpc://user:{pass}@{addr}/RPC2");
        assert_eq!(with_cache(&u, &["uptime"]).status.code(), Some(0));
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "one entry for both passwords: {names:?}");
    assert!(
        names
            .iter()
            .all(|n| !n.contains("secret") && !n.ends_with(".tmp"))
    );
}

#[test]
fn help_texts_say_each_thing_once() {
    let o = bin().arg("--help").output().unwrap();
    let help = stdout(&o);
    assert_eq!(help.matches("MI endpoint URL").count(), 1, "{help}");
    // the mock serves: no client options in its help
    let o = bin().args(["mock", "--help"]).output().unwrap();
    let help = stdout(&o);
    assert!(help.contains("--fifo"), "{help}");
    for client in ["--url", "--fleet", "--protocol", "--timeout"] {
        assert!(!help.contains(client), "{client}: {help}");
    }
    // the flavours, 1.11 included
    assert!(help.contains("--flavor"), "{help}");
}

/// `MI_COMMAND --help` is the tool's help (nothing sent, even with no server); `help WORD`
/// asks OpenSIPS' own `help` unless WORD is one of the tool's subcommands.
#[test]
fn help_after_a_command_and_opensips_own_help() {
    let server = MockServer::builder().udp().start().unwrap();
    server.handle("echo", |p| Ok(p.to_value()));
    let url = server.udp_url().unwrap();
    for flag in ["--help", "-h"] {
        let o = run(&url, &["ul_show_contact", "location", flag]);
        assert_eq!(o.status.code(), Some(0), "{flag}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("Usage: opensips-mi [OPTIONS] ul_show_contact [ARG]..."),
            "{out}"
        );
        assert!(out.contains("opensips-mi help ul_show_contact"), "{out}");
        assert!(out.contains("name=value"), "the argument forms: {out}");
    }
    // options after the command, and no server at all: still help, at once
    let started = Instant::now();
    let o = run_plain(&["uptime", "--help", "-u", "udp://127.0.0.1:9"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("uptime [ARG]..."), "{}", stdout(&o));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(server.requests().is_empty(), "nothing was sent");
    // `--` still sends anything
    let o = run(&url, &["echo", "--", "--help", "-h"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), r#"["--help","-h"]"#);

    // help MI_COMMAND: the server's help, options before or after
    for args in [
        &["help", "ul_show_contact"][..],
        &["help", "ul_show_contact", "-o", "json"][..],
    ] {
        server.clear_requests();
        let o = run(&url, args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let v = Value::from_json(stdout(&o).trim().as_bytes()).unwrap();
        assert_eq!(v["Exported by"].as_str(), Some("usrloc"), "{v}");
        let sent = server.requests();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].method, "help");
        assert_eq!(
            sent[0].params,
            Params::Positional(vec![Value::from("ul_show_contact")])
        );
    }
    // an MI command the server does not have: its error, and where to look
    let o = run(&url, &["help", "ul_show_contac"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("404 MI command not found"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("did you mean `ul_show_contact`?"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("opensips-mi list"), "{}", stderr(&o));
    // the tool's own help for its subcommands and itself, nothing sent
    server.clear_requests();
    let o = run(&url, &["help", "mwi-update"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Usage: opensips-mi mwi-update"),
        "{}",
        stdout(&o)
    );
    let o = run_plain(&["help"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("help MI_COMMAND"), "{}", stdout(&o));
    assert!(server.requests().is_empty());
    // the servers' facts, where a CLI user looks
    let o = run_plain(&["events", "--help"]);
    assert!(stdout(&o).contains("never delivers"), "{}", stdout(&o));
    assert!(stdout(&o).contains("as a string"), "{}", stdout(&o));
    assert!(stdout(&o).contains("unpredictable name"), "{}", stdout(&o));
    for helper in ["mwi-update", "event-notify"] {
        let o = run_plain(&[helper, "--help"]);
        assert!(stdout(&o).contains("OVER HTTP"), "{helper}: {}", stdout(&o));
    }
    let o = run_plain(&["--help"]);
    assert!(stdout(&o).contains("TIMEOUTS"), "{}", stdout(&o));
}

/// `--fleet FILE -u URL` asks both; OPENSIPS_MI_URL alone does not join a fleet.
#[test]
fn a_fleet_file_and_urls_together() {
    let a = MockServer::builder().udp().start().unwrap();
    let b = MockServer::builder()
        .flavor(Flavor::V4)
        .udp()
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.txt");
    std::fs::write(&file, format!("# nodes\n{}\n", a.udp_url().unwrap())).unwrap();
    let nodes = |o: &Output| -> Vec<String> {
        stdout(o)
            .lines()
            .map(|l| {
                let v = Value::from_json(l.as_bytes()).unwrap();
                assert!(v["result"]["Up time"].as_str().is_some(), "{v}");
                v["node"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let fleet = file.to_str().unwrap();
    let o = run(&b.udp_url().unwrap(), &["--fleet", fleet, "uptime"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(nodes(&o), [a.udp_url().unwrap(), b.udp_url().unwrap()]);
    let o = run_plain(&["uptime", "--fleet", fleet, "-u", &b.udp_url().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(nodes(&o), [a.udp_url().unwrap(), b.udp_url().unwrap()]);
    let o = bin()
        .args(["--fleet", fleet, "uptime"])
        .env("OPENSIPS_MI_URL", b.udp_url().unwrap())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        nodes(&o),
        [a.udp_url().unwrap()],
        "the environment's URL is a default"
    );
    // diagnose too, -u before or after it
    let o = run_plain(&["--fleet", fleet, "diagnose", "-u", &b.udp_url().unwrap()]);
    let reports: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            Value::from_json(l.as_bytes()).unwrap()["node"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        reports,
        [a.udp_url().unwrap(), b.udp_url().unwrap()],
        "{}",
        stderr(&o)
    );
}

/// URL mistakes a shell user makes.
#[test]
fn a_second_question_mark_in_a_url() {
    let o = run_plain(&["-u", "fifo:///x?protocol=auto?timeout=1", "uptime"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("joined with '&'"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("?protocol=auto&timeout=1"),
        "{}",
        stderr(&o)
    );
}

/// One rule: `-t` is the timeout of every call and replaces a URL's `?timeout=`;
/// without `-t` the URL's counts.
#[test]
fn the_timeout_flag_replaces_the_urls_timeout_everywhere() {
    let server = MockServer::builder().fifo().udp().start().unwrap();
    let delay = Duration::from_millis(700);
    for method in ["uptime", "get_statistics", "which", "version"] {
        server.inject_for(method, Fault::Delay(delay));
    }
    let short = format!("{}?timeout=150ms", server.udp_url().unwrap());
    let short_fifo = opensips_mi::url_with_param(&server.fifo_url().unwrap(), "timeout", "150ms");
    // the URL's timeout alone: too short for the delay
    for args in [
        &["uptime"][..],
        &["get_statistics", "core:"][..],
        &["list"][..],
    ] {
        let o = run(&short, args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("timed out"), "{args:?}: {}", stderr(&o));
    }
    // -t replaces it: a plain MI command, a typed helper, list, diagnose, a fleet
    for url in [&short, &short_fifo] {
        for args in [
            &["-t", "20", "uptime"][..],
            &["uptime", "-t", "20"][..],
            &["-t", "20", "get_statistics", "core:"][..],
            &["-t", "20", "list"][..],
        ] {
            let o = run(url, args);
            assert_eq!(o.status.code(), Some(0), "{url} {args:?}: {}", stderr(&o));
        }
    }
    let o = run(&short, &["-t", "20", "diagnose"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = run_plain(&[
        "-u",
        &short,
        "-u",
        &short_fifo,
        "-t",
        "20",
        "get_statistics",
        "core:",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o).lines().count(), 2);
    // a bad -t is a usage error, whatever the subcommand (it used to panic in the SIP ones)
    for args in [
        &["-t", "NaN", "mwi-update", "sip:1@x", "-", "1"][..],
        &["--timeout=-1", "event-notify", "sip:1@x", "snom_reboot"][..],
        &["-t", "inf", "uptime"][..],
        &["-t", "0", "list"][..],
    ] {
        let o = run(&short, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("bad timeout"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert!(server.uac_requests().is_empty());
    // and the other way: a long URL timeout cut short by -t
    server.inject_for("ps", Fault::NoReply);
    let long = format!("{}?timeout=60", server.udp_url().unwrap());
    let started = Instant::now();
    let o = run(&long, &["-t", "0.5", "ps"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// A count where the MWI account goes, a misspelt preset: usage errors, nothing sent.
#[test]
fn nothing_wrong_reaches_a_phone() {
    let server = MockServer::builder().udp().start().unwrap();
    let url = server.udp_url().unwrap();
    for account in ["3", "1001@vm.example.com", "tel:+15551234", ""] {
        let o = run(&url, &["mwi-update", "sip:1001@10.0.0.21", account, "1"]);
        assert_eq!(o.status.code(), Some(2), "{account:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("must be a SIP or SIPS URI"),
            "{}",
            stderr(&o)
        );
    }
    let o = run(&url, &["event-notify", "sip:1001@10.0.0.21", "snom_rebot"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("did you mean `snom_reboot`?"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--event"), "{}", stderr(&o));
    assert!(server.uac_requests().is_empty(), "nothing was sent");
    assert!(server.requests().is_empty(), "nothing was sent");
    // the right forms go out
    let o = run(
        &url,
        &["mwi-update", "sip:1001@10.0.0.21", "sips:vm@pbx", "1"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&url, &["mwi-update", "sip:1001@10.0.0.21", "-", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let sent = server.uac_requests();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[0].headers.starts_with("From: <sips:vm@pbx>;tag="),
        "{}",
        sent[0].headers
    );
}

/// `mock --empty`: no registrations, no calls.
#[test]
fn the_mock_subcommand_can_start_empty() {
    let mut child = bin()
        .args(["mock", "--empty", "--udp", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _ = lines.next();
    let url = lines.next().unwrap().unwrap();
    let o = run(&url, &["ul_dump"]);
    let v = Value::from_json(stdout(&o).trim().as_bytes()).unwrap();
    let dialogs = run(&url, &["dlg_list"]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let aors: usize = v["Domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["AORs"].as_array().map_or(0, |a| a.len()))
        .sum();
    assert_eq!(aors, 0, "{v}");
    let d = Value::from_json(stdout(&dialogs).trim().as_bytes()).unwrap();
    assert_eq!(d["Dialogs"].as_array().map(|a| a.len()), Some(0), "{d}");
}

#[test]
fn no_password_in_any_node_name() {
    let url = "http://ops:s3cret@127.0.0.1:9/mi";
    for args in [
        &["-t", "0.3", "diagnose"][..],
        &["-t", "0.3", "-u", "udp://127.0.0.1:9", "uptime"],
        &[
            "-t",
            "0.3",
            "-u",
            "udp://127.0.0.1:9",
            "-o",
            "prometheus",
            "get_statistics",
        ],
    ] {
        let o = run(url, args);
        let (out, err) = (stdout(&o), stderr(&o));
        assert!(
            out.contains("http://ops:***@127.0.0.1:9/mi"),
            "{args:?}: {out}"
        );
        assert!(
            !out.contains("s3cret") && !err.contains("s3cret"),
            "{args:?}: {out}{err}"
        );
    }
}

/// A stopped service whose runtime directory went with it: "cannot talk to OpenSIPS"
/// (exit 3), whether the FIFO or only the reply directory is gone.
#[test]
fn a_stopped_service_without_its_runtime_directory_is_unreachable() {
    let gone = tempfile::tempdir().unwrap().path().join("run-opensips");
    let url = format!(
        "fifo://{}/opensips_fifo?reply_dir={}/",
        gone.display(),
        gone.display()
    );
    let o = run(&url, &["-t", "2", "uptime"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // the server FIFO is there and read, its reply directory is not
    let server = MockServer::builder().fifo().start().unwrap();
    let url = format!(
        "fifo://{}?reply_dir={}/",
        server.fifo_path().unwrap().display(),
        gone.display()
    );
    let o = run(&url, &["-t", "2", "uptime"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("reply_dir"), "{}", stderr(&o));
}

/// A plain `http://` URL for which the environment names a proxy goes through ureq and that
/// proxy (a CONNECT tunnel), as before the built-in client; with the host in `NO_PROXY` it
/// goes straight to the server. (In a child process: the test binary's own environment is
/// left alone.)
#[test]
fn an_http_proxy_from_the_environment_is_still_used() {
    let server = MockServer::builder().http().start().unwrap();
    let url = server.http_url().unwrap();
    let target = server.http_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let proxy = support::raw_http_server(move |req, mut s| {
        let _ = tx.send(req);
        let _ = std::io::Write::write_all(
            &mut s,
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
        );
    });
    let with_env = |proxy: &str, no_proxy: Option<&str>| {
        let mut c = bin();
        for v in [
            "ALL_PROXY",
            "all_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "NO_PROXY",
            "no_proxy",
            "OPENSIPS_MI_URL",
        ] {
            c.env_remove(v);
        }
        c.env("HTTP_PROXY", proxy);
        if let Some(n) = no_proxy {
            c.env("NO_PROXY", n);
        }
        c.arg("-u")
            .arg(&url)
            .arg("uptime")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = with_env(&format!("http://{proxy}"), None);
    assert!(!o.status.success(), "{}", stdout(&o));
    let req = String::from_utf8(rx.recv_timeout(support::GENEROUS).unwrap()).unwrap();
    assert!(
        req.starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")),
        "{req}"
    );
    assert!(
        server.requests().is_empty(),
        "the proxy answered, not the server"
    );
    // the host in NO_PROXY: straight to the server (the proxy here would refuse)
    let o = with_env("http://127.0.0.1:9", Some("127.0.0.1"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(server.requests().len(), 1);
}
