//! The server generation found for a URL, cached between runs (a cron job does not pay the
//! detection probe each time): `$XDG_CACHE_HOME/opensips-mi/protocol-<hash>`, holding
//! `jsonrpc` or `legacy`, kept a day. An entry that turns out wrong (a reply of the other
//! generation) is dropped and the generation detected again.
//!
//! The directory is created `0700`, each file `0600` and written atomically (a temporary
//! file in the same directory, then `rename`), as the completion cache does (same
//! functions). File names come from the URL with any password removed, hashed: no
//! credentials on disk, not even hashed.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use opensips_mi::{Error, Protocol};

use crate::complete::{cache_dir, hash};

/// How long a detected generation is reused without asking the server again.
const FRESH: Duration = Duration::from_secs(24 * 3600);

/// The entry of `url`: named by a hash of the URL without its password (the completion
/// cache's rule and directory).
fn file_for(url: &str) -> Option<PathBuf> {
    cache_dir().map(|d| {
        d.join(format!(
            "protocol-{:016x}",
            hash(&crate::complete::cache_key(url))
        ))
    })
}

/// The generation cached for `url`, when fresh.
pub(crate) fn cached(url: &str) -> Option<Protocol> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    // only from our own private directory, and only our own regular file in it (opened
    // without following a link): another user's planted entry is never believed
    crate::complete::private_cache_dir()?;
    let f = file_for(url)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&f)
        .ok()?;
    let m = file.metadata().ok()?;
    if !m.is_file()
        || m.permissions().mode() & 0o077 != 0
        || m.uid() != nix::unistd::geteuid().as_raw()
    {
        return None;
    }
    let age = SystemTime::now().duration_since(m.modified().ok()?).ok()?;
    if age >= FRESH {
        return None;
    }
    let mut text = String::new();
    file.take(64).read_to_string(&mut text).ok()?;
    match text.trim() {
        "jsonrpc" => Some(Protocol::JsonRpc),
        "legacy" => Some(Protocol::Legacy),
        _ => None,
    }
}

/// Remembers the generation detected for `url` (best effort: a cache that cannot be
/// written only costs a probe next time).
pub(crate) fn remember(url: &str, protocol: Protocol) {
    let text = match protocol {
        Protocol::JsonRpc => "jsonrpc\n",
        Protocol::Legacy => "legacy\n",
        _ => return,
    };
    if let Some(f) = file_for(url) {
        // 0700 directory, 0600 file written through a temporary one and a rename
        crate::complete::write_private(&f, text);
    }
}

/// Drops what is cached for `url`.
pub(crate) fn forget(url: &str) {
    if let Some(f) = file_for(url) {
        let _ = std::fs::remove_file(f);
    }
}

/// Whether `e` may come from speaking the wrong generation: a reply of the other one, or
/// the plain-text answers of a server that could not read the request (a FIFO's silence is
/// handled by the caller: it may be a slow command as well).
pub(crate) fn may_be_wrong_generation(e: &Error) -> bool {
    match e {
        Error::MalformedReply { reason, .. } => reason.contains("protocol="),
        Error::ServerFailure { text, .. } => {
            text.contains("command not available") || text.contains("Parse_error")
        }
        Error::Command(s) => s.code == 500 && s.message == "command not available",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_file_name() {
        let name = |u: &str| file_for(u).map(|f| f.file_name().unwrap().to_owned());
        assert_eq!(name("http://u:a@h/mi"), name("http://u:b@h/mi"));
        assert_ne!(name("http://u:a@h/mi"), name("http://v:a@h/mi"));
    }
}
