//! Requests and replies go through the `log` facade: each call at debug level, the bytes at
//! trace level, never credentials.
#![cfg(feature = "mock")]

use std::sync::Mutex;

use opensips_mi::Connection;
use opensips_mi::mock::MockServer;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("opensips_mi") {
            LINES
                .lock()
                .unwrap()
                .push(format!("{} {}", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}

#[test]
fn calls_are_logged_without_credentials() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let server = MockServer::builder().udp().http().start().unwrap();
    let conn = Connection::open(&server.udp_url().unwrap()).unwrap();
    conn.command("uptime", ()).unwrap();
    let secret = server
        .http_url()
        .unwrap()
        .replacen("http://", "http://miuser:s3cret-pw@", 1);
    let conn = Connection::open(&secret).unwrap();
    conn.command("which", ()).unwrap();
    let _ = conn.command("no_such_command", ());

    let lines = LINES.lock().unwrap().clone();
    let udp = server.udp_url().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("DEBUG") && l.contains(&udp) && l.contains("uptime: 200")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("TRACE") && l.contains(r#""method":"uptime""#)),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("TRACE") && l.contains("reply: {"))
    );
    assert!(
        lines.iter().any(|l| l.starts_with("DEBUG")
            && l.contains("no_such_command:")
            && l.contains("-32601")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("s3cret")), "{lines:#?}");
}
