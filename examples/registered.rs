//! Who is registered: every AOR and contact, with time left, from `ul_dump`.
//!
//! ```text
//! OPENSIPS_MI_URL=udp://127.0.0.1:8809 cargo run --example registered
//! ```
//!
//! Works the same against OpenSIPS 1.x/2.x (the generation is detected; or `?protocol=legacy`).

use std::process::ExitCode;

use opensips_mi::helpers::Expires;
use opensips_mi::{Connection, MiCommands};

fn main() -> ExitCode {
    let url =
        std::env::var("OPENSIPS_MI_URL").unwrap_or_else(|_| "fifo:///tmp/opensips_fifo".into());
    let result = Connection::open(&url).and_then(|conn| conn.ul_dump());
    let domains = match result {
        Ok(d) => d,
        Err(e) => {
            eprintln!("registered: {e}");
            return ExitCode::from(3);
        }
    };
    for domain in domains {
        println!("{} ({} AORs)", domain.name, domain.aors.len());
        for aor in domain.aors {
            for c in aor.contacts {
                let left = match c.expires {
                    Expires::In(s) => format!("{s} s"),
                    Expires::Permanent => "permanent".into(),
                    other => format!("{other:?}").to_lowercase(),
                };
                let ua = c.user_agent.unwrap_or_default();
                println!("  {:<24} {:<48} {:>10}  {ua}", aor.aor, c.contact, left);
            }
        }
    }
    ExitCode::SUCCESS
}
