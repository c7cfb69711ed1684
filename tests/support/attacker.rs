//! Another local user, for the shared-host tests: the test binary re-run as uid 65534
//! (`nobody`) with `OSIPS_ATTACK` naming what to do. Each test binary that uses it has
//! `#[test] #[ignore] fn attacker() { support::attacker::serve() }`. CI runs as root; the
//! tests that need it skip with a message otherwise.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const ATTACKER_UID: u32 = 65534;

pub fn root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: this test needs root to play another user");
    false
}

/// A copy of this test binary that the attacker's uid can run (a hard link where it can
/// be), in `/tmp/opensips-mi-attacker-<pid>`; those of test runs that are over are removed.
pub fn attacker_exe() -> PathBuf {
    static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXE.get_or_init(|| {
        let tmp = std::env::temp_dir();
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("opensips-mi-attacker-") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = tmp.join(format!("opensips-mi-attacker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exe = dir.join("attacker");
        let me = std::env::current_exe().unwrap();
        if std::fs::hard_link(&me, &exe).is_err() {
            std::fs::copy(&me, &exe).unwrap();
        }
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        exe
    })
    .clone()
}

/// Starts the attacker doing `op` (see [`attacker`]); its report lines start `ATTACK:`.
pub fn spawn_attacker(op: &[&str]) -> Child {
    Command::new(attacker_exe())
        .args([
            "--ignored",
            "--exact",
            "attacker",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OSIPS_ATTACK", op.join("\u{1f}"))
        .uid(ATTACKER_UID)
        .gid(ATTACKER_UID)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// The attacker's first report line.
pub fn report(child: &mut Child) -> String {
    let out = child.stdout.as_mut().unwrap();
    let mut lines = BufReader::new(out).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some((_, r)) = line.split_once("ATTACK:") {
            return r.to_owned();
        }
    }
    panic!("the attacker reported nothing");
}

/// Runs `op` as the attacker to its end; its report.
pub fn attack(op: &[&str]) -> String {
    let mut child = spawn_attacker(op);
    let r = report(&mut child);
    drop(child.stdin.take());
    let _ = child.wait();
    r
}

/// The attacker: `write PATH DATA` (into a FIFO), `send PATH DATA...` (datagrams to a unix
/// socket), `fifo PATH` (plant a FIFO and hold it open until stdin closes), `socket PATH`
/// (bind a unix datagram socket there until stdin closes), `symlink TARGET PATH`.
pub fn serve() {
    let Ok(op) = std::env::var("OSIPS_ATTACK") else {
        return;
    };
    let args: Vec<&str> = op.split('\u{1f}').collect();
    let say = |s: &str| {
        println!("ATTACK:{s}");
        std::io::stdout().flush().unwrap();
    };
    let wait_stdin = || {
        let _ = std::io::stdin().read(&mut [0u8; 1]);
    };
    match args.as_slice() {
        ["write", path, data] => {
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(path)
            {
                Ok(mut f) => {
                    let _ = f.write_all(data.as_bytes());
                    say("written");
                }
                Err(e) => say(&format!("denied {e}")),
            }
        }
        ["send", path, data @ ..] => {
            let s = std::os::unix::net::UnixDatagram::unbound().unwrap();
            let mut sent = 0;
            let mut last = String::new();
            for d in data {
                match s.send_to(d.as_bytes(), path) {
                    Ok(_) => sent += 1,
                    Err(e) => last = e.to_string(),
                }
            }
            if sent == data.len() {
                say("sent");
            } else {
                say(&format!("denied {last}"));
            }
        }
        ["fifo", path] => {
            nix::unistd::mkfifo(*path, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
            let _f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap();
            say("ready");
            wait_stdin();
            let _ = std::fs::remove_file(path);
        }
        ["socket", path] => {
            let s = std::os::unix::net::UnixDatagram::bind(path).unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
            s.set_nonblocking(true).unwrap();
            say("ready");
            wait_stdin();
            let mut buf = [0u8; 4096];
            let got = s.recv(&mut buf).unwrap_or(0);
            let _ = std::fs::remove_file(path);
            say(&format!("received {got}"));
        }
        ["symlink", target, path] => match std::os::unix::fs::symlink(target, path) {
            Ok(()) => say("planted"),
            Err(e) => say(&format!("failed {e}")),
        },
        other => panic!("unknown attack {other:?}"),
    }
}

/// A directory like `/tmp`: every user may create files, only owners remove them.
pub fn sticky_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    d
}
