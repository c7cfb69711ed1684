//! Prints statistics as `name value` lines (handy for monitoring scripts).
//!
//! ```text
//! OPENSIPS_MI_URL=udp://127.0.0.1:8809 cargo run --example statistics -- dialog: core:rcv_requests shmem:used_size
//! ```
//!
//! Selectors: `all`, a group (`dialog:`), a full name (`core:rcv_requests`) or a bare name.

use std::process::ExitCode;

use opensips_mi::{Connection, MiCommands};

fn main() -> ExitCode {
    let mut selectors: Vec<String> = std::env::args().skip(1).collect();
    if selectors.is_empty() {
        selectors.push("all".into());
    }
    let url =
        std::env::var("OPENSIPS_MI_URL").unwrap_or_else(|_| "fifo:///tmp/opensips_fifo".into());
    match Connection::open(&url).and_then(|conn| conn.get_statistics(&selectors)) {
        Ok(stats) => {
            for (name, value) in stats.iter() {
                println!("{name} {value}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("statistics: {e}");
            ExitCode::from(3)
        }
    }
}
