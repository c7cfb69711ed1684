//! The server generation found for a URL, cached between runs (a cron job does not pay the
//! detection probe each time): `$XDG_CACHE_HOME/opensips-mi/protocol-<hash>`, holding
//! `jsonrpc` or `legacy`, kept a day. An entry that turns out wrong (a reply of the other
//! generation) is dropped and the generation detected again.
//!
//! The directory is created `0700`, each file `0600` and written atomically (a temporary
//! file in the same directory, then `rename`). File names come from the URL with any
//! password removed, hashed: no credentials on disk, not even hashed.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use opensips_mi::{Error, Protocol};

/// How long a detected generation is reused without asking the server again.
const FRESH: Duration = Duration::from_secs(24 * 3600);

/// `$XDG_CACHE_HOME/opensips-mi` or `~/.cache/opensips-mi`.
fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("opensips-mi"))
}

/// FNV-1a.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The URL without the password of its userinfo (`http://u:secret@h/mi` → `http://u@h/mi`).
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((creds, host)) => {
            let user = creds.split_once(':').map_or(creds, |(u, _)| u);
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

fn file_for(url: &str) -> Option<PathBuf> {
    cache_dir().map(|d| d.join(format!("protocol-{:016x}", hash(&without_password(url)))))
}

/// The generation cached for `url`, when fresh.
pub(crate) fn cached(url: &str) -> Option<Protocol> {
    let f = file_for(url)?;
    let m = std::fs::symlink_metadata(&f).ok()?;
    // only our own regular file
    if !m.is_file() || m.permissions().mode() & 0o077 != 0 {
        return None;
    }
    let age = SystemTime::now().duration_since(m.modified().ok()?).ok()?;
    if age >= FRESH {
        return None;
    }
    match std::fs::read_to_string(&f).ok()?.trim() {
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
    let Some(f) = file_for(url) else { return };
    let Some(dir) = f.parent() else { return };
    if std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .is_err()
    {
        return;
    }
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        f.file_name().and_then(|n| n.to_str()).unwrap_or("protocol"),
        std::process::id()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, &f));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Drops what is cached for `url`.
pub(crate) fn forget(url: &str) {
    if let Some(f) = file_for(url) {
        let _ = std::fs::remove_file(f);
    }
}

/// Whether `e` may come from speaking the wrong generation: a reply of the other one, the
/// plain-text answers of a server that could not read the request, or a FIFO's silence.
pub(crate) fn may_be_wrong_generation(e: &Error) -> bool {
    match e {
        Error::MalformedReply { reason, .. } => reason.contains("protocol="),
        Error::ServerFailure { text, .. } => {
            text.contains("command not available") || text.contains("Parse_error")
        }
        Error::Command(s) => s.code == 500 && s.message == "command not available",
        Error::Timeout { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_file_name() {
        assert_eq!(
            without_password("http://u:secret@127.0.0.1:8888/mi?timeout=1"),
            "http://u@127.0.0.1:8888/mi?timeout=1"
        );
        assert_eq!(
            without_password("xmlrpcs://u:p%40ss@h/RPC2"),
            "xmlrpcs://u@h/RPC2"
        );
        assert_eq!(without_password("fifo:///tmp/f"), "fifo:///tmp/f");
        assert_eq!(
            hash(&without_password("http://u:a@h/mi")),
            hash(&without_password("http://u:b@h/mi"))
        );
    }
}
