//! [`Fleet`]: one command to many OpenSIPS servers at once, of any generation.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::url::redact_url;
use crate::{Connection, Error, Options, Params, Response, Result};

/// Several MI endpoints — registrars, a front proxy, edge nodes, of mixed generations
/// during an upgrade — asked together.
///
/// Each node has its own URL (and so its own transport, timeout and `?protocol=`, `auto`
/// included). [`Fleet::command`] and [`Fleet::run`] ask every node concurrently (at most
/// [`Fleet::max_threads`] at a time), each under its own timeout, and return one
/// [`NodeResult`] (name, result) per node in the order given: a dead node is an error in its slot,
/// the others still answer, and the whole call takes about as long as the slowest node.
///
/// A node's name (see [`Fleet::names`]) is the one given in a fleet file (`edge1
/// http://…`), else its URL with any password hidden (`http://user:***@host/mi`): names
/// go to output and logs, credentials never do.
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use opensips_mi::{Fleet, MiCommands};
/// use opensips_mi::mock::{Flavor, MockServer};
/// let v2 = MockServer::builder().flavor(Flavor::V2).udp().start()?;
/// let v3 = MockServer::builder().udp().start()?;
/// let fleet = Fleet::open([
///     format!("{}?protocol=auto", v2.udp_url().unwrap()),
///     v3.udp_url().unwrap(),
///     "udp://127.0.0.1:9?timeout=200ms".to_owned(), // nobody there
/// ]);
/// let answers = fleet.run(|conn| conn.uptime());
/// assert!(answers[0].result.is_ok() && answers[1].result.is_ok());
/// assert_eq!(answers[2].node, "udp://127.0.0.1:9?timeout=200ms");
/// assert!(answers[2].result.is_err());
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Fleet {
    nodes: Vec<Node>,
    options: Options,
    max_threads: usize,
    /// [`Fleet::timeout`]: every node's timeout, whatever its URL says.
    timeout: Option<Duration>,
}

/// One node's answer to [`Fleet::run`] or [`Fleet::command`].
#[derive(Debug)]
#[non_exhaustive]
pub struct NodeResult<T> {
    /// The node's name ([`Fleet::names`]): the fleet file's, else its URL with any password
    /// hidden. Never a credential: safe to print.
    pub node: String,
    /// What the node answered, or why it could not.
    pub result: Result<T>,
}

struct Node {
    /// The URL as given (credentials included: it opens the connection again).
    url: String,
    /// The name shown: the fleet file's, else the URL with its password replaced by `***`.
    name: String,
    /// The open connection; `None` when opening failed (tried again at each call, so
    /// that the error lands in the node's slot).
    conn: Option<Connection>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("url", &self.name)
            .field("conn", &self.conn)
            .finish()
    }
}

impl Fleet {
    /// A fleet of these URLs with default options. Nothing fails here: a URL that cannot
    /// be opened gives its error in its slot at each call.
    pub fn open<S: AsRef<str>>(urls: impl IntoIterator<Item = S>) -> Fleet {
        Fleet::open_with(urls, Options::default())
    }

    /// As [`Fleet::open`], starting each node from `options` (its URL's parameters
    /// override them).
    pub fn open_with<S: AsRef<str>>(
        urls: impl IntoIterator<Item = S>,
        options: impl Into<Options>,
    ) -> Fleet {
        let options = options.into();
        let named = urls
            .into_iter()
            .map(|u| (None::<String>, u.as_ref().trim().to_owned()));
        Fleet::with_names(named, options)
    }

    fn with_names(
        named: impl IntoIterator<Item = (Option<String>, String)>,
        options: Options,
    ) -> Fleet {
        let nodes: Vec<Node> = named
            .into_iter()
            .map(|(name, url)| {
                let conn = Connection::open_with(&url, options.clone()).ok();
                let name = name.unwrap_or_else(|| redact_url(&url));
                Node { url, name, conn }
            })
            .collect();
        Fleet {
            max_threads: nodes.len().clamp(1, 16),
            nodes,
            options,
            timeout: None,
        }
    }

    /// A fleet from a file of URLs: one per line, blank lines and `#` comments skipped. A
    /// line may name its node first: `edge1 http://user:secret@10.0.0.1:8888/mi`.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::Fleet;
    /// let server = opensips_mi::mock::MockServer::start()?;
    /// let dir = tempfile::tempdir()?;
    /// let file = dir.path().join("fleet");
    /// std::fs::write(&file, format!("# the registrars\nreg1 {}\nhttp://ops:s3cret@127.0.0.1:9/mi\n", server.udp_url().unwrap()))?;
    /// let fleet = Fleet::from_file(&file)?;
    /// assert_eq!(fleet.names(), ["reg1", "http://ops:***@127.0.0.1:9/mi"]);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] if the file cannot be read, lists no URL, has a line of more
    /// than two words or gives one name twice.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Fleet> {
        Fleet::from_file_with(path, Options::default())
    }

    /// As [`Fleet::from_file`], starting each node from `options` (its URL's parameters
    /// override them).
    ///
    /// # Errors
    ///
    /// As [`Fleet::from_file`].
    pub fn from_file_with(path: impl AsRef<Path>, options: impl Into<Options>) -> Result<Fleet> {
        let options = options.into();
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid_config(format!("cannot read fleet file {}: {e}", path.display()))
        })?;
        let mut named: Vec<(Option<String>, String)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            // a comment starts with a word that starts with '#' (a '#' inside a URL, e.g.
            // in a password, is not one)
            let words: Vec<&str> = line
                .split_whitespace()
                .take_while(|w| !w.starts_with('#'))
                .collect();
            let entry = match words[..] {
                [] => continue,
                [url] => (None, url.to_owned()),
                // a name is a plain word: never a URL (`URL NAME` written the wrong way round
                // would show the URL, password and all, as the name)
                [name, url] if !name.contains("://") && !name.contains('@') => {
                    (Some(name.to_owned()), url.to_owned())
                }
                _ => {
                    return Err(Error::invalid_config(format!(
                        "fleet file {} line {}: expected `URL` or `NAME URL` (a name without \
                         `://` or `@`)",
                        path.display(),
                        i + 1
                    )));
                }
            };
            if let Some(name) = &entry.0 {
                if named.iter().any(|(n, _)| n.as_ref() == Some(name)) {
                    return Err(Error::invalid_config(format!(
                        "fleet file {} line {}: the name {name:?} is given twice",
                        path.display(),
                        i + 1
                    )));
                }
            }
            named.push(entry);
        }
        if named.is_empty() {
            return Err(Error::invalid_config(format!(
                "fleet file {} lists no URL",
                path.display()
            )));
        }
        Ok(Fleet::with_names(named, options))
    }

    /// Every node's timeout, replacing its URL's `?timeout=` (as the command line's `-t`
    /// does; the rule is in [`Connection::open`]).
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use std::time::Duration;
    /// use opensips_mi::{Fleet, mock::MockServer};
    /// let server = MockServer::builder().udp().start()?;
    /// let fleet = Fleet::open([format!("{}?timeout=30", server.udp_url().unwrap())])
    ///     .timeout(Duration::from_secs(2));
    /// let answers = fleet.run(|conn| Ok(conn.timeout()));
    /// assert_eq!(answers[0].result.as_ref().ok(), Some(&Duration::from_secs(2)));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        for conn in self.nodes.iter_mut().filter_map(|n| n.conn.as_mut()) {
            conn.set_timeout(timeout);
        }
        self.timeout = Some(timeout);
        self
    }

    /// How many nodes are asked at the same time (default: all of them, at most 16).
    #[must_use]
    pub fn max_threads(mut self, n: usize) -> Self {
        self.max_threads = n.max(1);
        self
    }

    /// The nodes' URLs, in order, as given: they may hold credentials (a password in
    /// the URL), so they are for connecting, not for output; [`Fleet::names`] is the
    /// safe form to show.
    pub fn urls(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.url.as_str()).collect()
    }

    /// The nodes' names, in order: the name a fleet file gives, else the URL with its
    /// password hidden ([`redact_url`]). Safe to print.
    pub fn names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `true` for a fleet without nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Runs `method` with `params` on every node.
    pub fn command(&self, method: &str, params: impl Into<Params>) -> Vec<NodeResult<Response>> {
        let params = params.into();
        self.run(|conn| conn.command(method, params.clone()))
    }

    /// Runs `f` with each node's connection, concurrently; one [`NodeResult`] per node, in
    /// the order given (the name of [`Fleet::names`]).
    pub fn run<T, F>(&self, f: F) -> Vec<NodeResult<T>>
    where
        T: Send,
        F: Fn(&Connection) -> Result<T> + Sync,
    {
        let next = AtomicUsize::new(0);
        let mut slots: Vec<Option<Result<T>>> = (0..self.nodes.len()).map(|_| None).collect();
        let workers = self.max_threads.min(self.nodes.len()).max(1);
        let done: Vec<Vec<(usize, Result<T>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(node) = self.nodes.get(i) else {
                                return mine;
                            };
                            mine.push((i, self.ask(node, &f)));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (i, r) in done.into_iter().flatten() {
            slots[i] = Some(r);
        }
        self.nodes
            .iter()
            .zip(slots)
            .map(|(node, r)| {
                let r = r.unwrap_or_else(|| {
                    Err(Error::invalid_config(
                        "the worker thread asking this node stopped",
                    ))
                });
                NodeResult {
                    node: node.name.clone(),
                    result: r,
                }
            })
            .collect()
    }

    fn ask<T>(&self, node: &Node, f: &impl Fn(&Connection) -> Result<T>) -> Result<T> {
        match &node.conn {
            Some(conn) => f(conn),
            // opening failed before: try again, so that the error is this call's
            None => {
                let mut conn = Connection::open_with(&node.url, self.options.clone())?;
                if let Some(t) = self.timeout {
                    conn.set_timeout(t);
                }
                f(&conn)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_are_errors_in_their_slot() {
        let fleet = Fleet::open(["nope://x", "udp://127.0.0.1"]);
        let r = fleet.command("uptime", ());
        assert_eq!(r.len(), 2);
        assert!(matches!(r[0].result, Err(Error::InvalidConfig { .. })));
        assert!(
            r[1].result
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("missing port")
        );
        assert_eq!(fleet.urls(), ["nope://x", "udp://127.0.0.1"]);
    }
}
