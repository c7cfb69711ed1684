//! Fleets: one command to several mock servers of mixed generations, one of them dead.
#![cfg(feature = "mock")]

mod support;

use std::time::Duration;

use opensips_mi::mock::{Fault, MockServer};
use opensips_mi::{Error, Fleet, MiCommands, Options};

fn dead_udp_url() -> String {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    drop(s);
    format!("udp://{addr}?timeout=300ms")
}

#[test]
fn mixed_generations_and_a_dead_node() {
    let (_servers, mut urls) = support::mixed_generations();
    urls.push(dead_udp_url());
    let fleet = Fleet::open_with(&urls, Options::builder().timeout(support::GENEROUS));
    assert_eq!(fleet.len(), 4);
    assert_eq!(
        fleet.urls(),
        urls.iter().map(String::as_str).collect::<Vec<_>>()
    );

    let versions = fleet.run(|c| c.version());
    let releases: Vec<Option<String>> = versions
        .iter()
        .map(|n| {
            n.result
                .as_ref()
                .ok()
                .and_then(|v| v.release().map(str::to_owned))
        })
        .collect();
    assert!(
        releases[0].as_deref().unwrap().starts_with("2.4"),
        "{releases:?}"
    );
    assert!(
        releases[1].as_deref().unwrap().starts_with("3."),
        "{releases:?}"
    );
    assert!(
        releases[2].as_deref().unwrap().starts_with("4."),
        "{releases:?}"
    );
    // the dead node is one error in its slot, in order
    assert_eq!(versions[3].node, urls[3]);
    match &versions[3].result {
        Err(Error::NotRunning { .. } | Error::Timeout { .. }) => {}
        other => panic!("{other:?}"),
    }

    // the same typed structs from every generation
    let dumps = fleet.run(|c| c.ul_dump());
    let aors: Vec<usize> = dumps[..3]
        .iter()
        .map(|n| {
            n.result
                .as_ref()
                .unwrap()
                .iter()
                .map(|d| d.aors.len())
                .sum()
        })
        .collect();
    assert!(aors.iter().all(|n| *n > 0), "{aors:?}");

    let raw = fleet.command("uptime", ());
    assert!(raw[..3].iter().all(|n| n.result.is_ok()));
    assert!(raw[3].result.is_err());
}

/// A slow node does not hold the others back: they answer while it is still busy, and
/// a small thread bound still asks every node.
#[test]
fn every_node_answers_with_a_bounded_number_of_threads() {
    let servers: Vec<MockServer> = (0..6)
        .map(|_| MockServer::builder().udp().start().unwrap())
        .collect();
    servers[0].inject(Fault::Delay(Duration::from_millis(300)));
    let fleet = Fleet::open_with(
        servers.iter().map(|s| s.udp_url().unwrap()),
        Options::builder().timeout(support::GENEROUS),
    )
    .max_threads(2);
    let r = fleet.command("uptime", ());
    assert_eq!(r.len(), 6);
    assert!(r.iter().all(|n| n.result.is_ok()), "{r:?}");
    for (s, n) in servers.iter().zip(&r) {
        assert_eq!(s.udp_url().unwrap(), n.node);
        let asked = s.requests().iter().filter(|r| r.method == "uptime").count();
        assert_eq!(asked, 1, "each node asked once");
    }
}

#[test]
fn fleet_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet");
    std::fs::write(
        &path,
        "# registrars\nudp://127.0.0.1:8809\n\n  fifo:///tmp/opensips_fifo  # edge\n",
    )
    .unwrap();
    let fleet = Fleet::from_file(&path).unwrap();
    assert_eq!(
        fleet.urls(),
        ["udp://127.0.0.1:8809", "fifo:///tmp/opensips_fifo"]
    );
    std::fs::write(&path, "# nothing\n").unwrap();
    assert!(Fleet::from_file(&path).is_err());
    assert!(Fleet::from_file(dir.path().join("missing")).is_err());
}
