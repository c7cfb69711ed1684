//! Sets voicemail lamps from a list of mailboxes, for cron.
//!
//! ```text
//! # mailboxes.txt: one "URI NEW OLD [ACCOUNT]" per line, '#' comments
//! sip:1001@10.0.0.21:5060  2 5  sip:*97@voicemail.example.com
//! sip:1002@10.0.0.22:5060  0 3
//!
//! OPENSIPS_MI_URL=fifo:///run/opensips/opensips_fifo cargo run --example mwi_cron -- mailboxes.txt
//! ```
//!
//! Exit code: 0 when every lamp was set, 1 when any NOTIFY failed (the failures are listed
//! on stderr), 2 for a bad list, 3 when OpenSIPS could not be reached.

use std::process::ExitCode;

use opensips_mi::Connection;
use opensips_mi::sip::{self, MessageSummary};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: mwi_cron MAILBOX_FILE   (URL in OPENSIPS_MI_URL)");
        return ExitCode::from(2);
    };
    let url =
        std::env::var("OPENSIPS_MI_URL").unwrap_or_else(|_| "fifo:///tmp/opensips_fifo".into());
    let list = match std::fs::read_to_string(&path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mwi_cron: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let conn = match Connection::open(&url) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mwi_cron: {e}");
            return ExitCode::from(3);
        }
    };
    let mut failed = 0;
    for (n, line) in list.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(uri), Some(Ok(new)), Some(Ok(old))) = (
            f.first(),
            f.get(1).map(|s| s.parse()),
            f.get(2).map(|s| s.parse()),
        ) else {
            eprintln!("mwi_cron: {path}:{}: expected URI NEW OLD [ACCOUNT]", n + 1);
            return ExitCode::from(2);
        };
        let mut summary = MessageSummary::voice(new, old);
        if let Some(account) = f.get(3) {
            summary = summary.account(account);
        }
        let result = sip::mwi_update(uri, &summary).and_then(|req| req.send(&conn));
        match result {
            Ok(reply) if reply.is_success() => {
                println!("{uri}: {new}/{old} -> {} {}", reply.status, reply.reason)
            }
            Ok(reply) => {
                failed += 1;
                eprintln!(
                    "{uri}: the phone answered {} {}",
                    reply.status, reply.reason
                );
            }
            Err(e) if e.is_unreachable() || e.is_timeout() => {
                eprintln!("mwi_cron: {e}");
                return ExitCode::from(3);
            }
            Err(e) => {
                failed += 1;
                eprintln!("{uri}: {e}");
            }
        }
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
