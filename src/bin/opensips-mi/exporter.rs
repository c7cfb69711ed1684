//! `opensips-mi exporter`: a Prometheus exporter for a fleet of any OpenSIPS generations.
//!
//! Plain blocking code: one thread accepts (polling, so that a stop signal is seen within
//! [`TICK`]), a fixed set of workers serves the HTTP requests (`Connection: close`, one
//! request each, a bounded queue: 503 when it is full), and each node has at most one
//! scrape in flight, shared by the concurrent requests that need it (two Prometheus
//! servers scraping together cost the node one `get_statistics`). A scrape waits for its
//! nodes until its deadline; a node still busy then is `opensips_up 0` for that scrape.
//!
//! The HTTP part is this file's own: GET only, a request head of at most 8 KiB read under
//! a timeout, a response of known length. That is all Prometheus needs, and it keeps the
//! dependency list short.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opensips_mi::helpers::{
    GroupMode, MetricNaming, NodeScrape, StatKinds, Statistics, exposition,
};
use opensips_mi::{Connection, Error, MiCommands, Options};

use crate::Failure;

/// How often the acceptor looks at the stop flag.
const TICK: Duration = Duration::from_millis(200);
/// How long a cached `list_statistics` answer is used (a restarted server may have loaded
/// other modules).
const KINDS_TTL: Duration = Duration::from_secs(3600);
/// The largest request head read.
const MAX_HEAD: usize = 8192;
/// The longest a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The exporter's settings.
pub(crate) struct Config {
    pub(crate) listen: SocketAddr,
    /// (name, URL) of every node.
    pub(crate) nodes: Vec<(String, String)>,
    pub(crate) options: Options,
    pub(crate) scrape_timeout: Duration,
    pub(crate) naming: MetricNaming,
    pub(crate) workers: usize,
}

/// One configured node.
struct Node {
    name: String,
    url: String,
    conn: Mutex<Option<Arc<Connection>>>,
    /// The statistic kinds, when known, and when they were asked.
    kinds: Mutex<Option<(Instant, Arc<StatKinds>)>>,
    /// The scrape in flight, shared by the requests that come meanwhile.
    job: Mutex<Option<Arc<Job>>>,
    /// The thread of the last scrape, joined before the next starts (one per node).
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A node's statistics, their kinds, and how long asking took.
type Scraped = (Statistics, Arc<StatKinds>, Duration);
type Outcome = Result<Scraped, String>;

/// One scrape of one node: its outcome and when it came, once there.
struct Job {
    done: Mutex<Option<(Outcome, Instant)>>,
    cv: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The exporter's own counters.
#[derive(Default)]
struct Health {
    scrapes_metrics: AtomicU64,
    scrapes_probe: AtomicU64,
    rejected: AtomicU64,
    node_errors: Mutex<BTreeMap<String, u64>>,
}

struct Exporter {
    nodes: Vec<Arc<Node>>,
    options: Options,
    scrape_timeout: Duration,
    naming: MetricNaming,
    health: Health,
}

impl Node {
    fn connection(&self, options: &Options) -> Result<Arc<Connection>, Error> {
        let mut slot = lock(&self.conn);
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let c = Arc::new(Connection::open_with(&self.url, options.clone())?);
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Asks the node: `get_statistics all`, and `list_statistics` unless cached. A server
    /// that does not have it (1.x) gets the fallback rule, remembered like an answer.
    fn scrape(&self, options: &Options) -> Outcome {
        let start = Instant::now();
        let conn = self.connection(options).map_err(|e| e.to_string())?;
        let stats = conn.get_statistics(&["all"]).map_err(|e| e.to_string())?;
        let cached = lock(&self.kinds)
            .as_ref()
            .filter(|(at, _)| at.elapsed() < KINDS_TTL)
            .map(|(_, k)| k.clone());
        let kinds = match cached {
            Some(k) => k,
            None => match conn.list_statistics() {
                Ok(k) => {
                    let k = Arc::new(k);
                    *lock(&self.kinds) = Some((Instant::now(), k.clone()));
                    k
                }
                // a server without list_statistics (1.x): the fallback rule, kept
                Err(_) if conn.server().is_ok_and(|f| !f.has_list_statistics()) => {
                    let k = Arc::new(StatKinds::default());
                    *lock(&self.kinds) = Some((Instant::now(), k.clone()));
                    k
                }
                // a passing failure: asked again next time
                Err(_) => Arc::new(StatKinds::default()),
            },
        };
        Ok((stats, kinds, start.elapsed()))
    }
}

impl Exporter {
    /// The node's current scrape, started if none is in flight.
    fn job(self: &Arc<Self>, node: &Arc<Node>) -> Arc<Job> {
        let mut slot = lock(&node.job);
        if let Some(j) = &*slot {
            return j.clone();
        }
        let job = Arc::new(Job {
            done: Mutex::new(None),
            cv: Condvar::new(),
        });
        // The last scrape's thread has emptied the slot: it is ending. Joined, so that a
        // node never has two; and the new one is recorded before it can empty the slot
        // (it needs the slot's lock, held here until then).
        let mut thread = lock(&node.thread);
        if let Some(t) = thread.take() {
            let _ = t.join();
        }
        let (me, node2, job2) = (self.clone(), node.clone(), job.clone());
        let spawned = std::thread::Builder::new()
            .name("exporter-scrape".into())
            .spawn(move || {
                let outcome = node2.scrape(&me.options);
                *lock(&node2.job) = None;
                *lock(&job2.done) = Some((outcome, Instant::now()));
                job2.cv.notify_all();
            });
        match spawned {
            Ok(t) => {
                *thread = Some(t);
                *slot = Some(job.clone());
            }
            Err(e) => {
                *lock(&job.done) =
                    Some((Err(format!("cannot start a thread: {e}")), Instant::now()));
            }
        }
        job
    }

    /// Every node of `nodes` asked at once; what each gave by `deadline`, and how long
    /// this scrape waited for it.
    fn scrape(
        self: &Arc<Self>,
        nodes: &[Arc<Node>],
        deadline: Instant,
    ) -> Vec<(Outcome, Duration)> {
        let started = Instant::now();
        let jobs: Vec<Arc<Job>> = nodes.iter().map(|n| self.job(n)).collect();
        let mut outcomes = Vec::with_capacity(nodes.len());
        for (job, node) in jobs.iter().zip(nodes) {
            let mut done = lock(&job.done);
            let (outcome, at) = loop {
                if let Some((o, at)) = &*done {
                    break (o.clone(), *at);
                }
                let now = Instant::now();
                if now >= deadline {
                    let e = format!(
                        "no answer within the scrape timeout ({:?})",
                        self.scrape_timeout
                    );
                    break (Err(e), deadline);
                }
                done = job
                    .cv
                    .wait_timeout(done, deadline - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            };
            drop(done);
            if let Err(e) = &outcome {
                log_error(&format!("{}: {e}", node.name));
                *lock(&self.health.node_errors)
                    .entry(node.name.clone())
                    .or_default() += 1;
            }
            outcomes.push((outcome, at.saturating_duration_since(started)));
        }
        outcomes
    }

    fn render(
        &self,
        nodes: &[Arc<Node>],
        outcomes: &[(Outcome, Duration)],
        labelled: bool,
        collect: &[String],
    ) -> String {
        let filtered: Vec<(Option<Scraped>, Duration)> = outcomes
            .iter()
            .map(|(o, waited)| {
                let up = o.as_ref().ok().map(|(s, k, d)| {
                    let s = if collect.is_empty() {
                        s.clone()
                    } else {
                        s.iter()
                            .filter(|(name, _)| collect.iter().any(|c| selects(c, name)))
                            .collect::<Statistics>()
                    };
                    (s, k.clone(), *d)
                });
                (up, *waited)
            })
            .collect();
        exposition(
            &self.naming,
            nodes.iter().zip(&filtered).map(|(n, o)| {
                let name = labelled.then_some(n.name.as_str());
                match o {
                    // the node's own time (a shared scrape may have started before this one)
                    (Some((s, k, d)), _) => NodeScrape::up(name, s, k).duration(*d),
                    // how long this scrape waited: until the error, or the deadline
                    (None, waited) => NodeScrape::down(name).duration(*waited),
                }
            }),
        )
    }

    fn health_text(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "# HELP opensips_exporter_build_info The opensips-mi exporter's version.\n\
             # TYPE opensips_exporter_build_info gauge\n\
             opensips_exporter_build_info{{version=\"{}\"}} 1\n\
             # HELP opensips_exporter_scrapes_total Requests served, by endpoint.\n\
             # TYPE opensips_exporter_scrapes_total counter\n\
             opensips_exporter_scrapes_total{{endpoint=\"metrics\"}} {}\n\
             opensips_exporter_scrapes_total{{endpoint=\"probe\"}} {}\n\
             # HELP opensips_exporter_rejected_requests_total Requests refused: busy, bad or unknown.\n\
             # TYPE opensips_exporter_rejected_requests_total counter\n\
             opensips_exporter_rejected_requests_total {}\n\
             # HELP opensips_exporter_node_errors_total Scrapes of a node that failed or ran out of time.\n\
             # TYPE opensips_exporter_node_errors_total counter\n",
            env!("CARGO_PKG_VERSION"),
            self.health.scrapes_metrics.load(Ordering::Relaxed),
            self.health.scrapes_probe.load(Ordering::Relaxed),
            self.health.rejected.load(Ordering::Relaxed),
        );
        let errors = lock(&self.health.node_errors);
        for n in &self.nodes {
            let _ = writeln!(
                out,
                "opensips_exporter_node_errors_total{{node=\"{}\"}} {}",
                escape_label(&n.name),
                errors.get(&n.name).copied().unwrap_or(0)
            );
        }
        out
    }

    /// Answers one request: (status, content type, body).
    fn handle(
        self: &Arc<Self>,
        method: &str,
        target: &str,
        scrape_timeout_header: Option<f64>,
    ) -> (&'static str, &'static str, String) {
        const TEXT: &str = "text/plain; charset=utf-8";
        const PROM: &str = "text/plain; version=0.0.4; charset=utf-8";
        if method != "GET" {
            self.health.rejected.fetch_add(1, Ordering::Relaxed);
            return ("405 Method Not Allowed", TEXT, "only GET\n".into());
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let params = query_params(query);
        let collect: Vec<String> = params
            .iter()
            .filter(|(k, _)| k == "collect[]" || k == "collect")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .collect();
        // Prometheus says how long it waits: answer a little before that
        let mut timeout = self.scrape_timeout;
        if let Some(t) = scrape_timeout_header.filter(|t| t.is_finite() && *t > 0.0) {
            let theirs = Duration::from_secs_f64((t - 0.5).max(t / 2.0).min(3600.0));
            timeout = timeout.min(theirs);
        }
        let deadline = Instant::now() + timeout;
        match path {
            "/metrics" => {
                self.health.scrapes_metrics.fetch_add(1, Ordering::Relaxed);
                let outcomes = self.scrape(&self.nodes, deadline);
                let mut body = self.render(&self.nodes, &outcomes, self.nodes.len() > 1, &collect);
                body.push_str(&self.health_text());
                ("200 OK", PROM, body)
            }
            "/probe" => {
                let Some(target) = params.iter().find(|(k, _)| k == "target").map(|(_, v)| v)
                else {
                    self.health.rejected.fetch_add(1, Ordering::Relaxed);
                    return ("400 Bad Request", TEXT, "missing ?target=NAME\n".into());
                };
                // only a configured node, by name or by its URL as shown (password as
                // `***`): never a URL from the query, and never a way to test a guessed
                // password against the configured one
                let Some(node) = self
                    .nodes
                    .iter()
                    .find(|n| n.name == *target || opensips_mi::redact_url(&n.url) == *target)
                else {
                    self.health.rejected.fetch_add(1, Ordering::Relaxed);
                    return (
                        "404 Not Found",
                        TEXT,
                        "unknown target: /probe asks configured nodes only (by name or URL)\n"
                            .into(),
                    );
                };
                self.health.scrapes_probe.fetch_add(1, Ordering::Relaxed);
                let nodes = [node.clone()];
                let outcomes = self.scrape(&nodes, deadline);
                (
                    "200 OK",
                    PROM,
                    self.render(&nodes, &outcomes, false, &collect),
                )
            }
            "/" => {
                let mut body = String::from(
                    "opensips-mi exporter\n\n/metrics        every node\n/probe?target=NAME  one configured node\n\
                     ?collect[]=GROUP: only these groups (repeat it)\n\nnodes:\n",
                );
                for n in &self.nodes {
                    let _ = writeln!(body, "  {}", n.name);
                }
                ("200 OK", TEXT, body)
            }
            _ => {
                self.health.rejected.fetch_add(1, Ordering::Relaxed);
                ("404 Not Found", TEXT, "not found: try /metrics\n".into())
            }
        }
    }
}

/// `collect[]` selectors: `core:` or `core` (a group), `core:rcv_requests` (one statistic).
fn selects(selector: &str, full: &str) -> bool {
    let group = full.split_once(':').map_or("", |(g, _)| g);
    match selector.strip_suffix(':') {
        Some(g) => g == group,
        None if selector.contains(':') => selector == full,
        None => selector == group,
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn log_error(e: &str) {
    // stderr goes to the journal under systemd
    eprintln!("opensips-mi exporter: {e}");
}

/// `a=1&b=x%3A` → pairs, percent-decoded (`+` is a space).
fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                // two hex digits exactly: from_str_radix alone takes "+1" (the URL fix in
                // the library's percent_decode)
                let hex = std::str::from_utf8(&b[i + 1..=i + 2])
                    .ok()
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a request head (up to the empty line) within [`HEAD_TIMEOUT`] in all, so that a
/// client sending a byte now and then cannot hold a worker.
fn read_head(stream: &mut TcpStream) -> Option<(String, String, Option<f64>)> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        let left = deadline.checked_duration_since(Instant::now())?;
        if buf.len() > MAX_HEAD || left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).ok()?;
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let timeout = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| {
            k.trim()
                .eq_ignore_ascii_case("X-Prometheus-Scrape-Timeout-Seconds")
        })
        .and_then(|(_, v)| v.trim().parse().ok());
    Some((method, target, timeout))
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .and_then(|()| stream.flush());
}

fn serve(exporter: &Arc<Exporter>, mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let Some((method, target, timeout)) = read_head(&mut stream) else {
        exporter.health.rejected.fetch_add(1, Ordering::Relaxed);
        respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            "bad request\n",
        );
        return;
    };
    let (status, ctype, body) = exporter.handle(&method, &target, timeout);
    respond(&mut stream, status, ctype, &body);
}

/// Runs the exporter until `stop` is raised.
pub(crate) fn run(cfg: Config, stop: Arc<AtomicBool>) -> Result<(), Failure> {
    let listener = TcpListener::bind(cfg.listen).map_err(|e| Failure {
        code: 3,
        message: format!("cannot listen on {}: {e}", cfg.listen),
    })?;
    listener.set_nonblocking(true).map_err(|e| Failure {
        code: 3,
        message: format!("listener: {e}"),
    })?;
    let addr = listener.local_addr().map_err(|e| Failure {
        code: 3,
        message: format!("listener: {e}"),
    })?;
    let exporter = Arc::new(Exporter {
        nodes: cfg
            .nodes
            .into_iter()
            .map(|(name, url)| {
                Arc::new(Node {
                    name,
                    url,
                    conn: Mutex::new(None),
                    kinds: Mutex::new(None),
                    job: Mutex::new(None),
                    thread: Mutex::new(None),
                })
            })
            .collect(),
        options: cfg.options,
        scrape_timeout: cfg.scrape_timeout,
        naming: cfg.naming,
        health: Health::default(),
    });
    let (tx, rx): (SyncSender<TcpStream>, Receiver<TcpStream>) =
        std::sync::mpsc::sync_channel(cfg.workers * 4);
    let rx = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..cfg.workers)
        .map(|_| {
            let (rx, exporter) = (rx.clone(), exporter.clone());
            std::thread::Builder::new()
                .name("exporter-http".into())
                .spawn(move || {
                    loop {
                        let next = lock(&rx).recv();
                        match next {
                            Ok(stream) => serve(&exporter, stream),
                            Err(_) => return,
                        }
                    }
                })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| Failure {
            code: 3,
            message: format!("cannot start the HTTP workers: {e}"),
        })?;
    eprintln!(
        "opensips-mi: exporter listening on http://{addr}/metrics ({} node{})",
        exporter.nodes.len(),
        if exporter.nodes.len() == 1 { "" } else { "s" }
    );
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                match tx.try_send(stream) {
                    Ok(()) => {}
                    Err(TrySendError::Full(mut s)) | Err(TrySendError::Disconnected(mut s)) => {
                        exporter.health.rejected.fetch_add(1, Ordering::Relaxed);
                        let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                        respond(&mut s, "503 Service Unavailable", "text/plain", "busy\n");
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let fd = std::os::fd::AsFd::as_fd(&listener);
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(
                    &mut fds,
                    nix::poll::PollTimeout::from(TICK.as_millis() as u16),
                );
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    // the requests being served finish; the queue is drained; then the workers end
    drop(tx);
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

/// The group mode from the command line.
pub(crate) fn group_mode(s: &str) -> Result<GroupMode, Failure> {
    s.parse().map_err(|e: Error| Failure::usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_selectors() {
        assert_eq!(
            query_params("collect%5B%5D=core%3A&collect[]=usrloc:&target=edge+1&x"),
            [
                ("collect[]".to_owned(), "core:".to_owned()),
                ("collect[]".to_owned(), "usrloc:".to_owned()),
                ("target".to_owned(), "edge 1".to_owned()),
                ("x".to_owned(), String::new()),
            ]
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("a%+1b"), "a% 1b"); // not "a\u{1}b"
        assert!(selects("core:", "core:rcv_requests"));
        assert!(selects("core", "core:rcv_requests"));
        assert!(selects("core:rcv_requests", "core:rcv_requests"));
        assert!(!selects("core:", "shmem:used_size"));
        assert!(selects("load:", "load:udp:127.0.0.1:5068-load"));
    }
}
