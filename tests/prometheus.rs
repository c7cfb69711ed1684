//! Statistics in the Prometheus text format, checked with a real parser of the format, from
//! every generation, alone and as a fleet.
#![cfg(feature = "mock")]

mod support;

use opensips_mi::helpers::{StatKind, prometheus_text};
use opensips_mi::mock::{Flavor, MockServer};
use opensips_mi::{Fleet, MiCommands};
use prometheus_parse::{Scrape, Value as PromValue};

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

#[test]
fn statistics_of_every_generation_parse_as_prometheus_text() {
    for flavor in [Flavor::V2, Flavor::V3, Flavor::V4] {
        let (_server, conn) = support::auto_fifo(flavor);
        let kinds = conn.list_statistics().unwrap();
        assert_eq!(
            kinds.get("core:rcv_requests"),
            Some(&StatKind::Counter),
            "{flavor:?}"
        );
        assert_eq!(
            kinds.get("shmem:used_size"),
            Some(&StatKind::Gauge),
            "{flavor:?}"
        );
        let stats = conn.get_statistics(&["core:", "shmem:"]).unwrap();
        let text = stats.to_prometheus(&kinds);
        let scrape = parse(&text);
        assert_eq!(scrape.samples.len(), stats.0.len(), "{flavor:?}: {text}");
        let rcv = scrape
            .samples
            .iter()
            .find(|s| s.metric == "opensips_core_rcv_requests")
            .unwrap();
        assert!(
            matches!(rcv.value, PromValue::Counter(v) if v == stats.get("core:rcv_requests").unwrap() as f64)
        );
        let used = scrape
            .samples
            .iter()
            .find(|s| s.metric == "opensips_shmem_used_size")
            .unwrap();
        assert!(matches!(used.value, PromValue::Gauge(_)), "{flavor:?}");
    }
}

#[test]
fn a_fleet_labels_each_sample_with_its_node() {
    let a = MockServer::builder().udp().start().unwrap();
    let b = MockServer::builder()
        .flavor(Flavor::V4)
        .udp()
        .start()
        .unwrap();
    let fleet = Fleet::open([a.udp_url(), b.udp_url()]);
    let scraped = fleet.run(|c| Ok((c.get_statistics(&["core:"])?, c.list_statistics()?)));
    let nodes: Vec<_> = scraped
        .iter()
        .map(|(url, r)| {
            let (s, k) = r.as_ref().unwrap();
            (Some(url.as_str()), s, k)
        })
        .collect();
    let text = prometheus_text(nodes);
    // one TYPE line per family, then its samples from both nodes
    assert_eq!(
        text.matches("# TYPE opensips_core_rcv_requests counter")
            .count(),
        1
    );
    let scrape = parse(&text);
    let rcv: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "opensips_core_rcv_requests")
        .collect();
    assert_eq!(rcv.len(), 2);
    assert_eq!(rcv[0].labels.get("node"), Some(a.udp_url().as_str()));
    assert_eq!(rcv[1].labels.get("node"), Some(b.udp_url().as_str()));
}
