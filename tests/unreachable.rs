//! A dead or absent OpenSIPS gives its own clear error in bounded time, and leaves nothing
//! behind.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use opensips_mi::{Connection, Error, Options};

const ONE_SECOND: Duration = Duration::from_secs(1);
const BOUND: Duration = Duration::from_millis(1100);

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let r = f();
    (r, start.elapsed())
}

fn opts(dir: &std::path::Path) -> opensips_mi::OptionsBuilder {
    Options::builder()
        .timeout(ONE_SECOND)
        .reply_dir(dir)
        .reply_socket_dir(dir)
}

#[test]
fn fifo_path_missing() {
    let dir = tempfile::tempdir().unwrap();
    let conn =
        opensips_mi::FifoConnection::open(dir.path().join("opensips_fifo"), opts(dir.path()))
            .map(Connection::from)
            .unwrap();
    let (r, took) = timed(|| conn.command("uptime", ()));
    let e = r.unwrap_err();
    assert!(
        matches!(e, Error::NotFound { ref what, .. } if what == "FIFO"),
        "{e}"
    );
    assert!(e.to_string().contains("is OpenSIPS running"), "{e}");
    assert!(took < BOUND, "{took:?}");
    assert!(support::leftovers(dir.path(), "osips_mi_").is_empty());
}

#[test]
fn fifo_without_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opensips_fifo");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let conn = opensips_mi::FifoConnection::open(&path, opts(dir.path()))
        .map(Connection::from)
        .unwrap();
    let (r, took) = timed(|| conn.command("uptime", ()));
    let e = r.unwrap_err();
    assert!(matches!(e, Error::NotRunning { .. }), "{e}");
    assert!(e.to_string().contains("no process reads it"), "{e}");
    assert!(took < BOUND, "{took:?}");
    assert!(support::leftovers(dir.path(), "osips_mi_").is_empty());
}

/// A FIFO replaced by a regular file between two calls of one connection never receives a
/// request. The connection holds the FIFO it checked: while the server still reads that
/// FIFO the call goes there (to the server, not into the file); once the server is gone
/// the path is opened and checked again, and the regular file is refused.
#[cfg(feature = "mock")]
#[test]
fn fifo_replaced_by_a_regular_file_between_calls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opensips_fifo");
    let server = opensips_mi::mock::MockServer::builder()
        .fifo_at(&path)
        .start()
        .unwrap();
    let conn = Connection::open_with(
        &server.fifo_url().unwrap(),
        Options::builder().timeout(support::GENEROUS),
    )
    .unwrap();
    conn.command("uptime", ()).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"").unwrap();
    // the server still reads the FIFO that was checked: it answers
    let up = conn.command("uptime", ()).unwrap();
    assert!(up.value()["Up time"].as_str().is_some(), "{}", up.value());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"",
        "nothing may be written into it"
    );
    // the server stops (removing what is at its path); a regular file there is refused
    drop(server);
    std::fs::write(&path, b"").unwrap();
    let e = conn.command("uptime", ()).unwrap_err();
    assert!(
        matches!(e, Error::InvalidConfig { ref reason, .. } if reason.contains("not a FIFO")),
        "{e}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"",
        "nothing may be written into it"
    );
}

#[test]
fn fifo_path_is_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opensips_fifo");
    std::fs::write(&path, b"").unwrap();
    let conn = opensips_mi::FifoConnection::open(&path, opts(dir.path()))
        .map(Connection::from)
        .unwrap();
    let e = conn.command("uptime", ()).unwrap_err();
    assert!(
        matches!(e, Error::InvalidConfig { ref reason, .. } if reason.contains("not a FIFO")),
        "{e}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"",
        "nothing may be written into a regular file"
    );
}

#[test]
fn reply_dir_missing_or_not_writable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opensips_fifo");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // keep a reader so the server FIFO opens
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&path)
        .unwrap();
    let conn = opensips_mi::FifoConnection::open(&path, opts(&dir.path().join("nope")))
        .map(Connection::from)
        .unwrap();
    let e = conn.command("uptime", ()).unwrap_err();
    // a stopped service's runtime directory is gone: OpenSIPS cannot be reached (exit 3),
    // not a mistake in the settings
    assert!(
        matches!(
            e,
            Error::NotFound { ref what, .. } if what == "reply directory")
            && e.is_unreachable(),
        "{e:?}"
    );
    assert!(e.to_string().contains("reply_dir"), "{e}");

    if nix::unistd::Uid::effective().is_root() {
        return; // root ignores directory modes
    }
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    let conn = opensips_mi::FifoConnection::open(&path, opts(&ro))
        .map(Connection::from)
        .unwrap();
    let e = conn.command("uptime", ()).unwrap_err();
    assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
}

use std::os::unix::fs::OpenOptionsExt;

#[test]
fn udp_port_with_nothing_listening() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conn = opensips_mi::UdpConnection::open(
        ("127.0.0.1", port),
        Options::builder().timeout(ONE_SECOND),
    )
    .map(Connection::from)
    .unwrap();
    let (r, took) = timed(|| conn.command("uptime", ()));
    let e = r.unwrap_err();
    assert!(matches!(e, Error::NotRunning { .. }), "{e}");
    assert!(e.to_string().contains("connection refused"), "{e}");
    assert!(took < BOUND, "{took:?}");
}

#[test]
fn unix_socket_missing() {
    let dir = tempfile::tempdir().unwrap();
    let conn =
        opensips_mi::UnixDatagramConnection::open(dir.path().join("mi.sock"), opts(dir.path()))
            .map(Connection::from)
            .unwrap();
    let (r, took) = timed(|| conn.command("uptime", ()));
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotFound { ref what, .. } if what == "unix socket"),
        "{e}"
    );
    assert!(took < BOUND, "{took:?}");
    drop(conn);
    assert!(support::leftovers(dir.path(), "osips_mi_").is_empty());
}

#[test]
fn unix_socket_left_behind_by_a_stopped_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mi.sock");
    drop(UnixDatagram::bind(&path).unwrap()); // the file stays, nobody is bound
    let conn = opensips_mi::UnixDatagramConnection::open(&path, opts(dir.path()))
        .map(Connection::from)
        .unwrap();
    let e = conn.command("uptime", ()).unwrap_err();
    assert!(matches!(e, Error::NotRunning { .. }), "{e}");
}

#[test]
fn bad_urls_are_clear() {
    for (url, needle) in [
        ("ftp://127.0.0.1/mi", "unknown scheme"),
        ("http:///mi", "no host"),
        ("fifo://tmp/x", "absolute"),
        ("udp://127.0.0.1:8809?timeout=soon", "bad timeout"),
        ("opensips_fifo", "scheme"),
    ] {
        let e = Connection::open(url).unwrap_err();
        assert!(
            matches!(e, Error::InvalidConfig { .. }) && e.to_string().contains(needle),
            "{url}: {e}"
        );
    }
}

#[cfg(feature = "mock")]
mod silent_server {
    use super::*;
    use opensips_mi::mock::{Fault, MockServer};

    #[test]
    fn a_server_that_never_replies_times_out_on_every_transport() {
        let server = MockServer::start().unwrap();
        server.inject(Fault::NoReply);
        let dir = tempfile::tempdir().unwrap();
        for url in [
            server.fifo_url().unwrap(),
            server.udp_url().unwrap(),
            server.unix_url().unwrap(),
        ] {
            let conn = Connection::open_with(
                &url,
                Options::builder()
                    .timeout(ONE_SECOND)
                    .reply_socket_dir(dir.path()),
            )
            .unwrap();
            let (r, took) = timed(|| conn.command("uptime", ()));
            let e = r.unwrap_err();
            assert!(
                matches!(e, Error::Timeout { duration, .. } if duration == ONE_SECOND),
                "{url}: {e}"
            );
            assert!(took >= ONE_SECOND && took < BOUND, "{url}: {took:?}");
        }
        assert!(support::leftovers(server.reply_dir(), "osips_mi_").is_empty());
    }

    #[test]
    fn invalid_json_gets_silence_on_fifo_and_parse_error_on_datagram() {
        // What the server does with bytes that are not JSON: the client never sends such
        // bytes, so drive the mock raw and check the client maps the answers.
        let server = MockServer::start().unwrap();
        let got = support::raw_fifo_exchange(
            server.fifo_path().unwrap(),
            server.reply_dir(),
            Some("rawreply"),
            br#":rawreply:{"jsonrpc":"2.0","method":"uptime","id":9"#,
            Duration::from_millis(300),
        );
        assert!(got.is_empty());
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(support::GENEROUS)).unwrap();
        s.send_to(b":uptime:\n", server.udp_addr().unwrap())
            .unwrap();
        let mut buf = [0u8; 100];
        let n = s.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"400 Parse_error");
        let e = opensips_mi::jsonrpc::decode_reply(&buf[..n], 1).unwrap_err();
        assert!(e.to_string().contains("legacy text protocol"), "{e}");
    }
}
