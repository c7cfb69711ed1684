//! 10,000 sequential commands on one FIFO connection, some timing out: the connection keeps
//! at most a few reply FIFOs for reuse, none is left once it is dropped, and no reply ever
//! answers the wrong command.
#![cfg(feature = "mock")]

mod support;

use std::time::Duration;

use opensips_mi::mock::{Fault, MockServer};
use opensips_mi::{Connection, Options, Value, cmd};

#[test]
fn ten_thousand_fifo_commands_leave_nothing_behind() {
    let server = MockServer::builder().fifo().start().unwrap();
    server.handle("echo", |p| Ok(p.get(0, "v").cloned().unwrap_or_default()));
    server.handle("slow_echo", |p| {
        Ok(p.get(0, "v").cloned().unwrap_or_default())
    });
    server.inject_for("slow_echo", Fault::Delay(Duration::from_millis(40)));
    let conn = Connection::open_with(
        &server.fifo_url().unwrap(),
        Options::builder().timeout(support::GENEROUS),
    )
    .unwrap();
    let mut timeouts = 0;
    for i in 0..10_000i64 {
        if i % 250 == 0 {
            let slow = cmd("slow_echo").arg(-i).timeout(Duration::from_millis(10));
            assert!(slow.query(&conn).unwrap_err().is_timeout());
            timeouts += 1;
        } else {
            assert_eq!(cmd("echo").arg(i).query(&conn).unwrap(), Value::Int(i));
        }
    }
    assert_eq!(timeouts, 40);
    // give the late replies time to try (and fail) to reach their removed FIFOs
    std::thread::sleep(Duration::from_millis(100));
    // sequential calls reuse one reply FIFO; those of timed-out calls were removed
    let kept = support::leftovers(server.reply_dir(), "osips_mi_");
    assert_eq!(kept.len(), 1, "kept for reuse: {kept:?}");
    drop(conn);
    let left = support::leftovers(server.reply_dir(), "osips_mi_");
    assert!(left.is_empty(), "left behind: {left:?}");
}
