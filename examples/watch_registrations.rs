//! Watch registrations as they happen: subscribe to the usrloc events and print one line per
//! change, until Ctrl-C (which unsubscribes).
//!
//! ```text
//! OPENSIPS_MI_URL=udp://127.0.0.1:8809 cargo run --example watch_registrations
//! # OpenSIPS on another host: tell it where to send the events
//! EVENTS_ADVERTISE=192.0.2.10:7999 EVENTS_BIND=0.0.0.0:7999 cargo run --example watch_registrations
//! # event_stream (TCP) instead of event_datagram (UDP)
//! EVENTS_TRANSPORT=tcp cargo run --example watch_registrations
//! ```
//!
//! OpenSIPS needs `event_datagram` (UDP) or `event_stream` (TCP) loaded. Try it without an
//! OpenSIPS: `cargo run --features cli -- mock --udp 127.0.0.1:8809` in one terminal, this
//! example in another, and `opensips-mi -u udp://127.0.0.1:8809 ul_add location dave
//! sip:dave@10.0.0.9 3600 1 0 0 15` in a third.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use opensips_mi::Connection;
use opensips_mi::events::{Event, EventListener, EventTransport};

const EVENTS: [&str; 5] = [
    "E_UL_AOR_INSERT",
    "E_UL_AOR_DELETE",
    "E_UL_CONTACT_INSERT",
    "E_UL_CONTACT_UPDATE",
    "E_UL_CONTACT_DELETE",
];

fn describe(e: &Event) -> String {
    let p = &e.params;
    let aor = p["aor"].as_str().unwrap_or("?");
    let contact = p["uri"].as_str().unwrap_or_default();
    let ua = p["user_agent"].as_str().unwrap_or_default();
    match e.name.as_str() {
        "E_UL_AOR_INSERT" => format!("+ {aor} (new AOR)"),
        "E_UL_AOR_DELETE" => format!("- {aor} (AOR gone)"),
        "E_UL_CONTACT_INSERT" => format!("+ {aor} {contact} {ua}"),
        "E_UL_CONTACT_UPDATE" => format!("~ {aor} {contact} {ua}"),
        "E_UL_CONTACT_DELETE" => format!("- {aor} {contact}"),
        other => format!("? {other} {p}"),
    }
}

fn run(stop: &AtomicBool) -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("OPENSIPS_MI_URL").unwrap_or_else(|_| "fifo:///tmp/opensips_fifo".into());
    let conn = Arc::new(Connection::open(&url)?);
    let transport = match std::env::var("EVENTS_TRANSPORT").as_deref() {
        Ok("tcp") => EventTransport::Tcp,
        _ => EventTransport::Udp,
    };
    let mut builder = EventListener::builder()
        .transport(transport)
        .expire(Duration::from_secs(300));
    if let Ok(bind) = std::env::var("EVENTS_BIND") {
        let addr = bind
            .parse()
            .map_err(|_| format!("EVENTS_BIND {bind:?} is not IP:port"))?;
        builder = builder.bind(addr);
    }
    if let Ok(addr) = std::env::var("EVENTS_ADVERTISE") {
        builder = builder.advertise(&addr);
    }
    let listener = builder.subscribe(conn, &EVENTS)?;
    eprintln!(
        "watching registrations on {} (Ctrl-C to stop)",
        listener.socket()
    );
    while !stop.load(Ordering::SeqCst) {
        match listener.recv_timeout(Duration::from_millis(250)) {
            Ok(Some(event)) => println!("{}", describe(&event)),
            Ok(None) => {}
            Err(e) => eprintln!("watch_registrations: {e}"),
        }
    }
    Ok(()) // dropping the listener unsubscribes
}

fn main() -> ExitCode {
    // Ctrl-C sets a flag instead of killing the process, so the listener can unsubscribe.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    if let Err(e) = signals.thread_block() {
        eprintln!("watch_registrations: blocking signals: {e}");
        return ExitCode::from(3);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let _ = signals.wait();
        flag.store(true, Ordering::SeqCst);
    });
    match run(&stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("watch_registrations: {e}");
            ExitCode::from(3)
        }
    }
}
