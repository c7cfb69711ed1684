//! Reboots or re-provisions a desk phone with a special-event NOTIFY.
//!
//! ```text
//! cargo run --example reboot_phone -- sip:1001@10.0.0.21:5060 snom_reboot
//! cargo run --example reboot_phone -- sip:1001@10.0.0.21:5060 polycom-check-cfg
//! cargo run --example reboot_phone -- sip:1001@10.0.0.21:5060 --event 'check-sync;reboot=true'
//! ```
//!
//! The URL of OpenSIPS' MI comes from `OPENSIPS_MI_URL` (default `fifo:///tmp/opensips_fifo`).
//! Presets: the Ruby gem's names (`snom_reboot`) or Asterisk's (`snom-reboot`). A misspelt
//! preset is an error (exit 2, with the closest preset), never sent: any other `Event`
//! value must be asked for with `--event`.

use std::process::ExitCode;

use opensips_mi::Connection;
use opensips_mi::sip::{self, NotifyEvent};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (uri, event) = match args.as_slice() {
        [uri, flag, value] if flag == "--event" => (uri, NotifyEvent::custom(value)),
        [uri, preset] if !preset.starts_with('-') => (uri, preset.parse::<NotifyEvent>()),
        _ => {
            eprintln!("usage: reboot_phone SIP_URI PRESET | reboot_phone SIP_URI --event VALUE");
            eprintln!(
                "presets: {}",
                NotifyEvent::preset_names().collect::<Vec<_>>().join(", ")
            );
            return ExitCode::from(2);
        }
    };
    let event = match event {
        Ok(ev) => ev,
        Err(e) => {
            eprintln!("reboot_phone: {e}");
            return ExitCode::from(2);
        }
    };
    let url =
        std::env::var("OPENSIPS_MI_URL").unwrap_or_else(|_| "fifo:///tmp/opensips_fifo".into());
    let result = Connection::open(&url).and_then(|conn| sip::event_notify(uri, event).send(&conn));
    match result {
        Ok(reply) => {
            println!("{uri}: {} {}", reply.status, reply.reason);
            if reply.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("reboot_phone: {e}");
            ExitCode::from(3)
        }
    }
}
