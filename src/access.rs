//! Who may reach what the client makes on the host, and whom it trusts there.
//!
//! OpenSIPS often runs as its own user (`opensips`) while the client runs as root or as a
//! member of the server's group, and other local users must not be able to write into the
//! client's reply FIFOs and sockets (they would forge answers) nor plant a FIFO or socket
//! where the client expects the server (it would read the requests). So:
//!
//! * reply FIFOs and sockets are created private (0600) and checked through a descriptor
//!   (`O_NOFOLLOW`, `fstat`: ours, of the right type), then widened *through that
//!   descriptor*, never by name, only as far as the server needs ([`Grant`]): nothing when
//!   the server runs as us, the server's group when we are a member of it (0620), the
//!   server's user and group when we are root (0620), and the world (0622) only when
//!   nothing else can let the server in, with a warning (and an option to refuse);
//! * reply sockets live in a private directory of their own with an unpredictable name, so
//!   no other user can swap a path under the client between two steps;
//! * a server FIFO or socket in a directory every user can write (`/tmp`) must belong to
//!   root, to us, or to the server user ([`Trust`]); a squatter's is refused;
//! * datagrams on a unix socket carry their sender's credentials, and only the server's
//!   (or root's, or our own) are taken.

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use crate::transport::random_token;
use crate::{Error, Result};

/// Every reply FIFO and private directory alive in this process, for
/// [`remove_reply_files`].
static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Creates `path` with `make` and notes it, both under the lock of [`remove_reply_files`]:
/// a signal handler's cleanup either finds it noted or runs before it exists.
pub(crate) fn create_tracked(path: &Path, make: impl FnOnce() -> Result<()>) -> Result<()> {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    make()?;
    live.push(path.to_path_buf());
    Ok(())
}

/// Forgets a reply FIFO or private directory about to be removed.
pub(crate) fn untrack(path: &Path) {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = live.iter().rposition(|p| p == path) {
        live.swap_remove(i);
    }
}

/// Removes every reply FIFO, reply socket and private directory the connections of this
/// process have on disk now.
///
/// They are removed anyway when their connection is dropped; call this where drops do not
/// run: in a signal handler thread before `std::process::exit` (as the `opensips-mi`
/// command does on SIGINT/SIGTERM), so that an interrupted program leaves nothing in the
/// server's `reply_dir`. Calls in flight then fail (their reply FIFO is gone).
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use opensips_mi::{cmd, Connection};
/// let server = opensips_mi::mock::MockServer::builder().fifo().start()?;
/// let conn = Connection::open(&server.fifo_url().unwrap())?;
/// cmd("uptime").query(&conn)?; // its reply FIFO is kept for the next call
/// opensips_mi::remove_reply_files();
/// let left = std::fs::read_dir(server.reply_dir())?
///     .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with("osips_mi_")))
///     .count();
/// assert_eq!(left, 0);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn remove_reply_files() {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|p| p.into_inner()));
    let euid = nix::unistd::geteuid().as_raw();
    for path in live {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                // through the directory's descriptor, never by a name that could have been
                // swapped for a link meanwhile
                let Ok(dir) = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags_nofollow_dir()
                    .open(&path)
                else {
                    continue;
                };
                if !dir.metadata().is_ok_and(|m| m.uid() == euid) {
                    continue;
                }
                // a call in flight may bind its socket in it meanwhile: empty it again then
                for _ in 0..5 {
                    if let Ok(entries) =
                        std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))
                    {
                        for e in entries.flatten() {
                            let _ = nix::unistd::unlinkat(
                                dir.as_fd(),
                                e.file_name().as_os_str(),
                                nix::unistd::UnlinkatFlags::NoRemoveDir,
                            );
                        }
                    }
                    match std::fs::remove_dir(&path) {
                        Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                        _ => break,
                    }
                }
            }
            Ok(m) if m.uid() == euid || m.file_type().is_fifo() => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
}

/// The user and group that own the server's FIFO or socket: who OpenSIPS runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl Peer {
    pub(crate) fn of(meta: &Metadata) -> Peer {
        Peer {
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }
}

/// How far a reply FIFO or socket is opened so that the server can write to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    /// Only our user (0600): the server runs as us, or as root, who needs no permission.
    Owner,
    /// Our user and the server's group, of which we are a member (0620).
    Group(u32),
    /// We are root: the object is given to the server's user and group (0620).
    Give { uid: u32, gid: u32 },
    /// Every user may write (0622): nothing narrower lets the server in.
    World,
}

impl Grant {
    /// The narrowest grant that lets a server owning `server` (its FIFO or socket) write
    /// to what we make; `World` only if `allow_world`, else an error that says what to
    /// change. Root gives it to the user OpenSIPS runs as (`trust`'s server user, else the
    /// endpoint's owner) and the endpoint's group.
    pub(crate) fn for_server(server: Peer, trust: &Trust, allow_world: bool) -> Result<Grant> {
        let euid = trust.euid;
        let grant = if euid == 0 {
            let uid = trust.server_uid.unwrap_or(server.uid);
            if uid == 0 && server.gid == 0 {
                Grant::Owner
            } else {
                Grant::Give {
                    uid,
                    gid: server.gid,
                }
            }
        } else if server.uid == euid && trust.server_uid.is_none_or(|u| u == euid) {
            Grant::Owner
        } else if in_group(server.gid) {
            Grant::Group(server.gid)
        } else if server.uid == euid || (server.uid == 0 && server.gid == 0) {
            // ours, or a root-owned endpoint in a group we are not in (the server runs as
            // root, which needs no permission to write)
            Grant::Owner
        } else {
            Grant::World
        };
        if grant == Grant::World {
            if !allow_world {
                return Err(Error::invalid_config(format!(
                    "the server runs as uid {} / gid {}, and this user (uid {euid}) is neither \
                     that user nor a member of that group: its replies could only reach a \
                     reply FIFO or socket every local user can write to, which \
                     OptionsBuilder::world_replies(false) or ?world_replies=false refuses. Run the client as a member of \
                     the server's group (mi_fifo fifo_group, mi_datagram unix_socket_group)",
                    server.uid, server.gid
                )));
            }
            log::warn!(
                "the server (uid {} / gid {}) can only answer into a reply FIFO or socket that \
                 every local user can write to; run the client as a member of the server's \
                 group to avoid this (README: Security on a shared host)",
                server.uid,
                server.gid
            );
        }
        Ok(grant)
    }

    /// The user a reply FIFO or socket is given to, if not ours (for a stale fixed-name
    /// FIFO of an interrupted run).
    pub(crate) fn given_to(self) -> Option<u32> {
        match self {
            Grant::Give { uid, .. } => Some(uid),
            _ => None,
        }
    }

    fn mode(self) -> u32 {
        match self {
            Grant::Owner => 0o600,
            Grant::Group(_) | Grant::Give { .. } => 0o620,
            Grant::World => 0o622,
        }
    }

    fn owner(self) -> (Option<nix::unistd::Uid>, Option<nix::unistd::Gid>) {
        use nix::unistd::{Gid, Uid};
        match self {
            Grant::Owner | Grant::World => (None, None),
            Grant::Group(gid) => (None, Some(Gid::from_raw(gid))),
            Grant::Give { uid, gid } => (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))),
        }
    }

    /// Applies the grant to an open FIFO (owner first, then the mode, both on the
    /// descriptor).
    pub(crate) fn apply(self, file: &File) -> io::Result<()> {
        let (uid, gid) = self.owner();
        if uid.is_some() || gid.is_some() {
            nix::unistd::fchown(file.as_fd(), uid, gid)?;
        }
        nix::sys::stat::fchmod(file.as_fd(), Mode::from_bits_truncate(self.mode()))?;
        Ok(())
    }

    /// Applies the grant to the socket file behind an `O_PATH` descriptor (a path the user
    /// chose, in a directory that is not ours). `fchmod` cannot change a socket file through
    /// a socket, so the descriptor's `/proc/self/fd` link is used: it leads to that very
    /// inode whatever happens to the names meanwhile.
    fn apply_to_path_fd(self, fd: &File) -> io::Result<()> {
        let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let (uid, gid) = self.owner();
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::chown(&link, uid.map(|u| u.as_raw()), gid.map(|g| g.as_raw()))?;
        }
        std::fs::set_permissions(&link, std::fs::Permissions::from_mode(self.mode()))
    }

    /// Applies the grant to the entry `name` of our private directory `dir`: only we can
    /// add or rename entries there, so the name cannot lead anywhere else.
    fn apply_in(self, dir: &File, name: &str) -> io::Result<()> {
        let (uid, gid) = self.owner();
        if uid.is_some() || gid.is_some() {
            nix::unistd::fchownat(
                dir.as_fd(),
                name,
                uid,
                gid,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
        }
        nix::sys::stat::fchmodat(
            dir.as_fd(),
            name,
            Mode::from_bits_truncate(self.mode()),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )?;
        Ok(())
    }
}

/// `true` if `gid` is our effective group or one of our supplementary groups.
fn in_group(gid: u32) -> bool {
    if nix::unistd::getegid().as_raw() == gid {
        return true;
    }
    nix::unistd::getgroups().is_ok_and(|groups| groups.iter().any(|g| g.as_raw() == gid))
}

/// Checks that `file` (just opened by name with `O_NOFOLLOW`) is what we made: of the
/// expected type and owned by our effective user. Someone who swapped the name meanwhile
/// cannot make a file of ours.
pub(crate) fn check_ours(meta: &Metadata, is_right_type: bool, path: &Path) -> Result<()> {
    let euid = nix::unistd::geteuid().as_raw();
    if !is_right_type || meta.uid() != euid {
        return Err(Error::invalid_config(format!(
            "{} was replaced by another file (owner uid {}) between its creation and its \
             use: another user can write to {}; use a private directory",
            path.display(),
            meta.uid(),
            path.parent().unwrap_or(Path::new("/")).display()
        )));
    }
    Ok(())
}

/// Whom the client trusts on the host: root, itself and the user OpenSIPS runs as. A server
/// FIFO or socket, and every directory above it and above the reply directory, must be
/// theirs: anyone else could have put the endpoint there, or could swap it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Trust {
    /// The configured server user (uid), or the `opensips` user when it exists.
    server_uid: Option<u32>,
    /// Our effective uid and gid (read once: they are checked on every call).
    euid: u32,
    egid: u32,
}

/// The user OpenSIPS packages run as, trusted by default when it exists.
pub(crate) const DEFAULT_SERVER_USER: &str = "opensips";

impl Trust {
    /// Trusts root, us, and `server_user` (a name or a uid; default `opensips` if that user
    /// exists).
    pub(crate) fn new(server_user: Option<&str>) -> Result<Trust> {
        let server_uid = match server_user {
            Some(u) => Some(resolve_user(u)?),
            None => nix::unistd::User::from_name(DEFAULT_SERVER_USER)
                .ok()
                .flatten()
                .map(|u| u.uid.as_raw()),
        };
        Ok(Trust {
            server_uid,
            euid: nix::unistd::geteuid().as_raw(),
            egid: nix::unistd::getegid().as_raw(),
        })
    }

    fn trusts(&self, uid: u32) -> bool {
        uid == 0 || uid == self.euid || Some(uid) == self.server_uid
    }

    /// Refuses a server endpoint (`meta`, at the resolved path `real`; `shown` is the path
    /// as configured) that anyone could have planted or could swap: every directory above
    /// it must belong to root, us or the server user and be writable by nobody else unless
    /// sticky, and in a directory others can write to (`/tmp`) the endpoint itself must be
    /// theirs too. `kind` names it in the error.
    pub(crate) fn check_server(
        &self,
        meta: &Metadata,
        real: &Path,
        shown: &Path,
        kind: &str,
    ) -> Result<()> {
        let parent = match real.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("/"),
        };
        if !self.trusts(meta.uid())
            && std::fs::metadata(parent).is_ok_and(|m| self.writable_by_others(&m, meta.gid()))
        {
            return Err(Error::invalid_config(format!(
                "refusing the {kind} {}: it belongs to uid {}, which is neither root, this user \
                 nor the OpenSIPS user, in a directory other users can write to, so anyone \
                 could have put it there to read the requests. Put the server's {kind} in a \
                 directory only OpenSIPS can write (e.g. /run/opensips/), or name the user \
                 OpenSIPS runs as (OptionsBuilder::server_user, ?server_user=)",
                shown.display(),
                meta.uid()
            )));
        }
        self.check_dirs(parent, meta.gid(), shown, kind)
    }

    /// Every directory from `dir` up to `/` must be safe: writable by no one we do not
    /// trust unless it is sticky (whoever can rename entries in it could swap the endpoint
    /// or the replies for theirs), and, when it belongs to a user we do not trust, inside a
    /// directory only trusted users can add to (so that user was given it, e.g.
    /// `/var/run/osips` made by root for the service, rather than made it in `/tmp`).
    pub(crate) fn check_dirs(
        &self,
        dir: &Path,
        server_gid: u32,
        shown: &Path,
        kind: &str,
    ) -> Result<()> {
        for d in dir.ancestors() {
            let Ok(m) = std::fs::metadata(d) else {
                continue;
            };
            let why = if self.writable_by_others(&m, server_gid) && m.mode() & 0o1000 == 0 {
                Some("other users can write to it and it is not sticky".to_owned())
            } else if !self.trusts(m.uid())
                && d.parent()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .is_some_and(|pm| self.writable_by_others(&pm, server_gid))
            {
                Some(format!(
                    "it belongs to uid {}, which is neither root, this user nor the OpenSIPS \
                     user, in a directory other users can write to",
                    m.uid()
                ))
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Error::invalid_config(format!(
                    "refusing the {kind} {}: the directory {} is not safe ({why}), so another \
                     user could swap what is in it. Use directories only root and OpenSIPS \
                     can write (e.g. /run/opensips/), or name the user OpenSIPS runs as \
                     (OptionsBuilder::server_user, ?server_user=)",
                    shown.display(),
                    d.display()
                )));
            }
        }
        Ok(())
    }

    /// `true` if a user we do not trust could replace the entry at `real` (its directory is
    /// writable by others, sticky or not: in `/tmp` a name can be taken once its owner
    /// removed it).
    pub(crate) fn may_be_replaced(&self, real: &Path, server_gid: u32) -> bool {
        let parent = match real.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("/"),
        };
        std::fs::metadata(parent).is_ok_and(|m| self.writable_by_others(&m, server_gid))
    }

    /// `true` if users we do not trust can create or rename entries in the directory `m`:
    /// every user, or a group other than root's, the server's and our own.
    fn writable_by_others(&self, m: &Metadata, server_gid: u32) -> bool {
        let mode = m.mode();
        mode & 0o002 != 0
            || (mode & 0o020 != 0
                && !(m.gid() == 0 || m.gid() == server_gid || m.gid() == self.egid))
    }

    /// `true` for a datagram sender we take replies or events from: root, us, the server
    /// user, or the owner (user or group) of the server's endpoint.
    pub(crate) fn trusts_sender(&self, uid: u32, gid: u32, server: Option<Peer>) -> bool {
        self.trusts(uid) || server.is_some_and(|p| p.uid == uid || p.gid == gid)
    }
}

/// The path an open file really is at (links resolved), for checking the directories above
/// it; `fallback` resolved by name where `/proc` is missing.
pub(crate) fn real_path(file: &File, fallback: &Path) -> PathBuf {
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .or_else(|_| std::fs::canonicalize(fallback))
        .unwrap_or_else(|_| fallback.to_path_buf())
}

fn resolve_user(user: &str) -> Result<u32> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(user) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        _ => Err(Error::invalid_config(format!(
            "server user {user:?} does not exist (give a user name or a uid)"
        ))),
    }
}

/// A directory of our own, with an unpredictable name, for reply and event sockets: only
/// we can add, rename or remove its entries, so a socket's name in it cannot be swapped.
/// It stays 0700 until its socket is bound and set up; then others may pass through it
/// (0711) to reach the socket, whose own mode guards it. Removed, with its socket, when
/// dropped.
#[derive(Debug)]
pub(crate) struct PrivateDir {
    path: PathBuf,
    dir: File,
    /// The socket bound in it, if any.
    socket: Option<String>,
}

impl PrivateDir {
    /// Makes `parent/<prefix><random>/`.
    pub(crate) fn create(parent: &Path, prefix: &str) -> Result<PrivateDir> {
        let path = parent.join(format!("{prefix}{}", random_token()));
        let mkdir = || {
            nix::unistd::mkdir(&path, Mode::from_bits_truncate(0o700)).map_err(|e| match e {
                Errno::EACCES | Errno::EPERM | Errno::EROFS => Error::PermissionDenied {
                    path: parent.to_path_buf(),
                    hint: "the client makes a private directory for its reply socket here; \
                       choose a writable directory (OptionsBuilder::reply_socket_dir, ?reply_socket_dir=)"
                        .into(),
                },
                Errno::ENOENT => Error::NotFound {
                    what: "directory".into(),
                    path: parent.to_path_buf(),
                    hint: "the reply socket directory (OptionsBuilder::reply_socket_dir, ?reply_socket_dir=) must exist"
                        .into(),
                },
                other => Error::io(format!("creating {}", path.display()), other.into()),
            })
        };
        create_tracked(&path, mkdir)?;
        let made = RemoveDir(path);
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags_nofollow_dir()
            .open(&made.0)
            .map_err(|e| Error::io(format!("opening {}", made.0.display()), e))?;
        let meta = dir
            .metadata()
            .map_err(|e| Error::io(format!("checking {}", made.0.display()), e))?;
        check_ours(&meta, meta.is_dir(), &made.0)?;
        Ok(PrivateDir {
            path: made.take(),
            dir,
            socket: None,
        })
    }

    /// Binds a unix datagram socket with an unpredictable name in the directory, with the
    /// senders' credentials attached to every datagram from the start, gives it `grant`,
    /// then lets others through the directory; returns the socket and its path.
    pub(crate) fn bind_datagram(
        &mut self,
        grant: Grant,
    ) -> Result<(std::os::unix::net::UnixDatagram, PathBuf)> {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};
        let name = format!("{}.sock", random_token());
        let path = self.path.join(&name);
        let io_err =
            |doing: &str, e: Errno| Error::io(format!("{doing} {}", path.display()), e.into());
        let fd = socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| io_err("creating", e))?;
        let socket = std::os::unix::net::UnixDatagram::from(fd);
        pass_credentials(&socket).map_err(|e| Error::io("configuring the reply socket", e))?;
        let addr = UnixAddr::new(&path).map_err(|e| io_err("naming", e))?;
        bind(socket.as_raw_fd(), &addr).map_err(|e| io_err("binding", e))?;
        self.socket = Some(name.clone());
        // Check the entry through our directory's descriptor, without following a link:
        // whatever was done to the names meanwhile, this is the socket we bound.
        let fd = openat(
            self.dir.as_fd(),
            name.as_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err("opening", e))?;
        let meta = File::from(fd)
            .metadata()
            .map_err(|e| Error::io(format!("checking {}", path.display()), e))?;
        check_ours(&meta, meta.file_type().is_socket(), &path)?;
        grant
            .apply_in(&self.dir, &name)
            .map_err(|e| Error::io(format!("setting the mode of {}", path.display()), e))?;
        nix::sys::stat::fchmod(self.dir.as_fd(), Mode::from_bits_truncate(0o711))
            .map_err(|e| io_err("setting the mode of the directory of", e))?;
        Ok((socket, path))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        if let Some(name) = &self.socket {
            let _ = nix::unistd::unlinkat(
                self.dir.as_fd(),
                name.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
        untrack(&self.path);
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// A unix datagram socket bound at a path the caller chose (not in a private directory):
/// widened through an `O_PATH` descriptor, never by name, and removed when dropped only if
/// the name still leads to that very socket file.
#[derive(Debug)]
pub(crate) struct BoundSocketPath {
    path: PathBuf,
    /// Device and inode of the socket file we bound.
    id: (u64, u64),
}

impl BoundSocketPath {
    /// Removes a stale socket left at `path` by an earlier run: only a socket of ours
    /// (our effective user) that nobody is bound to any more. Anything else stays, and
    /// binding then fails with a clear error.
    pub(crate) fn remove_stale(path: &Path) {
        let euid = nix::unistd::geteuid().as_raw();
        let stale = std::fs::symlink_metadata(path)
            .is_ok_and(|m| m.file_type().is_socket() && m.uid() == euid)
            && std::os::unix::net::UnixDatagram::unbound().is_ok_and(|s| s.connect(path).is_err());
        if stale {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Binds a unix datagram socket at `path` and gives it `grant`.
    pub(crate) fn bind(
        path: &Path,
        grant: Grant,
    ) -> Result<(std::os::unix::net::UnixDatagram, BoundSocketPath)> {
        let socket = std::os::unix::net::UnixDatagram::bind(path)
            .map_err(|e| Error::io(format!("binding {}", path.display()), e))?;
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(format!("opening {}", path.display()), e.into()))?;
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("checking {}", path.display()), e))?;
        // not ours (swapped meanwhile): neither widened nor removed
        check_ours(&meta, meta.file_type().is_socket(), path)?;
        let bound = BoundSocketPath {
            path: path.to_path_buf(),
            id: (meta.dev(), meta.ino()),
        };
        grant
            .apply_to_path_fd(&file)
            .map_err(|e| Error::io(format!("setting the mode of {}", path.display()), e))?;
        Ok((socket, bound))
    }
}

impl Drop for BoundSocketPath {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes a directory when dropped unless taken.
struct RemoveDir(PathBuf);

impl RemoveDir {
    fn take(mut self) -> PathBuf {
        std::mem::take(&mut self.0)
    }
}

impl Drop for RemoveDir {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            untrack(&self.0);
            let _ = std::fs::remove_dir(&self.0);
        }
    }
}

/// `O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC` on an `OpenOptions`.
trait NoFollowDir {
    fn custom_flags_nofollow_dir(&mut self) -> &mut Self;
}

impl NoFollowDir for std::fs::OpenOptions {
    fn custom_flags_nofollow_dir(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags((OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits())
    }
}

/// Receives one datagram on a unix socket with its sender's credentials (`SO_PASSCRED`
/// must be on): the byte count and the sender's uid and gid (`None` if the kernel sent
/// none).
pub(crate) fn recv_with_creds(
    socket: &std::os::unix::net::UnixDatagram,
    buf: &mut [u8],
) -> io::Result<(usize, Option<(u32, u32)>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixCredentials, recvmsg};
    /// Room for one `SCM_CREDENTIALS` message, as `nix::cmsg_space!` sizes it.
    const SPACE: usize = nix::sys::socket::cmsg_space::<UnixCredentials>();
    /// The control buffer, aligned for the `cmsghdr` the kernel writes at its start; on the
    /// stack, so a datagram costs no allocation.
    #[repr(C, align(8))]
    struct Control([u8; SPACE]);
    let mut space = Control([0; SPACE]);
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = loop {
        // `()`: the sender's address is not read (the credentials tell who sent it)
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space.0),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(m) => break m,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let n = msg.bytes;
    let mut creds = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmCredentials(cr) = c {
                creds = Some((cr.uid(), cr.gid()));
            }
        }
    }
    Ok((n, creds))
}

/// Asks the kernel to attach the sender's credentials to every datagram received.
pub(crate) fn pass_credentials(socket: &std::os::unix::net::UnixDatagram) -> io::Result<()> {
    nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::PassCred, &true)
        .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn trust(server_uid: Option<u32>) -> Trust {
        Trust {
            server_uid,
            euid: nix::unistd::geteuid().as_raw(),
            egid: nix::unistd::getegid().as_raw(),
        }
    }

    #[test]
    fn grants_are_as_narrow_as_the_server_needs() {
        let me = nix::unistd::geteuid().as_raw();
        let my_gid = nix::unistd::getegid().as_raw();
        let t = trust(None);
        if me == 0 {
            assert_eq!(
                Grant::for_server(Peer { uid: 0, gid: 0 }, &t, false).unwrap(),
                Grant::Owner
            );
            assert_eq!(
                Grant::for_server(Peer { uid: 999, gid: 998 }, &t, false).unwrap(),
                Grant::Give { uid: 999, gid: 998 }
            );
            // the endpoint belongs to fifo_user, OpenSIPS runs as the server user: that
            // user gets it
            assert_eq!(
                Grant::for_server(
                    Peer {
                        uid: 1501,
                        gid: 998
                    },
                    &trust(Some(1500)),
                    false
                )
                .unwrap(),
                Grant::Give {
                    uid: 1500,
                    gid: 998
                }
            );
        } else {
            assert_eq!(
                Grant::for_server(
                    Peer {
                        uid: me,
                        gid: 12345
                    },
                    &t,
                    false
                )
                .unwrap(),
                Grant::Owner
            );
            // another user in our group: the group; in no group of ours: the world, or
            // an error when that is refused
            assert_eq!(
                Grant::for_server(
                    Peer {
                        uid: me + 1,
                        gid: my_gid
                    },
                    &t,
                    false
                )
                .unwrap(),
                Grant::Group(my_gid)
            );
            let stranger = Peer {
                uid: me + 1,
                gid: 4_000_000_000,
            };
            assert_eq!(Grant::for_server(stranger, &t, true).unwrap(), Grant::World);
            assert!(Grant::for_server(stranger, &t, false).is_err());
        }
        assert_eq!(Grant::Owner.mode(), 0o600);
        assert_eq!(Grant::Group(1).mode(), 0o620);
        assert_eq!(Grant::World.mode(), 0o622);
    }

    #[test]
    fn directories_others_can_change_are_refused() {
        let base = tempfile::tempdir().unwrap();
        let t = trust(None);
        let me = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let shown = Path::new("/x");
        // ours, 0755: fine
        t.check_dirs(base.path(), gid, shown, "FIFO").unwrap();
        // writable by every user and not sticky: refused
        let loose = base.path().join("loose");
        std::fs::create_dir(&loose).unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = t.check_dirs(&loose, gid, shown, "FIFO").unwrap_err();
        assert!(e.to_string().contains("not sticky"), "{e}");
        // sticky like /tmp: fine
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o1777)).unwrap();
        t.check_dirs(&loose, gid, shown, "FIFO").unwrap();
        // a directory of another user (only root can make one here)
        if me == 0 {
            // made in a directory anyone can add to (/tmp-like): anyone could have made it
            let theirs = loose.join("theirs");
            std::fs::create_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            let e = t.check_dirs(&theirs, gid, shown, "FIFO").unwrap_err();
            assert!(e.to_string().contains("uid 65534"), "{e}");
            // unless that user is the server's
            trust(Some(65534))
                .check_dirs(&theirs, gid, shown, "FIFO")
                .unwrap();
            // given to that user in a directory only root can add to (/var/run/osips): fine
            let given = base.path().join("given");
            std::fs::create_dir(&given).unwrap();
            std::os::unix::fs::chown(&given, Some(65534), Some(65534)).unwrap();
            t.check_dirs(&given, gid, shown, "FIFO").unwrap();
        }
    }

    #[test]
    fn private_dir_and_socket_are_ours_and_go_away() {
        let base = tempfile::tempdir().unwrap();
        let mut dir = PrivateDir::create(base.path(), "t_").unwrap();
        let meta = std::fs::symlink_metadata(&dir.path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o700);
        let (_sock, path) = dir.bind_datagram(Grant::Owner).unwrap();
        let meta = std::fs::symlink_metadata(&dir.path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o711);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_path = dir.path.clone();
        drop(dir);
        assert!(!path.exists() && !dir_path.exists());
    }
}
