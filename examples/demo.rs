//! Starts the embedded mock OpenSIPS on a FIFO, UDP, a unix datagram socket and HTTP
//! (mi_http JSON-RPC and XML-RPC), then runs a few MI commands through each transport and
//! prints what came back.
//!
//! ```text
//! cargo run --example demo --features mock
//! ```

use std::time::Duration;

use opensips_mi::mock::MockServer;
use opensips_mi::{Connection, Error, Map, Options, Params, cmd};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::start()?;
    println!("mock OpenSIPS listening on:");
    for url in server.urls() {
        println!("  {url}");
    }

    for url in server.urls() {
        let conn = Connection::open_with(&url, Options::builder().timeout(Duration::from_secs(2)))?;
        println!("\n== {}", conn.endpoint());

        let up = conn.command("uptime", ())?;
        println!("uptime        -> {}", up.value());

        let stats = cmd("get_statistics").arg(["dialog:", "tm:"]).query(&conn)?;
        println!(
            "get_statistics dialog: tm: -> {} values, active_dialogs = {}",
            stats.as_object().map_or(0, Map::len),
            stats["dialog:active_dialogs"]
        );

        let alice = conn.command(
            "ul_show_contact",
            Params::named([("table_name", "location"), ("aor", "alice")]),
        )?;
        for c in alice.value()["Contacts"].as_array().unwrap_or_default() {
            println!(
                "alice         -> {} (expires in {} s)",
                c["Contact"], c["Expires"]
            );
        }

        conn.command("cache_store", ["local", "greeting", "hello from the demo"])?;
        let v = conn.command("cache_fetch", ["local", "greeting"])?;
        println!("cache_fetch   -> {}", v.value()["value"]);

        match conn.command("ul_show_contact", ["location", "nobody"]) {
            Err(Error::Command(e)) => println!("missing AOR   -> error {} {}", e.code, e.message),
            other => println!("missing AOR   -> {other:?}"),
        }
        match conn.command("no_such_command", ()) {
            Err(e) => println!("unknown cmd   -> {e}"),
            Ok(r) => println!("unknown cmd   -> {}", r.value()),
        }
    }

    let received = server.requests().len();
    println!("\nthe mock received {received} requests");
    Ok(())
}
