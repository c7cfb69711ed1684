//! No credential in any output, and nothing left behind by an interrupted command.
//! Every leak point of a password in an HTTP URL: errors, `Debug`, fleet results, the
//! command line's JSON, pretty, Prometheus and diagnose output, and the completion cache.
#![cfg(feature = "cli")]

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use opensips_mi::mock::{Fault, Flavor, MockServer};
use opensips_mi::{Connection, Fleet, MiCommands, Options, Pool};

const BIN: &str = env!("CARGO_BIN_EXE_opensips-mi");
const PASSWORD: &str = "hunter2xyz";
/// `admin:hunter2xyz` in base64, as an `Authorization: Basic` header would carry it.
const PASSWORD_B64: &str = "YWRtaW46aHVudGVyMnh5eg==";

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD) && !text.contains(PASSWORD_B64),
        "{what} shows the credentials: {text}"
    );
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("OPENSIPS_MI_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A 4.0 mock that asks for Basic credentials, and its URL with them.
fn authed() -> (MockServer, String) {
    let server = MockServer::builder()
        .flavor(Flavor::V4)
        .http_auth("admin", PASSWORD)
        .start()
        .unwrap();
    let url =
        server
            .http_url()
            .unwrap()
            .replacen("http://", &format!("http://admin:{PASSWORD}@"), 1);
    (server, url)
}

#[test]
fn library_errors_and_debug_show_no_password() {
    let (_server, url) = authed();
    // the credentials work
    let conn = Connection::open(&url).unwrap();
    conn.uptime().unwrap();
    assert_clean("Connection Debug", &format!("{conn:?}"));
    // URL errors
    for bad in [
        format!("{url}?nonsense=1"),
        format!("http://admin:{PASSWORD}@/mi"),
        format!("xmlrpc://admin:{PASSWORD}@127.0.0.1:1/mi"),
        format!("http://admin:{PASSWORD}@127.0.0.1:1/RPC2"),
        format!("bogus://admin:{PASSWORD}@127.0.0.1:1/"),
        format!("admin:{PASSWORD}@127.0.0.1:1"),
        // unescaped delimiters in the password: refused, and never shown in pieces
        format!("http://admin:{PASSWORD}/x@127.0.0.1:1/mi"),
        format!("http://admin:{PASSWORD}?x@127.0.0.1:1/mi"),
        format!("http://admin:{PASSWORD}#x@127.0.0.1:1/mi"),
        format!("xmlrpc://admin:{PASSWORD}/x@127.0.0.1:1/RPC2"),
    ] {
        let e = Connection::open(&bad).unwrap_err();
        assert_clean("a URL error", &format!("{e} {e:?}"));
    }
    // a server that is not there
    let e = Connection::open(&format!("http://admin:{PASSWORD}@127.0.0.1:9/mi?timeout=2"))
        .and_then(|c| c.uptime())
        .unwrap_err();
    assert_clean("an unreachable server's error", &format!("{e} {e:?}"));
    // options, pools, fleets
    let options = Options::builder().basic_auth("admin", PASSWORD);
    assert_clean("Options Debug", &format!("{options:?}"));
    assert!(format!("{options:?}").contains("Authorization"));
    let pool = Pool::open(&url, 2).unwrap();
    assert_clean("Pool Debug", &format!("{pool:?}"));
    let fleet = Fleet::open([url.clone()]);
    assert_clean("Fleet Debug", &format!("{fleet:?}"));
    let answers = fleet.run(|c| c.uptime());
    assert!(answers[0].result.is_ok());
    assert_clean("a fleet node name", &answers[0].node);
    assert!(
        answers[0].node.contains("admin:***@"),
        "{}",
        answers[0].node
    );
    assert_clean("Fleet::names", &fleet.names().join(" "));
    // a password holding '@' works and is never shown
    let at = Connection::open(&format!(
        "http://admin:{PASSWORD}@x@127.0.0.1:9/mi?timeout=2"
    ))
    .and_then(|c| c.uptime())
    .unwrap_err();
    assert_clean("a password with '@'", &format!("{at} {at:?}"));
    assert!(!format!("{at}").contains("@x@"), "{at}");
    // fleet files: a '#' inside a URL is not a comment, and `URL NAME` is refused
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet");
    std::fs::write(
        &file,
        format!("edge1 http://admin:{PASSWORD}#x@127.0.0.1:9/mi # one\n"),
    )
    .unwrap();
    let fleet = Fleet::from_file(&file).unwrap();
    assert_eq!(fleet.names(), ["edge1"]);
    std::fs::write(&file, format!("{url} edge1\n")).unwrap();
    let e = Fleet::from_file(&file).unwrap_err();
    assert_clean("a fleet file error", &e.to_string());
}

#[test]
fn command_line_output_shows_no_password() {
    let (_server, url) = authed();
    let dead = format!("http://admin:{PASSWORD}@127.0.0.1:9/mi");
    for args in [
        vec!["-u", &url, "uptime"],
        vec!["-u", &url, "-o", "pretty", "uptime"],
        vec!["-u", &url, "-u", &dead, "-t", "2", "uptime"],
        vec!["-u", &url, "-u", &dead, "-t", "2", "-o", "pretty", "uptime"],
        vec![
            "-u",
            &url,
            "-u",
            &dead,
            "-t",
            "2",
            "-o",
            "prometheus",
            "get_statistics",
            "core:",
        ],
        vec!["-u", &url, "-u", &dead, "-t", "2", "diagnose"],
        vec!["-u", &url, "-t", "2", "-o", "pretty", "diagnose"],
        vec!["-u", &format!("{url}?bogus=1"), "uptime"],
    ] {
        let o = run(&args);
        let all = text(&o);
        assert_clean(&format!("{args:?}"), &all);
        // and says why a password on the command line is a bad idea
        assert!(
            all.contains("visible to every local user"),
            "{args:?}: {all}"
        );
    }
    // from the environment: no warning, still no password
    let o = Command::new(BIN)
        .arg("uptime")
        .env("OPENSIPS_MI_URL", &url)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("visible to every local user"));
    assert_clean("uptime with $OPENSIPS_MI_URL", &text(&o));
}

#[test]
fn the_completion_cache_is_private_and_not_named_after_the_password() {
    use std::os::unix::fs::PermissionsExt;
    let (_server, url) = authed();
    let cache = tempfile::tempdir().unwrap();
    let complete = |url: &str| {
        Command::new(BIN)
            .args(["-u", url, "complete-commands"])
            .env("XDG_CACHE_HOME", cache.path())
            .env_remove("OPENSIPS_MI_URL")
            .output()
            .unwrap()
    };
    let o = complete(&url);
    assert!(String::from_utf8_lossy(&o.stdout).contains("uptime"));
    let dir = cache.path().join("opensips-mi");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let names = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let first = names(&dir);
    assert!(!first.is_empty());
    for f in &first {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{f}: {mode:o}");
        assert_clean(
            "a cache file",
            &std::fs::read_to_string(dir.join(f)).unwrap(),
        );
    }
    // another password, same cache files: the name does not depend on it
    let other = url.replace(PASSWORD, "another-password");
    complete(&other);
    assert_eq!(names(&dir), first);
}

/// SIGINT or SIGTERM during a call: the reply FIFO or socket goes, the exit code says
/// which signal.
#[test]
fn an_interrupted_call_leaves_nothing_behind() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let server = MockServer::builder().fifo().unix().start().unwrap();
    server.inject_for("uptime", Fault::Delay(Duration::from_secs(30)));
    let reply_socket_dir = tempfile::tempdir().unwrap();
    let unix = format!(
        "{}?reply_socket_dir={}",
        server.unix_url().unwrap(),
        reply_socket_dir.path().display()
    );
    for (url, dir, signal, code) in [
        (
            server.fifo_url().unwrap(),
            server.reply_dir(),
            Signal::SIGINT,
            130,
        ),
        (unix.clone(), reply_socket_dir.path(), Signal::SIGTERM, 143),
    ] {
        let mut child = Command::new(BIN)
            .args(["-u", &url, "-t", "60", "uptime"])
            .env_remove("OPENSIPS_MI_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // wait until the call is under way (its reply FIFO or socket directory exists)
        let start = Instant::now();
        while support::leftovers(dir, "osips_mi_").is_empty() {
            assert!(
                start.elapsed() < support::GENEROUS,
                "{url}: no call under way"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "{url}");
        let left = support::leftovers(dir, "osips_mi_");
        assert!(left.is_empty(), "{url}: left behind {left:?}");
    }
}

/// A generation cache entry another user planted is never believed: the command speaks
/// what the server really is (no legacy request reaches a 3.x server).
#[test]
fn a_planted_generation_cache_entry_is_ignored() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to plant a file as another user");
        return;
    }
    let server = MockServer::builder().udp().start().unwrap();
    let url = server.udp_url().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(BIN)
            .args(["-u", &url, "uptime"])
            .env("XDG_CACHE_HOME", cache.path())
            .env_remove("OPENSIPS_MI_URL")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    assert_eq!(run().status.code(), Some(0));
    let dir = cache.path().join("opensips-mi");
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("protocol-")
        })
        .expect("the generation was cached");
    assert_eq!(std::fs::read_to_string(&entry).unwrap().trim(), "jsonrpc");
    // another user's directory and entry, saying "legacy"
    std::fs::write(&entry, "legacy\n").unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&entry, Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    server.clear_requests();
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let legacy: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| !r.raw.starts_with(b"{"))
        .collect();
    assert!(legacy.is_empty(), "legacy requests sent: {}", legacy.len());
}
