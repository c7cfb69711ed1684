//! Writes OpenSIPS statistics for node_exporter's textfile collector, from cron: the file
//! is written next to its target and renamed, so the collector never reads half of it.
//!
//! ```text
//! # crontab: every minute, every node of the fleet file
//! * * * * * OPENSIPS_MI_URLS="udp://10.0.0.1:8809 udp://10.0.0.2:8809" /usr/local/bin/prometheus_textfile /var/lib/node_exporter/textfile/opensips.prom
//!
//! # or with the CLI alone
//! * * * * * opensips-mi --fleet /etc/opensips/fleet --output prometheus get_statistics all > /var/lib/node_exporter/textfile/opensips.prom.tmp && mv /var/lib/node_exporter/textfile/opensips.prom.tmp /var/lib/node_exporter/textfile/opensips.prom
//! ```
//!
//! The file always holds every node: `opensips_up{node="…"} 0` for one that could not be
//! read. Exit codes: 0 every node answered, 3 one could not be read (the file is written
//! all the same).

use std::process::ExitCode;

use opensips_mi::helpers::{MetricNaming, NodeScrape, StatKinds, exposition};
use opensips_mi::{Fleet, MiCommands};

fn main() -> ExitCode {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "opensips.prom".into());
    let urls =
        std::env::var("OPENSIPS_MI_URLS").unwrap_or_else(|_| "fifo:///tmp/opensips_fifo".into());
    let fleet = Fleet::open(urls.split_whitespace());
    // 1.x has no list_statistics: the documented fallback rule then types the statistics
    let scraped = fleet.run(|c| {
        let stats = c.get_statistics(&["all"])?;
        Ok((
            stats,
            c.list_statistics().unwrap_or_else(|_| StatKinds::default()),
        ))
    });
    let mut failed = false;
    let mut nodes = Vec::new();
    for opensips_mi::NodeResult {
        node: name,
        result: r,
        ..
    } in &scraped
    {
        match r {
            Ok((stats, kinds)) => nodes.push(NodeScrape::up(Some(name.as_str()), stats, kinds)),
            Err(e) => {
                eprintln!("prometheus_textfile: {name}: {e}");
                nodes.push(NodeScrape::down(Some(name.as_str())));
                failed = true;
            }
        }
    }
    let tmp = format!("{target}.tmp");
    if let Err(e) = std::fs::write(&tmp, exposition(&MetricNaming::default(), nodes))
        .and_then(|()| std::fs::rename(&tmp, &target))
    {
        eprintln!("prometheus_textfile: writing {target}: {e}");
        return ExitCode::from(3);
    }
    if failed {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
