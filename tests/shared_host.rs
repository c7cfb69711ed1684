//! A shared host: OpenSIPS (here the mock) and the client, and a third local user who
//! attacks the client. The attacker is this test binary run again as uid 65534 (`nobody`),
//! so these tests need root (as CI runs); without it they say so and pass nothing.
#![cfg(feature = "mock")]

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use opensips_mi::mock::MockServer;
use opensips_mi::{Connection, Error, Options, cmd};

use support::attacker::{ATTACKER_UID, attack, report, root, spawn_attacker, sticky_dir};

/// The attacker's side (see `support::attacker`).
#[test]
#[ignore = "run by the other tests as another user"]
fn attacker() {
    support::attacker::serve();
}

/// The reply FIFOs or directories the client has in `dir` now.
fn ours(dir: &Path) -> Vec<PathBuf> {
    support::leftovers(dir, "osips_mi_")
        .into_iter()
        .map(|n| dir.join(n))
        .collect()
}

fn uptime(conn: &Connection) -> opensips_mi::Result<opensips_mi::Value> {
    cmd("uptime").query(conn)
}

#[test]
fn reply_fifos_are_closed_to_other_users() {
    if !root() {
        return;
    }
    let dir = sticky_dir();
    let server = MockServer::builder()
        .fifo_at(dir.path().join("opensips_fifo"))
        .start()
        .unwrap();
    let conn = Connection::open_with(
        &server.fifo_url().unwrap(),
        Options::builder().timeout(support::GENEROUS),
    )
    .unwrap();
    let real = uptime(&conn).unwrap();
    // the reply FIFO kept for the next call: the server (root) needs no permission
    let kept = ours(dir.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    let mode = std::fs::symlink_metadata(&kept[0]).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let forged = r#"{"jsonrpc":"2.0","error":{"code":200,"message":"forged"},"id":null}"#;
    let r = attack(&["write", kept[0].to_str().unwrap(), forged]);
    assert!(r.starts_with("denied"), "{r}");
    let again = uptime(&conn).unwrap();
    assert!(
        again.get("Now").is_some() && real.get("Now").is_some(),
        "{again}"
    );
}

#[test]
fn a_server_of_another_user_gets_its_user_and_group_not_the_world() {
    if !root() {
        return;
    }
    // OpenSIPS as uid/gid 4242 in a directory of its own; the client is root
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::builder()
        .fifo_at(dir.path().join("opensips_fifo"))
        .start()
        .unwrap();
    let fifo = dir.path().join("opensips_fifo");
    std::os::unix::fs::chown(&fifo, Some(4242), Some(4242)).unwrap();
    let conn = Connection::open_with(
        &server.fifo_url().unwrap(),
        Options::builder().timeout(support::GENEROUS),
    )
    .unwrap();
    uptime(&conn).unwrap();
    let kept = ours(dir.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    let meta = std::fs::symlink_metadata(&kept[0]).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (4242, 4242, 0o620)
    );
    let r = attack(&["write", kept[0].to_str().unwrap(), "x"]);
    assert!(r.starts_with("denied"), "{r}");
    uptime(&conn).unwrap();
}

#[test]
fn unix_reply_sockets_are_closed_to_other_users_and_forgeries_are_dropped() {
    if !root() {
        return;
    }
    let dir = sticky_dir();
    let server = MockServer::builder()
        .unix_at(dir.path().join("opensips_sock"))
        .start()
        .unwrap();
    let conn = Connection::open_with(
        &server.unix_url().unwrap(),
        Options::builder()
            .timeout(support::GENEROUS)
            .reply_socket_dir(dir.path()),
    )
    .unwrap();
    uptime(&conn).unwrap();
    let Connection::UnixDatagram(c) = &conn else {
        unreachable!()
    };
    let reply = c.reply_path();
    assert!(reply.parent().unwrap().starts_with(dir.path()));
    let forged = r#"{"jsonrpc":"2.0","error":{"code":200,"message":"forged"},"id":null}"#;
    let r = attack(&["send", reply.to_str().unwrap(), forged]);
    assert!(r.starts_with("denied"), "{r}");
    // Even where the socket must be open to every user, what another user sends is dropped:
    // planted answers wait in the socket for the next call, junk among them.
    std::fs::set_permissions(&reply, std::fs::Permissions::from_mode(0o666)).unwrap();
    let r = attack(&["send", reply.to_str().unwrap(), forged, "junk", forged]);
    assert_eq!(r, "sent");
    for _ in 0..3 {
        let v = uptime(&conn).unwrap();
        assert!(v.get("Now").is_some(), "{v}");
    }
}

#[test]
fn a_squatted_server_fifo_is_refused_and_reads_nothing() {
    if !root() {
        return;
    }
    let dir = sticky_dir();
    let fifo = dir.path().join("opensips_fifo");
    let mut squatter = spawn_attacker(&["fifo", fifo.to_str().unwrap()]);
    assert_eq!(report(&mut squatter), "ready");
    let url = format!(
        "fifo://{}?reply_dir={}/&timeout=3",
        fifo.display(),
        dir.path().display()
    );
    let conn = Connection::open(&url).unwrap();
    let e = cmd("cache_store")
        .arg("local")
        .arg("k")
        .arg("db-password=hunter2")
        .query(&conn)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e:?}");
    assert!(e.to_string().contains("/run/opensips"), "{e}");
    // nothing reached the squatter's FIFO
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&fifo)
            .unwrap();
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
    }
    drop(squatter.stdin.take());
    let _ = squatter.wait();
    assert!(ours(dir.path()).is_empty());
}

#[test]
fn a_squatted_server_socket_is_refused() {
    if !root() {
        return;
    }
    let dir = sticky_dir();
    let sock = dir.path().join("opensips_sock");
    let mut squatter = spawn_attacker(&["socket", sock.to_str().unwrap()]);
    assert_eq!(report(&mut squatter), "ready");
    let url = format!(
        "unix://{}?reply_socket_dir={}&timeout=3",
        sock.display(),
        dir.path().display()
    );
    let e = Connection::open(&url)
        .and_then(|c| {
            cmd("cache_store")
                .arg("local")
                .arg("k")
                .arg("secret")
                .query(&c)
        })
        .unwrap_err();
    assert!(e.to_string().contains("/run/opensips"), "{e}");
    drop(squatter.stdin.take());
    assert_eq!(report(&mut squatter), "received 0");
    let _ = squatter.wait();
}

#[test]
fn a_fixed_reply_name_planted_as_a_symlink_is_refused_and_its_target_untouched() {
    if !root() {
        return;
    }
    let dir = sticky_dir();
    let server = MockServer::builder()
        .fifo_at(dir.path().join("opensips_fifo"))
        .start()
        .unwrap();
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("secret");
    std::fs::write(&victim, "x").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = attack(&[
        "symlink",
        victim.to_str().unwrap(),
        dir.path().join("fixed").to_str().unwrap(),
    ]);
    assert_eq!(r, "planted");
    let conn = Connection::open(&format!(
        "{}&reply_fifo=fixed&timeout=3",
        server.fifo_url().unwrap()
    ))
    .unwrap();
    let e = uptime(&conn).unwrap_err();
    assert!(e.to_string().contains("not a FIFO of this user"), "{e}");
    let mode = std::fs::metadata(&victim).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_reply_that_never_ends_stops_at_the_deadline() {
    // A server that floods the reply FIFO without end: the call ends at its timeout (with
    // room to spare on a loaded machine), not when the flood or max_reply is done.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("flood_fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let reply_dir = dir.path().to_path_buf();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let flood = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let n = f.read(&mut buf).unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).into_owned();
        let name = req.split(':').nth(1).unwrap().to_owned();
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .open(reply_dir.join(name))
            .unwrap();
        let _ = out.write_all(br#"{"jsonrpc":"2.0","result":""#);
        let chunk = vec![b'a'; 65536];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(6) {
            if out.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let url = format!(
        "fifo://{}?reply_dir={}/&timeout=0.3&max_reply=2000000000",
        fifo.display(),
        dir.path().display()
    );
    let conn = Connection::open(&url).unwrap();
    let start = Instant::now();
    let e = uptime(&conn).unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}: {e}");
    assert!(e.to_string().contains("cut short"), "{e}");
    drop(conn);
    flood.join().unwrap();
}

#[test]
fn a_server_endpoint_or_reply_dir_in_a_directory_of_another_user_is_refused() {
    if !root() {
        return;
    }
    let top = sticky_dir();
    // the attacker's own directory (0755), with a FIFO in it where a server FIFO is expected
    let theirs = top.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(ATTACKER_UID), Some(ATTACKER_UID)).unwrap();
    let fifo = theirs.join("opensips_fifo");
    let mut squatter = spawn_attacker(&["fifo", fifo.to_str().unwrap()]);
    assert_eq!(report(&mut squatter), "ready");
    let url = format!(
        "fifo://{}?reply_dir={}/&timeout=3",
        fifo.display(),
        top.path().display()
    );
    let e = cmd("cache_store")
        .arg("local")
        .arg("k")
        .arg("db-password=hunter2")
        .query(&Connection::open(&url).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("is not safe"), "{e}");
    drop(squatter.stdin.take());
    let _ = squatter.wait();
    // a real server, but a reply directory the attacker owns (it could swap our reply
    // FIFO for one of its own and read the replies)
    let server = MockServer::builder()
        .fifo_at(top.path().join("opensips_fifo"))
        .start()
        .unwrap();
    let url = format!(
        "fifo://{}?reply_dir={}/&timeout=3",
        server.fifo_path().unwrap().display(),
        theirs.display()
    );
    let e = uptime(&Connection::open(&url).unwrap()).unwrap_err();
    assert!(e.to_string().contains("reply directory"), "{e}");
    assert!(ours(&theirs).is_empty());
    // unix: the same for the server socket's directory
    let sock = theirs.join("opensips_sock");
    let mut squatter = spawn_attacker(&["socket", sock.to_str().unwrap()]);
    assert_eq!(report(&mut squatter), "ready");
    let url = format!(
        "unix://{}?reply_socket_dir={}&timeout=3",
        sock.display(),
        top.path().display()
    );
    let e = Connection::open(&url)
        .and_then(|c| {
            cmd("cache_store")
                .arg("local")
                .arg("k")
                .arg("secret")
                .query(&c)
        })
        .unwrap_err();
    assert!(e.to_string().contains("is not safe"), "{e}");
    drop(squatter.stdin.take());
    assert_eq!(report(&mut squatter), "received 0");
    let _ = squatter.wait();
}

/// A unix connection sends to the very server socket it checked; after the server restarts
/// (a new socket at the same path) the next call finds and checks the new one.
#[test]
fn a_restarted_unix_server_is_found_again() {
    for dir in [sticky_dir(), tempfile::tempdir().unwrap()] {
        let sock = dir.path().join("opensips_sock");
        let server = MockServer::builder().unix_at(&sock).start().unwrap();
        let url = format!(
            "unix://{}?reply_socket_dir={}&timeout=5",
            sock.display(),
            dir.path().display()
        );
        let conn = Connection::open(&url).unwrap();
        uptime(&conn).unwrap();
        drop(server);
        let _again = MockServer::builder().unix_at(&sock).start().unwrap();
        let v = uptime(&conn).unwrap();
        assert!(v.get("Now").is_some(), "{v}");
    }
}

/// A server that restarts as another user gets a new reply socket made for that user; the
/// new socket has no timeouts of its own, so a call to a server that then never answers
/// must still end at its deadline (the timeouts set on the old socket do not carry over).
#[test]
fn a_server_restarted_as_another_user_that_never_answers_is_a_timeout() {
    if !root() {
        return;
    }
    let dir = sticky_dir();
    let sock = dir.path().join("opensips_sock");
    let server = MockServer::builder().unix_at(&sock).start().unwrap();
    let url = format!(
        "unix://{}?reply_socket_dir={}&timeout=1&server_user={ATTACKER_UID}",
        sock.display(),
        dir.path().display()
    );
    let conn = Connection::open(&url).unwrap();
    uptime(&conn).unwrap();
    drop(server);
    // the "restarted server": a socket of another user at the same path, never read
    let _ = std::fs::remove_file(&sock);
    let _deaf = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    std::os::unix::fs::chown(&sock, Some(ATTACKER_UID), Some(ATTACKER_UID)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let r = uptime(&conn);
        let _ = tx.send((r, started.elapsed()));
    });
    let (r, took) = rx
        .recv_timeout(support::GENEROUS)
        .expect("the call to the restarted server never ended");
    assert!(r.as_ref().is_err_and(Error::is_timeout), "{r:?}");
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
}
