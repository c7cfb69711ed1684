//! HTTPS: certificate verification is on by default, a private CA can be trusted with
//! `Options::ca_pem` / `ca_file`, and the opt-out is explicit.
#![cfg(feature = "tls")]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use opensips_mi::{Connection, Error, Options, Value};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn new_pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "opensips-mi test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    }
}

/// An HTTPS mi_http stand-in: answers every JSON-RPC request with `"OK"` and its id.
fn https_server(cfg: Arc<rustls::ServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                tcp.set_read_timeout(Some(support::GENEROUS)).unwrap();
                let conn = rustls::ServerConnection::new(cfg).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = tls.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    let earlier = req.len();
                    req.extend_from_slice(&buf[..n]);
                    let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if req.len() < end + 4 + len {
                        continue;
                    }
                    // like OpenSIPS 3.x/4.0 httpd: a body read after its head is lost, the
                    // request never answered (the client must send both in one TLS write)
                    if len > 0 && end + 4 <= earlier {
                        return;
                    }
                    let body: serde_json::Value =
                        serde_json::from_slice(&req[end + 4..end + 4 + len]).unwrap();
                    let reply = format!(r#"{{"jsonrpc":"2.0","result":"OK","id":{}}}"#, body["id"]);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
                        reply.len()
                    );
                    if tls.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                    req.drain(..end + 4 + len);
                }
            });
        }
    });
    addr
}

#[test]
fn private_ca_is_trusted_only_when_given() {
    let pki = new_pki();
    let addr = https_server(pki.server.clone());
    let url = format!("https://{addr}/mi");
    let opts = Options::builder().timeout(support::GENEROUS);

    let trusted =
        opensips_mi::HttpConnection::open(&url, opts.clone().ca_pem(pki.ca_pem.as_bytes()))
            .map(Connection::from)
            .unwrap();
    assert_eq!(
        trusted.command("uptime", ()).unwrap().into_value(),
        Value::from("OK")
    );

    let e = opensips_mi::HttpConnection::open(&url, opts.clone())
        .map(Connection::from)
        .unwrap()
        .command("uptime", ())
        .unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e}");
    assert!(e.to_string().contains("ca_file"), "{e}");
    assert!(e.is_unreachable());

    let insecure =
        opensips_mi::HttpConnection::open(&url, opts.clone().danger_accept_invalid_certs(true))
            .map(Connection::from)
            .unwrap();
    assert_eq!(
        insecure.command("uptime", ()).unwrap().into_value(),
        Value::from("OK")
    );

    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let from_file = opensips_mi::HttpConnection::open(&url, opts.clone().ca_file(&ca_file))
        .map(Connection::from)
        .unwrap();
    assert!(from_file.command("uptime", ()).is_ok());
    // the same through Connection::open_with and a Pool; chained with other setters
    let via_open =
        Connection::open_with(&url, opts.clone().ca_file(&ca_file).keepalive(false)).unwrap();
    assert!(via_open.command("uptime", ()).is_ok());
    let pool = opensips_mi::Pool::open_with(&url, 2, opts.clone().ca_file(&ca_file)).unwrap();
    assert!(pool.get().unwrap().command("uptime", ()).is_ok());
    // the file is read at open time: removed since, it is a config error naming it
    std::fs::remove_file(&ca_file).unwrap();
    let e = Connection::open_with(&url, opts.clone().ca_file(&ca_file)).unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
    assert!(e.to_string().contains("ca.pem"), "{e}");

    // another CA is not enough
    let other = new_pki();
    let e = opensips_mi::HttpConnection::open(&url, opts.ca_pem(other.ca_pem.as_bytes()))
        .map(Connection::from)
        .unwrap()
        .command("uptime", ())
        .unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e}");
}

#[test]
fn bad_ca_input_is_a_config_error() {
    let e = opensips_mi::HttpConnection::open(
        "https://127.0.0.1:1/mi",
        Options::builder().ca_pem(b"not a pem".to_vec()),
    )
    .map(Connection::from)
    .unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
    // ca_file only keeps the path: the missing file is an error when a connection opens
    let opts = Options::builder().ca_file("/nonexistent/ca.pem").build();
    for e in [
        opensips_mi::HttpConnection::open("https://127.0.0.1:1/mi", opts.clone())
            .map(Connection::from)
            .unwrap_err(),
        Connection::open_with("https://127.0.0.1:1/mi", opts.clone()).unwrap_err(),
        opensips_mi::Pool::open_with("https://127.0.0.1:1/mi", 2, opts.clone()).unwrap_err(),
    ] {
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
    let fleet = opensips_mi::Fleet::open_with(["https://127.0.0.1:1/mi"], opts);
    let e = fleet.command("uptime", ()).remove(0).result.unwrap_err();
    assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
    let e = opensips_mi::HttpConnection::open(
        "http://127.0.0.1:1/mi",
        Options::builder().danger_accept_invalid_certs(true),
    )
    .map(Connection::from)
    .unwrap_err();
    assert!(e.to_string().contains("plain http"), "{e}");
}
