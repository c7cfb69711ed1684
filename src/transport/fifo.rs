//! `mi_fifo`: requests written to the server's FIFO, replies read from a FIFO of ours.
//!
//! The sequence follows what the real server needs (PROTOCOL.md §6.1):
//! 1. open the server FIFO `O_WRONLY|O_NONBLOCK` (no reader → `ENXIO` → "not running",
//!    never a hang; no `O_CREAT`, so `fs.protected_fifos` does not apply);
//! 2. `mkfifo` our reply FIFO in the server's `reply_dir` under a random name without `.`
//!    or `/`, mode `0622` (the server, maybe another user, can write; nobody else can read);
//! 3. open it `O_RDONLY|O_NONBLOCK` *before* writing (the server gives up after ~320 ms);
//! 4. write the request in one `write()` of at most 4096 bytes;
//! 5. poll and read under the deadline until one complete reply with our id is in;
//! 6. remove the reply FIFO on every path (a guard's `Drop`).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::Mode;
use std::os::fd::AsFd;

use super::{Deadline, Ready, random_token, wait_for};
use crate::protocol::jsonrpc::{self, IdGenerator, Scan};
use crate::protocol::{Generation, Protocol, ProtocolChoice, legacy};
use crate::{Cmd, Error, Response, Result};

/// mi_fifo reads requests through a 4096-byte buffer and drops anything longer.
pub const MAX_FIFO_REQUEST: usize = 4096;
/// mi_fifo refuses reply paths of 128 bytes or more (`MAX_MI_FILENAME`).
const MAX_REPLY_PATH: usize = 127;

/// A connection to OpenSIPS `mi_fifo`: JSON-RPC framing (3.x/4.x) or the legacy text
/// framing (1.x/2.x).
#[derive(Debug)]
pub struct FifoConnection {
    path: PathBuf,
    reply_dir: PathBuf,
    reply_name: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) protocol: ProtocolChoice,
    ids: IdGenerator,
    pub(crate) commands: crate::helpers::verify::CommandCache,
    /// Serializes calls when a fixed reply FIFO name is shared.
    fixed: Mutex<()>,
    max_reply: usize,
}

impl FifoConnection {
    pub(crate) fn new(
        path: PathBuf,
        reply_dir: PathBuf,
        reply_name: Option<String>,
        timeout: Duration,
        protocol: Protocol,
    ) -> Result<Self> {
        if let Some(name) = &reply_name {
            check_reply_name(name)?;
        }
        let longest = reply_dir.join(reply_name.as_deref().unwrap_or("osips_mi_0123456789abcdef"));
        if longest.as_os_str().len() > MAX_REPLY_PATH {
            return Err(Error::InvalidConfig(format!(
                "reply FIFO path {} is longer than the {MAX_REPLY_PATH} bytes mi_fifo accepts; \
                 use a shorter reply_dir",
                longest.display()
            )));
        }
        Ok(FifoConnection {
            path,
            reply_dir,
            reply_name,
            timeout,
            protocol: ProtocolChoice::new(protocol),
            commands: Default::default(),
            ids: IdGenerator::new(),
            fixed: Mutex::new(()),
            max_reply: crate::connection::DEFAULT_MAX_REPLY,
        })
    }

    pub(crate) fn with_max_reply(mut self, bytes: usize) -> Self {
        self.max_reply = bytes;
        self
    }

    /// The server FIFO path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory reply FIFOs are created in (the server's `reply_dir`).
    pub fn reply_dir(&self) -> &Path {
        &self.reply_dir
    }

    pub(crate) fn execute(&self, cmd: &Cmd) -> Result<Response> {
        cmd.validate()?;
        let generation = self.generation()?;
        let deadline = Deadline::after(cmd.get_timeout().unwrap_or(self.timeout));
        let _serial = self
            .reply_name
            .as_ref()
            .map(|_| self.fixed.lock().unwrap_or_else(|p| p.into_inner()));
        let name = match &self.reply_name {
            Some(n) => n.clone(),
            None => format!("osips_mi_{}", random_token()),
        };
        let (request, expect) = match generation {
            Generation::JsonRpc => {
                let id = self.ids.next_id();
                (
                    json_request(&name, cmd, id),
                    Expect::Json(id, cmd.decodes()),
                )
            }
            Generation::Legacy => {
                let request = legacy::encode_request(cmd.method(), cmd.params(), Some(&name))?;
                (request, Expect::Legacy)
            }
        };
        if request.len() > MAX_FIFO_REQUEST {
            return Err(Error::InvalidRequest(format!(
                "the request is {} bytes but mi_fifo reads at most {MAX_FIFO_REQUEST} bytes at once \
                 and silently drops longer requests; use the datagram or HTTP transport",
                request.len()
            )));
        }
        let server = self.open_server()?;
        let reply = ReplyFifo::create(&self.reply_dir, &name)?;
        write_request(&server, &request, &self.path, &deadline)?;
        drop(server);
        reply.read_reply(expect, &deadline, self.max_reply)
    }

    /// The generation to speak, detecting it (once) for [`Protocol::Auto`].
    pub(crate) fn generation(&self) -> Result<Generation> {
        self.protocol.resolve(|| self.detect())
    }

    /// Sends, in one write, a JSON-RPC `version` request followed by an empty line, then a
    /// legacy `version` request, each with its own reply FIFO; whichever is answered tells
    /// the generation. Neither generation is left in a bad state:
    /// * 3.x/4.x answers the JSON request and drops the rest of the buffer as invalid JSON
    ///   (without running anything);
    /// * 1.x/2.x takes the JSON line as a request whose reply name is invalid, consumes it
    ///   up to the empty line (without the empty line it would poison the next request,
    ///   fixture `2x/fifo/93`), then answers the legacy request.
    fn detect(&self) -> Result<Generation> {
        let deadline = Deadline::after(self.timeout);
        let (json_name, legacy_name) = (
            format!("osips_mi_{}", random_token()),
            format!("osips_mi_{}", random_token()),
        );
        let id = self.ids.next_id();
        let mut probe = json_request(&json_name, &Cmd::new("version"), id);
        probe.extend_from_slice(b"\n");
        probe.extend_from_slice(&legacy::encode_request(
            "version",
            &crate::Params::None,
            Some(&legacy_name),
        )?);
        let server = self.open_server()?;
        let json_fifo = ReplyFifo::create(&self.reply_dir, &json_name)?;
        let legacy_fifo = ReplyFifo::create(&self.reply_dir, &legacy_name)?;
        write_request(&server, &probe, &self.path, &deadline)?;
        drop(server);
        loop {
            let Some(left) = deadline.remaining() else {
                return Err(
                    Error::timeout(deadline.total(), "detecting the MI protocol").with_hint(
                        "neither a JSON-RPC nor a legacy probe was answered: is OpenSIPS' mi_fifo \
                     reading this FIFO, and is reply_dir its reply directory?",
                    ),
                );
            };
            let (json_ready, legacy_ready) = {
                let (Some(jf), Some(lf)) = (&json_fifo.file, &legacy_fifo.file) else {
                    return Err(Error::InvalidRequest("reply FIFO not open".into()));
                };
                let ms = u16::try_from(left.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
                let mut fds = [
                    PollFd::new(jf.as_fd(), PollFlags::POLLIN),
                    PollFd::new(lf.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(0) | Err(Errno::EINTR) => continue,
                    Ok(_) => {}
                    Err(e) => return Err(Error::io("waiting for the protocol probe", e.into())),
                }
                let ready = |f: &PollFd<'_>| !f.revents().unwrap_or(PollFlags::empty()).is_empty();
                (ready(&fds[0]), ready(&fds[1]))
            };
            if json_ready {
                return match json_fifo.read_reply(
                    Expect::Json(id, false),
                    &deadline,
                    self.max_reply,
                ) {
                    Ok(_) | Err(Error::Rpc(_) | Error::Command(_)) => Ok(Generation::JsonRpc),
                    Err(e) => Err(e),
                };
            }
            if legacy_ready {
                return match legacy_fifo.read_reply(Expect::Legacy, &deadline, self.max_reply) {
                    Ok(_) | Err(Error::Command(_)) => Ok(Generation::Legacy),
                    Err(e) => Err(e),
                };
            }
        }
    }

    fn open_server(&self) -> Result<File> {
        let file = OpenOptions::new()
            .write(true)
            .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
            .open(&self.path)
            .map_err(|e| match Errno::from_raw(e.raw_os_error().unwrap_or(0)) {
                Errno::ENOENT => Error::NotFound {
                    kind: "FIFO",
                    path: self.path.clone(),
                    hint: "is OpenSIPS running with mi_fifo, and is this its fifo_name?",
                },
                Errno::ENXIO => Error::NotRunning {
                    endpoint: format!("fifo://{}", self.path.display()),
                    reason: "the FIFO exists but no process reads it (OpenSIPS is stopped, or \
                             its MI FIFO process died)"
                        .into(),
                },
                Errno::EACCES | Errno::EPERM => Error::PermissionDenied {
                    path: self.path.clone(),
                    hint: "the FIFO's owner and mode (mi_fifo fifo_mode, fifo_user, fifo_group) \
                           must let this user write; run as the opensips user or a member of \
                           its group. In a sticky directory such as /tmp, fs.protected_fifos \
                           can also refuse FIFOs of other users",
                },
                _ => Error::io(format!("opening FIFO {}", self.path.display()), e),
            })?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("checking {}", self.path.display()), e))?;
        if !meta.file_type().is_fifo() {
            return Err(Error::InvalidConfig(format!(
                "{} is not a FIFO (is it OpenSIPS' mi_fifo fifo_name?)",
                self.path.display()
            )));
        }
        Ok(file)
    }
}

/// `:reply_name:{json}\n`
fn json_request(name: &str, cmd: &Cmd, id: u32) -> Vec<u8> {
    let body = jsonrpc::encode_request(cmd.method(), cmd.params(), id);
    let mut request = Vec::with_capacity(body.len() + name.len() + 3);
    request.push(b':');
    request.extend_from_slice(name.as_bytes());
    request.push(b':');
    request.extend_from_slice(&body);
    request.push(b'\n');
    request
}

/// What a reply FIFO should deliver.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// One JSON-RPC reply with this id (stale ones skipped), its result decoded or not.
    Json(u32, bool),
    /// One legacy text reply, complete at EOF.
    Legacy,
}

fn check_reply_name(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['.', '/', '\\', ':', '\n', '\0']) {
        return Err(Error::InvalidConfig(format!(
            "reply FIFO name {name:?} is not allowed: it must be non-empty, without '.', '/', \
             '\\' or ':' (mi_fifo drops requests whose reply name has them, and never answers)"
        )));
    }
    Ok(())
}

/// One write of the whole request (≤ PIPE_BUF, so it is atomic), waiting for room under the
/// deadline.
fn write_request(server: &File, request: &[u8], path: &Path, deadline: &Deadline) -> Result<()> {
    let mut w = server;
    loop {
        match w.write(request) {
            Ok(n) if n == request.len() => return Ok(()),
            Ok(n) => {
                return Err(Error::io(
                    format!("writing to {}", path.display()),
                    std::io::Error::new(
                        ErrorKind::WriteZero,
                        format!("short write ({n} of {})", request.len()),
                    ),
                ));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                match wait_for(server, PollFlags::POLLOUT, deadline) {
                    Ok(Ready::Yes { .. }) => continue,
                    Ok(Ready::TimedOut) => {
                        return Err(Error::timeout(deadline.total(), "writing the request")
                            .with_hint("the server FIFO is full: OpenSIPS is not reading it"));
                    }
                    Err(e) => {
                        return Err(Error::io(format!("waiting to write {}", path.display()), e));
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(Errno::EPIPE as i32) => {
                return Err(Error::NotRunning {
                    endpoint: format!("fifo://{}", path.display()),
                    reason: "the reader went away while writing".into(),
                });
            }
            Err(e) => return Err(Error::io(format!("writing to {}", path.display()), e)),
        }
    }
}

/// Our reply FIFO; removed when dropped, whatever happened.
struct ReplyFifo {
    path: PathBuf,
    file: Option<File>,
}

impl ReplyFifo {
    fn create(dir: &Path, name: &str) -> Result<ReplyFifo> {
        let path = dir.join(name);
        let mode = Mode::from_bits_truncate(0o622);
        match nix::unistd::mkfifo(&path, mode) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                // A fixed reply name left behind by a crashed run: replace it if it is a FIFO.
                let stale = std::fs::symlink_metadata(&path)
                    .map(|m| m.file_type().is_fifo())
                    .unwrap_or(false);
                if !stale {
                    return Err(Error::InvalidConfig(format!(
                        "{} exists and is not a FIFO; choose another reply FIFO name",
                        path.display()
                    )));
                }
                let _ = std::fs::remove_file(&path);
                nix::unistd::mkfifo(&path, mode).map_err(|e| mkfifo_error(dir, &path, e))?;
            }
            Err(e) => return Err(mkfifo_error(dir, &path, e)),
        }
        let mut me = ReplyFifo { path, file: None };
        // mkfifo's mode is reduced by the umask: set it explicitly.
        std::fs::set_permissions(&me.path, std::fs::Permissions::from_mode(0o622))
            .map_err(|e| Error::io(format!("setting the mode of {}", me.path.display()), e))?;
        let file = OpenOptions::new()
            .read(true)
            .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
            .open(&me.path)
            .map_err(|e| Error::io(format!("opening reply FIFO {}", me.path.display()), e))?;
        me.file = Some(file);
        Ok(me)
    }

    /// Reads until the reply to `id` is complete, or the deadline.
    fn read_reply(
        mut self,
        expect: Expect,
        deadline: &Deadline,
        max_reply: usize,
    ) -> Result<Response> {
        let Some(file) = self.file.take() else {
            return Err(Error::InvalidRequest("reply FIFO not open".into()));
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        // Buffer length at the last scan: a large reply arrives in many chunks, and scanning
        // the whole buffer after each one would be quadratic.
        let mut scanned = usize::MAX;
        loop {
            match wait_for(&file, PollFlags::POLLIN, deadline) {
                Ok(Ready::TimedOut) => break,
                Ok(Ready::Yes { .. }) => {}
                Err(e) => return Err(Error::io(format!("waiting for {}", self.path.display()), e)),
            }
            let mut eof = false;
            loop {
                match (&file).read(&mut chunk) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        if buf.len() > max_reply {
                            return Err(Error::malformed(
                                format!("the reply exceeds {max_reply} bytes (Options::max_reply)"),
                                &buf,
                            ));
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io(format!("reading {}", self.path.display()), e)),
                }
            }
            // A reply ends when the writer closes (EOF); a JSON reply also ends in '}', which
            // matters when several replies share a fixed reply FIFO.
            let grew = buf.len() != scanned;
            if !grew || !(eof || ends_with_brace(&buf)) {
                if eof {
                    // The writer is gone but the reply is not complete: async replies reopen
                    // the FIFO for each 4 KB, and the FIFO reports hang-up until the next
                    // writer, so pause instead of spinning.
                    std::thread::sleep(Duration::from_millis(2));
                }
                continue;
            }
            scanned = buf.len();
            let (id, decode) = match expect {
                Expect::Json(id, decode) => (id, decode),
                Expect::Legacy if !eof => continue,
                Expect::Legacy if buf.is_empty() => {
                    return Err(Error::MalformedReply {
                        reason: "OpenSIPS closed the reply FIFO without sending anything".into(),
                        excerpt: String::new(),
                    });
                }
                // The legacy reply has no id and no end marker of its own: EOF ends it.
                Expect::Legacy => return legacy::decode_reply(&buf),
            };
            match jsonrpc::scan_with(&buf, id, false, decode) {
                Scan::Found { result, range } => {
                    return result.map(|r| jsonrpc::with_raw(r, buf, range));
                }
                Scan::Failed(e) => return Err(e),
                Scan::Incomplete { json: false } if eof => {
                    if buf.is_empty() {
                        return Err(Error::MalformedReply {
                            reason: "OpenSIPS closed the reply FIFO without sending anything"
                                .into(),
                            excerpt: String::new(),
                        });
                    }
                    // Text that is not JSON, and the writer is gone: it is final.
                    return match jsonrpc::scan(&buf, id, true) {
                        Scan::Failed(e) => Err(e),
                        _ => Err(Error::malformed("expected a JSON-RPC object", &buf)),
                    };
                }
                // Incomplete (more to come) or only stale replies so far: keep reading.
                Scan::Incomplete { .. } | Scan::OnlyStale => {}
            }
        }
        // Deadline passed.
        if buf.iter().all(u8::is_ascii_whitespace) {
            Err(
                Error::timeout(deadline.total(), "waiting for the reply").with_hint(
                    "OpenSIPS took the request but did not answer: it drops requests that are not \
                 valid JSON-RPC, and slow or async commands (t_uac_dlg) need a longer timeout",
                ),
            )
        } else {
            let Expect::Json(id, decode) = expect else {
                return Err(Error::malformed(
                    format!(
                        "the reply was cut short: still incomplete when the {:.3}s timeout expired",
                        deadline.total().as_secs_f64()
                    ),
                    &buf,
                ));
            };
            match jsonrpc::scan_with(&buf, id, false, decode) {
                Scan::Found { result, range } => result.map(|r| jsonrpc::with_raw(r, buf, range)),
                Scan::Failed(e) => Err(e),
                Scan::Incomplete { json: true } => Err(Error::malformed(
                    format!(
                        "the reply was cut short: still incomplete when the {:.3}s timeout expired",
                        deadline.total().as_secs_f64()
                    ),
                    &buf,
                )),
                Scan::Incomplete { json: false } => match jsonrpc::scan(&buf, id, true) {
                    Scan::Failed(e) => Err(e),
                    _ => Err(Error::malformed("expected a JSON-RPC object", &buf)),
                },
                Scan::OnlyStale => Err(Error::timeout(deadline.total(), "waiting for the reply")
                    .with_hint("only stale replies to earlier requests arrived")),
            }
        }
    }
}

/// `true` if the last non-whitespace byte is `}`.
fn ends_with_brace(buf: &[u8]) -> bool {
    buf.iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'}')
}

fn mkfifo_error(dir: &Path, path: &Path, e: Errno) -> Error {
    match e {
        Errno::EACCES | Errno::EPERM | Errno::EROFS => Error::PermissionDenied {
            path: dir.to_path_buf(),
            hint: "the reply FIFO is created in the server's reply_dir (mi_fifo reply_dir, \
                   default /tmp/); this user must be able to create files there",
        },
        Errno::ENOENT => Error::InvalidConfig(format!(
            "reply directory {} does not exist (it must be mi_fifo's reply_dir)",
            dir.display()
        )),
        other => Error::io(
            format!("creating reply FIFO {}", path.display()),
            other.into(),
        ),
    }
}

impl Drop for ReplyFifo {
    fn drop(&mut self) {
        self.file = None;
        let _ = std::fs::remove_file(&self.path);
    }
}
