//! A small pool of connections to one endpoint, for many threads at once.

use std::ops::Deref;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Cmd, Connection, ConnectionLike, Error, Options, Protocol, Response, Result};

/// Up to `size` connections to one endpoint, opened on demand and reused.
///
/// Every [`Connection`] is `Send + Sync` and can itself be shared (`Arc<Connection>`): FIFO
/// and HTTP calls then run in parallel, but a datagram connection owns one socket and runs
/// one call at a time. A `Pool` gives each concurrent caller its own connection (its own
/// reply socket), up to `size`; a caller that finds all of them busy waits for one, at most
/// the connection timeout, then gets [`Error::Timeout`].
///
/// `Pool` is a [`ConnectionLike`], so commands, helpers ([`MiCommands`](crate::MiCommands))
/// and SIP requests run on it directly.
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use std::sync::Arc;
/// use opensips_mi::{MiCommands, Pool};
/// let server = opensips_mi::mock::MockServer::start()?;
/// let pool = Arc::new(Pool::open(&server.udp_url().unwrap(), 4)?);
/// let workers: Vec<_> = (0..8)
///     .map(|_| {
///         let pool = pool.clone();
///         std::thread::spawn(move || pool.uptime().map(|u| u.up_time))
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap()?;
/// }
/// assert!(pool.connections() <= 4);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool {
    url: String,
    options: Options,
    /// The protocol one of its connections knows (given in the URL, or detected): the next
    /// ones need no probe, and `protocol()` no connection.
    detected: std::sync::OnceLock<Protocol>,
    /// The `which` answers, shared by every connection (see [`Connection::verify`]).
    commands: crate::session::CommandCache,
    size: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

struct PoolState {
    idle: Vec<Connection>,
    open: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("url", &crate::redact_url(&self.url))
            .field("max_size", &self.size)
            .field("connections", &self.connections())
            .finish()
    }
}

impl Pool {
    /// A pool of at most `size` connections to `url` (see [`Connection::open`]). One
    /// connection is opened now, so a bad URL fails here.
    ///
    /// # Errors
    ///
    /// As [`Connection::open`]; [`Error::InvalidConfig`] for a size of 0.
    pub fn open(url: &str, size: usize) -> Result<Pool> {
        Self::open_with(url, size, Options::default())
    }

    /// Like [`Pool::open`], with [`Options`] (URL parameters override them).
    ///
    /// # Errors
    ///
    /// As [`Pool::open`].
    pub fn open_with(url: &str, size: usize, options: impl Into<Options>) -> Result<Pool> {
        let options = options.into();
        if size == 0 {
            return Err(Error::invalid_config(
                "a pool needs at least one connection",
            ));
        }
        let first = Connection::open_with(url, options.clone())?;
        Ok(Pool {
            url: url.to_owned(),
            options,
            detected: std::sync::OnceLock::new(),
            commands: crate::session::CommandCache::default(),
            size,
            state: Mutex::new(PoolState {
                idle: vec![first],
                open: 1,
            }),
            freed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a connection for the caller's exclusive use: an idle one, a new one while
    /// fewer than `size` are open, or the next one returned, waiting at most the
    /// connection timeout. It goes back to the pool when the guard is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when all `size` connections stay busy; errors opening a new one.
    pub fn get(&self) -> Result<PooledConnection<'_>> {
        let deadline = Instant::now() + self.options.timeout;
        let mut st = self.lock();
        loop {
            if let Some(conn) = st.idle.pop() {
                return Ok(PooledConnection {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if st.open < self.size {
                st.open += 1;
                drop(st);
                let mut options = self.options.clone();
                if let Some(p) = self.detected.get() {
                    options.protocol = *p;
                }
                return match Connection::open_with(&self.url, options) {
                    Ok(conn) => Ok(PooledConnection {
                        pool: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    duration: self.options.timeout,
                    waiting_for: "a free connection in the pool".into(),
                    hint: Some(
                        "every pooled connection stayed busy: raise the pool size or the timeout"
                            .into(),
                    ),
                });
            }
            st = self
                .freed
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// How many connections the pool holds now (idle or in use), at most
    /// [`Pool::max_size`].
    pub fn connections(&self) -> usize {
        self.lock().open
    }

    /// The most connections the pool opens (its maximum size).
    pub fn max_size(&self) -> usize {
        self.size
    }

    /// The timeout of each connection (and of waiting for a free one).
    pub fn timeout(&self) -> Duration {
        self.options.timeout
    }

    /// The MI protocol the pool's connections speak (see [`Connection::protocol`]).
    ///
    /// # Errors
    ///
    /// As [`Connection::protocol`].
    pub fn protocol(&self) -> Result<Protocol> {
        // known without a connection: given, or detected by one already
        match (self.options.protocol, self.detected.get()) {
            (Protocol::Auto, None) => self.get()?.protocol(),
            (Protocol::Auto, Some(p)) => Ok(*p),
            (given, _) => Ok(given),
        }
    }

    /// What is known about the server (see [`Connection::server`]).
    ///
    /// # Errors
    ///
    /// As [`Connection::server`].
    pub fn server(&self) -> Result<crate::server::ServerFacts> {
        self.get()?.server()
    }
}

impl ConnectionLike for Pool {
    fn execute(&self, cmd: &Cmd) -> Result<Response> {
        self.get()?.execute(cmd)
    }

    fn server(&self) -> Result<crate::server::ServerFacts> {
        self.get()?.server()
    }

    fn wire_protocol(&self) -> Result<Protocol> {
        Pool::protocol(self)
    }

    fn server_owner(&self) -> Option<(u32, u32)> {
        self.get().ok()?.server_owner()
    }

    fn command_exists(&self, name: &str) -> Result<bool> {
        self.commands
            .exists(name, || crate::connection::verify::ask_exists(self, name))
    }

    fn command_names(&self) -> Result<Vec<String>> {
        self.commands.names(|| crate::MiCommands::which(self))
    }
}

/// A connection taken from a [`Pool`]; returned to it on drop.
pub struct PooledConnection<'a> {
    pool: &'a Pool,
    conn: Option<Connection>,
}

impl std::fmt::Debug for PooledConnection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PooledConnection").field(&self.conn).finish()
    }
}

impl Deref for PooledConnection<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // `conn` is only taken in drop
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if let Some(p) = conn.known_protocol() {
                let _ = self.pool.detected.set(p);
            }
            self.pool.lock().idle.push(conn);
            self.pool.freed.notify_one();
        }
    }
}
