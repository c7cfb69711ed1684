//! Shell completion of MI command names from the server itself (`which`, with 4.0's
//! aliases), cached per URL for a few minutes under the user's cache directory.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use opensips_mi::helpers::aliases_of;
use opensips_mi::{Connection, MiCommands, Options};

/// How long a server's command list is reused.
const FRESH: Duration = Duration::from_secs(300);
/// Completion must never make the shell wait long.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);

/// `$XDG_CACHE_HOME/opensips-mi` or `~/.cache/opensips-mi`.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("opensips-mi"))
}

/// FNV-1a, for a file name per URL. Only ever of a URL without its password
/// ([`cache_key`]): a hash of one could be reversed by trying passwords.
pub(crate) fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The command names (and 4.0 aliases) of the server at `url`, one per line: from the cache
/// when fresh, else asked with `which` (1 s at most) and cached. Nothing on failure.
pub(crate) fn command_names(url: &str) -> String {
    let file = cache_dir().map(|d| d.join(format!("commands-{:016x}", hash(&cache_key(url)))));
    if let Some(f) = &file {
        let fresh = std::fs::metadata(f)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < FRESH);
        if fresh {
            if let Ok(text) = std::fs::read_to_string(f) {
                return text;
            }
        }
    }
    let Ok(names) =
        Connection::open_with(url, Options::builder().timeout(ASK_TIMEOUT)).and_then(|c| c.which())
    else {
        return String::new();
    };
    let mut text = String::new();
    for n in &names {
        text.push_str(n);
        text.push('\n');
        for a in aliases_of(n) {
            text.push_str(a);
            text.push('\n');
        }
    }
    if let Some(f) = &file {
        write_private(f, &text);
    }
    text
}

/// The URL a cache entry is named after: without its password.
pub(crate) fn cache_key(url: &str) -> String {
    opensips_mi::redact_url(url)
}

/// Makes the cache directory if needed, private to this user (0700, set through its
/// descriptor); `None` if it cannot be made so.
pub(crate) fn private_cache_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    let dir = cache_dir()?;
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir);
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags())
        .open(&dir)
        .ok()?;
    let meta = d.metadata().ok()?;
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        d.set_permissions(std::fs::Permissions::from_mode(0o700))
            .ok()?;
    }
    Some(dir)
}

fn libc_flags() -> i32 {
    use nix::fcntl::OFlag;
    (OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits()
}

/// Writes `text` to `file` in the private cache directory: a temporary file (0600) then
/// a rename, so a reader never sees half of it; nothing is left behind on failure.
pub(crate) fn write_private(file: &std::path::Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if private_cache_dir().is_none() {
        return;
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// What each shell needs on top of clap's script: complete the command word with the
/// server's command names (the global options before it are passed on, so `-u` counts).
pub(crate) fn dynamic_part(shell: clap_complete::Shell) -> &'static str {
    match shell {
        clap_complete::Shell::Bash => BASH,
        clap_complete::Shell::Zsh => ZSH,
        clap_complete::Shell::Fish => FISH,
        _ => "",
    }
}

const BASH: &str = r#"
# MI command names from the server (cached): the first word after the global options
_opensips_mi_dynamic() {
    local i=1 opts=()
    while [[ $i -lt $COMP_CWORD ]]; do
        case "${COMP_WORDS[$i]}" in
            -u|--url|-t|--timeout|-o|--output|--protocol|--fleet)
                opts+=("${COMP_WORDS[$i]}" "${COMP_WORDS[$((i + 1))]}"); i=$((i + 2)) ;;
            -*) opts+=("${COMP_WORDS[$i]}"); i=$((i + 1)) ;;
            *) break ;;
        esac
    done
    _opensips__mi "$@"
    if [[ $i -eq $COMP_CWORD && "${COMP_WORDS[$COMP_CWORD]}" != -* ]]; then
        local cur="${COMP_WORDS[$COMP_CWORD]}"
        COMPREPLY+=($(compgen -W "$(opensips-mi "${opts[@]}" complete-commands 2>/dev/null)" -- "$cur"))
    fi
}
complete -F _opensips_mi_dynamic -o bashdefault -o default opensips-mi
"#;

const ZSH: &str = r#"
# MI command names from the server (cached)
_opensips_mi_dynamic() {
    if (( CURRENT == 2 )); then
        local -a cmds
        cmds=(${(f)"$(opensips-mi complete-commands 2>/dev/null)"})
        compadd -a cmds
    fi
    _opensips-mi "$@"
}
compdef _opensips_mi_dynamic opensips-mi
"#;

const FISH: &str = r#"
# MI command names from the server (cached)
complete -c opensips-mi -n "__fish_use_subcommand" -f -a "(opensips-mi complete-commands 2>/dev/null)"
"#;
