//! Statistics in the Prometheus text format, checked with a real parser of the format, from
//! every generation, alone and as a fleet.
#![cfg(feature = "mock")]

mod support;

use opensips_mi::helpers::{MetricNaming, NodeScrape, StatKind, exposition};
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
            Some(StatKind::Counter),
            "{flavor:?}"
        );
        assert_eq!(
            kinds.get("shmem:used_size"),
            Some(StatKind::Gauge),
            "{flavor:?}"
        );
        let stats = conn.get_statistics(&["core:", "shmem:"]).unwrap();
        let text = stats.to_prometheus(&kinds);
        let scrape = parse(&text);
        // every statistic, and `opensips_up 1`
        assert_eq!(scrape.samples.len(), stats.len() + 1, "{flavor:?}: {text}");
        assert!(text.contains("\nopensips_up 1\n"), "{flavor:?}: {text}");
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
    let fleet = Fleet::open([a.udp_url().unwrap(), b.udp_url().unwrap()]);
    let scraped = fleet.run(|c| Ok((c.get_statistics(&["core:"])?, c.list_statistics()?)));
    let nodes: Vec<_> = scraped
        .iter()
        .map(|n| {
            let (s, k) = n.result.as_ref().unwrap();
            NodeScrape::up(Some(n.node.as_str()), s, k)
        })
        .collect();
    let text = exposition(&MetricNaming::default(), nodes);
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
    assert_eq!(
        rcv[0].labels.get("node"),
        Some(a.udp_url().unwrap().as_str())
    );
    assert_eq!(
        rcv[1].labels.get("node"),
        Some(b.udp_url().unwrap().as_str())
    );
}

/// Without `list_statistics` (OpenSIPS 1.11 has none; here the mock answers as 1.11 does,
/// `500 command not available`) the documented rule gives the kind: the rule agrees with
/// what the server says where it can say it.
#[test]
fn the_fallback_rule_agrees_with_list_statistics() {
    use opensips_mi::helpers::fallback_kind;
    for flavor in [Flavor::V2, Flavor::V3, Flavor::V4] {
        let (_server, conn) = support::auto_fifo(flavor);
        let kinds = conn.list_statistics().unwrap();
        assert!(kinds.len() > 50);
        for (name, kind) in &kinds {
            assert_eq!(fallback_kind(name), kind, "{flavor:?} {name}");
        }
    }
}

#[test]
fn module_naming_and_a_node_without_list_statistics() {
    use opensips_mi::helpers::{GroupMode, MetricNaming, NodeScrape, StatKinds, exposition};
    use opensips_mi::{Connection, ServerError};
    let server = MockServer::builder()
        .flavor(Flavor::V2)
        .udp()
        .start()
        .unwrap();
    server.handle("list_statistics", |_| {
        Err(ServerError::new(500, "command not available"))
    });
    let conn = Connection::open(&format!("{}?protocol=legacy", server.udp_url().unwrap())).unwrap();
    assert!(conn.list_statistics().is_err());
    let stats = conn.get_statistics(&["all"]).unwrap();
    let mut stats_111 = stats.clone();
    stats_111.extend([("load:udp:127.0.0.1:5068-load", 7)]);
    stats_111.extend([("uri:positive checks", 1)]);
    let none = StatKinds::default();
    for (mode, name, group) in [
        (GroupMode::None, "opensips_active_dialogs", None),
        (GroupMode::Name, "opensips_dialog_active_dialogs", None),
        (GroupMode::Label, "opensips_active_dialogs", Some("dialog")),
    ] {
        let naming = MetricNaming::new("opensips", mode, "group").unwrap();
        let text = exposition(
            &naming,
            [
                NodeScrape::up(Some("edge1"), &stats_111, &none),
                NodeScrape::down(Some("edge2")),
            ],
        );
        let scrape = parse(&text);
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .unwrap_or_else(|| panic!("{mode:?}: no {name} in {text}"));
        assert!(matches!(s.value, PromValue::Gauge(_)), "{mode:?}");
        assert_eq!(s.labels.get("group"), group, "{mode:?}");
        assert_eq!(s.labels.get("node"), Some("edge1"));
        // every name is a valid metric name, and no series repeats
        let mut seen = std::collections::BTreeSet::new();
        for s in &scrape.samples {
            assert!(
                s.metric
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{}",
                s.metric
            );
            let mut labels: Vec<_> = s.labels.iter().collect();
            labels.sort();
            assert!(
                seen.insert(format!("{}{labels:?}", s.metric)),
                "{mode:?}: {} twice",
                s.metric
            );
        }
        assert!(text.contains("opensips_up{node=\"edge2\"} 0\n"), "{text}");
    }
    // mode 0: `shmem:used_size` and `pkmem`-less 2.x have no clash, but a clash is labelled
    let mut clash = opensips_mi::helpers::Statistics::default();
    clash.extend([("dialog:x", 1)]);
    clash.extend([("tm:x", 2)]);
    let naming = MetricNaming::new("opensips", GroupMode::None, "module").unwrap();
    let text = exposition(&naming, [NodeScrape::up(None, &clash, &none)]);
    assert!(
        text.contains("opensips_x{module=\"dialog\"} 1\nopensips_x{module=\"tm\"} 2\n"),
        "{text}"
    );
    assert_eq!(text.matches("# TYPE opensips_x ").count(), 1);
    // bad prefixes and labels are refused
    assert!(MetricNaming::new("9x", GroupMode::Name, "group").is_err());
    assert!(MetricNaming::new("opensips", GroupMode::Name, "node").is_err());
}

/// OpenSIPS 1.11 as captured (1x/fifo/08_get_statistics_all): no `list_statistics`, a
/// statistic whose name holds `:` and one with a space. The CLI's textfile output stays
/// valid and typed.
#[cfg(feature = "cli")]
#[test]
fn cli_output_for_a_1_11_like_server() {
    use opensips_mi::{ServerError, Value};
    let server = MockServer::builder()
        .flavor(Flavor::V2)
        .fifo()
        .start()
        .unwrap();
    server.handle("list_statistics", |_| {
        Err(ServerError::new(500, "command not available"))
    });
    server.handle("get_statistics", |_| {
        Ok(Value::Object(
            vec![
                ("core:rcv_requests".into(), Value::from("8")),
                ("uri:positive checks".into(), Value::from("0")),
                ("dialog:active_dialogs".into(), Value::from("2")),
                ("load:udp:127.0.0.1:5068-load".into(), Value::from("7")),
            ]
            .into(),
        ))
    });
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_opensips-mi"))
        .args([
            "-u",
            &format!("{}&protocol=legacy", server.fifo_url().unwrap()),
        ])
        .args(["-o", "prometheus", "get_statistics", "all"])
        .env_remove("OPENSIPS_MI_URL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let scrape = parse(&text);
    let kind = |m: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == m)
            .map(|s| s.value.clone())
            .unwrap_or_else(|| panic!("no {m} in {text}"))
    };
    assert!(
        matches!(kind("opensips_load_udp_127_0_0_1_5068_load"), PromValue::Gauge(v) if v == 7.0)
    );
    assert!(matches!(kind("opensips_dialog_active_dialogs"), PromValue::Gauge(v) if v == 2.0));
    assert!(matches!(kind("opensips_core_rcv_requests"), PromValue::Counter(v) if v == 8.0));
    assert!(matches!(
        kind("opensips_uri_positive_checks"),
        PromValue::Counter(_)
    ));
    assert!(matches!(kind("opensips_up"), PromValue::Gauge(v) if v == 1.0));
}
