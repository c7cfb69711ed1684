//! `opensips-mi`: run OpenSIPS Management Interface commands from a shell or cron.
//!
//! ```text
//! opensips-mi [-u URL] [-t SECONDS] [--protocol jsonrpc|legacy|auto|1..4|1.x..4.x] [--output pretty|json|raw] COMMAND [ARG...]
//! ```
//!
//! Exit codes: 0 success; 1 OpenSIPS answered with an error; 2 usage error; 3 could not talk
//! to OpenSIPS (not running, timeout, malformed reply).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod argv;
mod batch;
mod complete;
mod diagnose;
mod exporter;
mod generation;
mod mi;
mod output;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use opensips_mi::MiCommands;
use opensips_mi::events::{EventListener, EventListenerBuilder, EventTransport};
use opensips_mi::helpers::aliases_of;
use opensips_mi::mock::{Flavor, MockServer};
use opensips_mi::sip::{self, Counts, MessageSummary, NotifyEvent};
use opensips_mi::{Connection, Error, Fleet, Options, OptionsBuilder, Protocol, Value};

use argv::parse_args;
use output::{Output, print_line, print_response, print_value, sip_reply};

const AFTER_HELP: &str = "\
Global options may also follow the command (opensips-mi uptime -u udp://…); `--` ends
them, so that an argument starting with '-' goes through (opensips-mi log_level -- -1).

HELP
  opensips-mi help SUBCOMMAND   this tool's help for list, events, mwi-update, mock, ...
  opensips-mi help MI_COMMAND   OpenSIPS' own `help` MI command about it (asks the server),
                                e.g. opensips-mi help ul_show_contact
  opensips-mi MI_COMMAND --help how to give an MI command its arguments (sends nothing;
                                `MI_COMMAND -- --help` sends --help to OpenSIPS)

TIMEOUTS
  -t SECONDS is the timeout of every call of the run: it replaces a URL's ?timeout=
  (and the 35 s that t_uac_dlg helpers such as mwi-update wait). Without -t: the URL's
  ?timeout=, else 5 s; t_uac_dlg helpers wait 35 s whatever the URL says. The library's
  rule is the same: a call's own timeout beats the URL's, which beats the default.

ARGUMENTS
  value         a positional string
  name=value    a named string (name: letters, digits, '_')
  name:=JSON    a named JSON value, e.g. statistics:='[\"dialog:\",\"tm:\"]'
  :=JSON        a positional JSON value, e.g. :=5 or :='[\"dialog:\"]'
  Positional and named arguments cannot be mixed.

URLS
  fifo:///tmp/opensips_fifo   udp://127.0.0.1:8809   unix:///run/opensips/mi.sock
  http://127.0.0.1:8888/mi    xmlrpc://127.0.0.1:8888/RPC2
  Parameters: ?timeout=2s&protocol=auto&reply_dir=/run/opensips/ ... (one '?', then '&')

OUTPUT
  The same JSON from every OpenSIPS generation for the commands with a typed helper
  (ul_dump, ul_show_contact, dlg_list, dlg_list_ctx, get_statistics, ps, log_level,
  cache_fetch, uptime, version, which): 1.x/2.x replies are printed in the 3.x/4.x shape,
  and no object ever has a repeated key. --output raw prints the server's own bytes.
  get_statistics takes selectors as arguments: groups (dialog:), names (rcv_requests),
  full names (core:rcv_requests) or all. cache_fetch of a missing key exits 1 with
  \"400 Value not found\" on every generation.

EXIT CODES
  0 success, 1 OpenSIPS answered with an error, 2 usage error,
  3 could not talk to OpenSIPS (not running, timeout, malformed reply)

EXAMPLES
  opensips-mi uptime
  opensips-mi -u udp://127.0.0.1:8809 get_statistics dialog: core:rcv_requests
  opensips-mi ul_dump | jq '[.Domains[].AORs[].Contacts[]] | length'
  opensips-mi mwi-update sip:1001@10.0.0.21 sip:*97@vm.example.com 2 5
  opensips-mi events E_UL_CONTACT_INSERT E_UL_CONTACT_DELETE --transport tcp
  opensips-mi mwi-update --batch lamps.csv --concurrency 32
  opensips-mi exporter --listen 127.0.0.1:9434 --fleet /etc/opensips-mi/fleet
  opensips-mi mock --fifo /tmp/opensips_fifo --udp 127.0.0.1:8809";

/// `mwi-update --help` and `event-notify --help`: 3.5's httpd after a timed-out `t_uac_dlg`.
macro_rules! uac_http_note {
    () => {
        "OVER HTTP\n  After a t_uac_dlg that timed out on this side, OpenSIPS 3.5's httpd holds the\n  \
         next request for seconds: keep -t above the server's fr_timeout (the default 35 s\n  \
         is), or use fifo:// or udp://."
    };
}

/// `events --help`: what the servers really send.
const EVENTS_HELP: &str = "\
SERVERS
  2.4 sends every parameter as a string, 3.x/4.0 send numbers: \"qval\":\"18446744073709551615\"
  (an unset q) on 2.4 is \"qval\":-1 on 3.5, \"expires\":\"1795692358\" is 1795692358. In jq,
  (.params.expires | tonumber) reads both.
  3.5 accepts --transport tcp (event_stream) but never delivers on it; 4.0 does. udp (the
  default) and unix work on 2.4, 3.5 and 4.0.

LIMITS AND TRUST
  At most 1024 events (16 MiB) wait to be printed; more are dropped, and stderr says how
  many. tcp serves at most 4 connections at once (OpenSIPS uses one).
  --transport unix without --path binds a socket with an unpredictable name in a private
  directory of $TMPDIR, removed on exit. On either unix socket, datagrams from anyone but
  root, this user, the opensips user (or the URL's ?server_user=) and the owner of the MI
  FIFO/socket are dropped. udp and tcp cannot tell local senders apart: bind them where
  only OpenSIPS reaches.

EXAMPLES
  opensips-mi events E_UL_CONTACT_INSERT E_UL_CONTACT_DELETE
  opensips-mi events E_UL_AOR_INSERT --transport tcp --bind 192.0.2.10:7999";

#[derive(Parser, Debug)]
#[command(name = "opensips-mi", version, about = "Run OpenSIPS Management Interface commands", after_help = AFTER_HELP)]
struct Cli {
    /// MI endpoint URL; repeat it to ask several servers at once (one JSON line per node)
    #[arg(
        short,
        long,
        env = "OPENSIPS_MI_URL",
        default_value = "fifo:///tmp/opensips_fifo",
        global = true,
        action = clap::ArgAction::Append
    )]
    url: Vec<String>,
    /// A file of endpoints, one per line, `URL` or `NAME URL` (# comments): ask them all at
    /// once; -u URLs given too are asked as well, after the file's
    #[arg(long, value_name = "FILE", global = true)]
    fleet: Option<PathBuf>,
    /// Timeout of every call in seconds, replacing a URL's ?timeout= (default: the URL's,
    /// else 5; t_uac_dlg based helpers wait 35)
    #[arg(short, long, value_name = "SECONDS", global = true)]
    timeout: Option<f64>,
    /// MI message format, as ?protocol= takes it: jsonrpc (3.x/4.x), legacy (1.x/2.x) or
    /// auto (default: the server's generation detected, and cached per URL for a day); or a
    /// generation: 1, 2, 1.x, 2.x (legacy), 3, 4, 3.x, 4.x (jsonrpc)
    #[arg(long, value_name = "PROTOCOL", value_parser = parse_protocol, global = true)]
    protocol: Option<Protocol>,
    /// Output format (default: pretty on a terminal, json otherwise)
    #[arg(short, long, value_enum, global = true)]
    output: Option<Output>,
    #[command(subcommand)]
    command: Sub,
    /// `-u` was given on the command line (not only the default or OPENSIPS_MI_URL).
    #[arg(skip)]
    url_given: bool,
}

/// `--protocol`: exactly what `?protocol=` ([`Protocol`]'s `FromStr`) takes.
fn parse_protocol(s: &str) -> Result<Protocol, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EventTransportArg {
    Udp,
    Tcp,
    Unix,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FlavorArg {
    #[value(name = "1")]
    V1,
    #[value(name = "2")]
    V2,
    #[value(name = "3")]
    V3,
    #[value(name = "4")]
    V4,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Set a voicemail lamp: an RFC 3842 message-summary NOTIFY (or many: --batch)
    #[command(after_help = format!("{MWI_HELP}\n\n{BATCH_HELP}\n\n{}", uac_http_note!()))]
    MwiUpdate {
        /// The phone, e.g. sip:1001@10.0.0.21:5060
        #[arg(required_unless_present = "batch", conflicts_with = "batch")]
        uri: Option<String>,
        /// The message account, a SIP or SIPS URI (Message-Account, and the sender by
        /// default); "-" for none
        #[arg(required_unless_present = "batch")]
        account: Option<String>,
        /// New voice messages (0 turns the lamp off)
        #[arg(required_unless_present = "batch")]
        new: Option<u32>,
        /// Old voice messages
        old: Option<u32>,
        /// New urgent messages (give both urgent counts, or neither)
        urgent_new: Option<u32>,
        /// Old urgent messages
        urgent_old: Option<u32>,
        /// Send as this URI (From, with a fresh tag; Contact <sip:user@!!>); default: the account, else the phone
        #[arg(long, value_name = "URI")]
        from: Option<String>,
        /// Contact header URI (default <sip:user@!!>, OpenSIPS fills in its address)
        #[arg(long, value_name = "URI")]
        contact: Option<String>,
        #[command(flatten)]
        batch: BatchArgs,
    },
    /// Send a special-event NOTIFY to a phone: a preset, or any Event value with --event
    #[command(after_help = event_notify_help())]
    EventNotify {
        /// The phone, e.g. sip:1001@10.0.0.21:5060
        #[arg(required_unless_present = "batch", conflicts_with = "batch")]
        uri: Option<String>,
        /// A preset name (see below); case, '_' and '-' do not matter
        #[arg(required_unless_present_any = ["event", "batch"], conflicts_with = "event")]
        preset: Option<String>,
        /// A custom Event header value instead of a preset, e.g. 'check-sync;reboot=false'
        #[arg(long, value_name = "VALUE", conflicts_with = "batch")]
        event: Option<String>,
        /// Send as this URI (From, with a fresh tag; Contact <sip:user@!!>); default: the phone's URI
        #[arg(long, value_name = "URI")]
        from: Option<String>,
        /// Contact header URI (default <sip:opensips@!!>, OpenSIPS fills in its address)
        #[arg(long, value_name = "URI")]
        contact: Option<String>,
        #[command(flatten)]
        batch: BatchArgs,
    },
    /// List the server's MI commands (via `which`), one per line; 4.0 aliases follow their
    /// canonical name after a tab. --output json prints a JSON array.
    List,
    /// Subscribe to events and print one JSON line per event until SIGINT/SIGTERM
    #[command(after_help = EVENTS_HELP)]
    Events {
        /// Event names, e.g. E_UL_CONTACT_INSERT
        #[arg(required = true, value_name = "E_NAME")]
        events: Vec<String>,
        /// How OpenSIPS delivers them (event_datagram: udp, unix; event_stream: tcp)
        #[arg(long, value_enum, default_value = "udp")]
        transport: EventTransportArg,
        /// Subscription lifetime in seconds, renewed before it lapses
        #[arg(long, value_name = "S", default_value_t = 3600)]
        expire: u64,
        /// Local address to listen on (udp/tcp)
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: SocketAddr,
        /// IP:port OpenSIPS must send to, when it differs from --bind (NAT, 0.0.0.0)
        #[arg(long, value_name = "IP:PORT")]
        advertise: Option<String>,
        /// Socket path for --transport unix (default: an unpredictable name in a private
        /// directory of the temporary directory, removed on exit)
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Serve the fleet's statistics to Prometheus (/metrics, /probe?target=NAME) until
    /// SIGINT/SIGTERM
    #[command(after_help = EXPORTER_HELP)]
    Exporter {
        /// Address to listen on, e.g. 0.0.0.0:9434 (port 0 picks one)
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
        /// The longest a scrape waits for its nodes, in seconds (a node still silent then
        /// is opensips_up 0); also the MI timeout unless -t is given
        #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
        scrape_timeout: f64,
        /// Metric name prefix, as the prometheus module's `prefix`
        #[arg(long, default_value = "opensips")]
        prefix: String,
        /// Where the statistic's group goes: 0 nowhere, 1 in the name, 2 in a label (the
        /// module's `group_mode`)
        #[arg(long, value_name = "0|1|2", default_value = "1")]
        group_mode: String,
        /// The group label's name for --group-mode 2 (the module's `group_label`)
        #[arg(long, value_name = "NAME", default_value = "group")]
        group_label: String,
        /// HTTP requests served at once (more wait in a short queue, then get 503)
        #[arg(long, value_name = "N", default_value_t = 4)]
        workers: usize,
    },
    /// Run the embedded mock OpenSIPS in the foreground until SIGINT/SIGTERM
    Mock {
        /// FIFO path
        #[arg(long)]
        fifo: Option<PathBuf>,
        /// UDP address (port 0 picks one)
        #[arg(long)]
        udp: Option<SocketAddr>,
        /// Unix datagram socket path
        #[arg(long)]
        unix: Option<PathBuf>,
        /// HTTP address for /mi and /RPC2 (port 0 picks one)
        #[arg(long)]
        http: Option<SocketAddr>,
        /// Speak the legacy 1.x/2.x text MI (like OpenSIPS 2.4)
        #[arg(long)]
        legacy: bool,
        /// OpenSIPS version to imitate: 1 (1.11: HTTP is its mi_xmlrpc at /RPC2 only), 2 (2.4), 3 (3.5, the default), 4 (4.0)
        #[arg(long, value_enum, conflicts_with = "legacy")]
        flavor: Option<FlavorArg>,
        /// Start without registrations and dialogs (by default: AORs alice with 2
        /// contacts, bob and carol, and 2 calls to bob; 1 call for --flavor 4)
        #[arg(long)]
        empty: bool,
    },
    /// Check an endpoint (or a fleet): reachable or why not, generation, version, uptime,
    /// processes, load, memory, calls, registrations and transport warnings
    Diagnose,
    /// Print a shell completion script (bash, zsh, fish: MI command names come from the
    /// server, cached for 5 minutes; use it with `source <(opensips-mi completions bash)`)
    Completions { shell: clap_complete::Shell },
    /// The server's MI command names and 4.0 aliases, one per line (for completion; cached)
    #[command(hide = true)]
    CompleteCommands,
    /// Any MI command, with its arguments
    #[command(external_subcommand)]
    Mi(Vec<String>),
}

const EXPORTER_HELP: &str = "\
NODES
  -u URL (repeatable) or --fleet FILE: one node per line, `URL` or `NAME URL`
  (edge1 http://user:pass@10.0.0.1:8888/mi). Node labels are the names, else the URLs
  with any password replaced by ***.

ENDPOINTS
  /metrics                  every node, asked at once: opensips_up{node},
                            opensips_scrape_duration_seconds{node}, the statistics,
                            opensips_exporter_* (the exporter's own health)
  /probe?target=NAME        one configured node (by name or URL), no node label;
                            anything else is refused (404)
  ?collect[]=core:          only these groups (repeat it), as opensips_exporter

EXAMPLES
  opensips-mi exporter --listen 127.0.0.1:9434 -u udp://127.0.0.1:8809
  opensips-mi exporter --listen 0.0.0.0:9434 --fleet /etc/opensips-mi/fleet --group-mode 2";

/// `--batch` and its companions (mwi-update, event-notify).
#[derive(clap::Args, Debug)]
struct BatchArgs {
    /// Send one request per line of FILE ("-": stdin): CSV or JSON lines (see below)
    #[arg(long, value_name = "FILE")]
    batch: Option<PathBuf>,
    /// Requests in flight at once (with --batch)
    #[arg(long, value_name = "N", default_value_t = opensips_mi::sip::DEFAULT_CONCURRENCY, requires = "batch")]
    concurrency: usize,
    /// Lock file that keeps two runs from overlapping (default: one per subcommand and user
    /// in $XDG_RUNTIME_DIR or the temp dir)
    #[arg(long, value_name = "FILE", requires = "batch")]
    lock: Option<PathBuf>,
    /// Do not take the lock
    #[arg(long, requires = "batch", conflicts_with = "lock")]
    no_lock: bool,
}

const BATCH_HELP: &str = "\
BATCH (--batch FILE, - for stdin)
  Lines are CSV or JSON objects with the same field names; blank lines, # comments and
  one header line (phone,...) are skipped. The whole input is checked first: a bad line
  is reported with its number and nothing is sent. Then the requests go out, at most
  --concurrency at a time; one JSON line per request on stdout, in input order
  ({\"line\":3,\"phone\":…,\"outcome\":\"delivered\"|\"refused\"|\"timeout\"|\"failed\"|\"not_sent\",
  \"status\":200,\"reason\":\"OK\"}), a summary on stderr. Exit 0: all delivered; 1: some
  refused, timed out (phone offline) or refused by OpenSIPS, or another run holds the
  lock; 2: bad input; 3: OpenSIPS unreachable.
  An exclusive flock on the lock file (--lock, default one per subcommand and user) makes
  an overlapping cron run stop at once, sending nothing.";

const MWI_HELP: &str = "\
EXAMPLES
  opensips-mi mwi-update sip:1001@10.0.0.21 sip:*97@vm.example.com 2 5
  opensips-mi mwi-update sip:1001@10.0.0.21 - 0      # lamp off, no account
  opensips-mi -u udp://127.0.0.1:8809 mwi-update --batch lamps.csv --concurrency 32

BATCH LINES
  phone,account,new[,old[,urgent_new,urgent_old]]     (account: - or empty for none)
  sip:1001@10.0.0.21,sip:*97@vm.example.com,2,5
  {\"phone\":\"sip:1002@10.0.0.22\",\"account\":\"sip:*97@vm.example.com\",\"new\":0}";

/// A failure and its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    /// The end of the run without a word (stdout was closed: `| head`).
    fn quiet() -> Self {
        Failure {
            code: 0,
            message: String::new(),
        }
    }
}

/// `event-notify --help`: the presets and their Event values.
fn event_notify_help() -> String {
    let mut help = String::from("PRESETS\n");
    for name in NotifyEvent::preset_names() {
        if let Some(p) = NotifyEvent::preset(name) {
            help.push_str(&format!("  {name:<24}Event: {}\n", p.event()));
        }
    }
    help.push_str(concat!(
        "\nEXAMPLES\n  opensips-mi event-notify sip:1001@10.0.0.21 snom_reboot\n  \
         opensips-mi event-notify sip:1001@10.0.0.21 --event 'check-sync;reboot=false'\n  \
         opensips-mi event-notify --batch phones.csv\n\n\
         BATCH LINES\n  phone,preset\n  sip:1001@10.0.0.21,snom_check_cfg\n  \
         {\"phone\":\"sip:1002@10.0.0.22\",\"preset\":\"polycom_check_cfg\"}\n\n",
        uac_http_note!(),
        "\n\n"
    ));
    help.push_str(BATCH_HELP);
    help
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Rpc(_) | Error::Command(_) => 1,
            Error::InvalidRequest { .. } | Error::InvalidConfig { .. } => 2,
            _ => 3,
        };
        let message = match &e {
            Error::Rpc(s) | Error::Command(s) => {
                let data = match &s.data {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(d)) => format!(" ({d})"),
                    Some(other) => format!(" ({other})"),
                };
                format!("{} {}{data}", s.code, s.message)
            }
            other => other.to_string(),
        };
        Failure { code, message }
    }
}

/// The command line parser; `mock` serves, it is no client: its help hides the client
/// options every other command shares.
fn command() -> clap::Command {
    let cmd = Cli::command();
    // the mock's own hidden copies keep clap from adding the shared ones to its help
    let client: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| {
            ["url", "fleet", "timeout", "protocol", "output"].contains(&a.get_id().as_str())
        })
        .map(|a| a.clone().global(false).hide(true))
        .collect();
    cmd.mut_subcommand("mock", |mock| {
        client.into_iter().fold(mock, |m, a| m.arg(a))
    })
}

/// `opensips-mi MI_COMMAND --help`: how to call an MI command (nothing is sent).
fn mi_command_help(command: &str) -> String {
    let arguments = AFTER_HELP
        .split("\n\n")
        .find(|p| p.starts_with("ARGUMENTS"))
        .unwrap_or_default();
    let intro = if command == "help" {
        "`help MI_COMMAND` goes to OpenSIPS as its own MI command `help` (`help` alone, or \
         with one of this tool's subcommands, is this tool's help)."
            .to_owned()
    } else {
        format!(
            "`{command}` is not a subcommand of this tool: it goes to OpenSIPS as an MI \
             command, with its arguments."
        )
    };
    format!(
        "{intro}\n\n\
         Usage: opensips-mi [OPTIONS] {command} [ARG]...\n\n\
         {arguments}\n\n\
         What {command} takes and does:  opensips-mi help {command}   (OpenSIPS' own `help`)\n\
         The server's MI commands:       opensips-mi list\n\
         Send -h or --help to OpenSIPS:  opensips-mi {command} -- --help\n\
         Options (-u, -t, -o, ...):      opensips-mi --help\n"
    )
}

/// `-u` on the command line, before the subcommand or after it (`diagnose -u URL`), as
/// opposed to its default or `$OPENSIPS_MI_URL`.
fn url_given(matches: &clap::ArgMatches) -> bool {
    let here = matches.ids().any(|id| id.as_str() == "url")
        && matches.value_source("url") == Some(clap::parser::ValueSource::CommandLine);
    here || matches.subcommand().is_some_and(|(_, sub)| url_given(sub))
}

/// The library's warnings (e.g. a reply FIFO every user can write to) on stderr; nothing
/// else of its log.
struct Warnings;

impl log::Log for Warnings {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("opensips-mi: warning: {}", record.args());
        }
    }
    fn flush(&self) {}
}

fn main() -> ExitCode {
    use clap::FromArgMatches;
    static WARNINGS: Warnings = Warnings;
    if log::set_logger(&WARNINGS).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(command) = argv::mi_command_help(&args) {
        return match output::print_text(&mi_command_help(&command)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => ExitCode::from(f.code),
        };
    }
    let matches = command().get_matches_from(argv::hoist_global_options(args));
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.url_given = url_given(&matches);
    if cli.url_given {
        warn_about_passwords_in_argv(&cli.url);
    }
    // `events`, `mock` and `exporter` wait for the signals themselves; everything else is
    // calls, and an interrupt must not leave their reply FIFOs or sockets behind
    if !matches!(
        cli.command,
        Sub::Events { .. } | Sub::Mock { .. } | Sub::Exporter { .. }
    ) {
        if let Err(f) = clean_up_on_signals() {
            eprintln!("opensips-mi: {}", f.message);
            return ExitCode::from(f.code);
        }
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("opensips-mi: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

/// A password in `-u` is visible to every local user (`ps`, `/proc/PID/cmdline`): say so,
/// and where to put it instead.
fn warn_about_passwords_in_argv(urls: &[String]) {
    if urls.iter().any(|u| opensips_mi::redact_url(u) != *u) {
        eprintln!(
            "opensips-mi: warning: a password given with -u is visible to every local user \
             (ps); put the URL in $OPENSIPS_MI_URL or in a --fleet file only you can read"
        );
    }
}

/// On SIGINT, SIGTERM or SIGHUP during a call: remove this process' reply FIFOs and
/// sockets, then exit 130 / 143 / 129 as the shell expects. The signals are blocked in
/// every thread and waited for by one.
fn clean_up_on_signals() -> Result<(), Failure> {
    let signals = block_stop_signals()?;
    std::thread::Builder::new()
        .name("opensips-mi-signals".into())
        .spawn(move || {
            if let Ok(signal) = signals.wait() {
                opensips_mi::remove_reply_files();
                std::process::exit(128 + signal as i32);
            }
        })
        .map(drop)
        .map_err(|e| Failure {
            code: 3,
            message: format!("starting the signal thread: {e}"),
        })
}

/// `-t`: the timeout of every call, replacing a URL's `?timeout=`.
fn timeout(cli: &Cli) -> Result<Option<Duration>, Failure> {
    match cli.timeout {
        Some(t) if !(t.is_finite() && t > 0.0 && t < 1e9) => Err(Failure::usage(format!(
            "bad timeout {t}: -t takes seconds, more than 0 (e.g. -t 2.5)"
        ))),
        t => Ok(t.map(Duration::from_secs_f64)),
    }
}

/// The options of `-t` and `--protocol` (a builder: some runs change one of them).
fn options(cli: &Cli) -> Result<OptionsBuilder, Failure> {
    let mut opts = Options::builder();
    if let Some(t) = timeout(cli)? {
        opts = opts.timeout(t);
    }
    if let Some(p) = cli.protocol {
        opts = opts.protocol(p);
    }
    Ok(opts)
}

fn one_url(cli: &Cli) -> Result<&str, Failure> {
    if cli.url.len() > 1 || cli.fleet.is_some() {
        return Err(Failure::usage(
            "several URLs (or --fleet) work with MI commands and diagnose only; give one -u \
             here",
        ));
    }
    Ok(cli
        .url
        .first()
        .map_or("fifo:///tmp/opensips_fifo", String::as_str))
}

/// A connection to `url`, `-t` replacing the URL's `?timeout=`.
fn open(cli: &Cli, url: &str, opts: impl Into<Options>) -> Result<Connection, Failure> {
    let mut conn = Connection::open_with(url, opts)?;
    if let Some(t) = timeout(cli)? {
        conn.set_timeout(t);
    }
    Ok(conn)
}

fn connect(cli: &Cli) -> Result<Connection, Failure> {
    open(cli, one_url(cli)?, options(cli)?)
}

/// Runs `f` on a connection to the one URL, speaking the generation cached for it (see
/// `generation.rs`) when neither `--protocol` nor `?protocol=` says one. A reply that shows
/// the cached generation wrong drops it: the generation is detected again and `f` runs
/// once more if it changed. Returns the connection used, for the error's explanation.
fn with_conn<T>(
    cli: &Cli,
    f: impl Fn(&Connection) -> Result<T, Error>,
) -> Result<(Connection, Result<T, Error>), Failure> {
    let url = one_url(cli)?;
    let opts = options(cli)?;
    let asked = opts.clone().build().protocol();
    let cacheable = cli.protocol.is_none() && !url.contains("protocol=");
    let cached = if cacheable {
        generation::cached(url)
    } else {
        None
    };
    let conn = open(cli, url, opts.clone().protocol(cached.unwrap_or(asked)))?;
    let result = f(&conn);
    let Some(was) = cached else {
        // after a success the generation is known: asking it sends nothing
        if cacheable && result.is_ok() {
            if let Ok(p) = conn.protocol() {
                generation::remember(url, p);
            }
        }
        return Ok((conn, result));
    };
    match &result {
        // a FIFO's silence may mean a wrong generation, or only a slow command: the entry
        // goes (the next run detects again) without a second wait now
        Err(e) if e.is_timeout() && matches!(conn, Connection::Fifo(_)) => {
            generation::forget(url);
            Ok((conn, result))
        }
        Err(e) if generation::may_be_wrong_generation(e) && !e.is_timeout() => {
            generation::forget(url);
            let fresh = open(cli, url, opts.protocol(Protocol::Auto))?;
            match fresh.protocol() {
                Ok(p) if p != was => {
                    generation::remember(url, p);
                    let again = f(&fresh);
                    Ok((fresh, again))
                }
                // the cached generation was right: the error is the answer
                Ok(p) => {
                    generation::remember(url, p);
                    Ok((conn, result))
                }
                Err(_) => Ok((conn, result)),
            }
        }
        _ => Ok((conn, result)),
    }
}

/// The fleet of `--fleet FILE` (and the `-u` URLs given with it) or of several `-u`, if
/// that is what was asked.
fn fleet(cli: &Cli) -> Result<Option<Fleet>, Failure> {
    let options = options(cli)?;
    let fleet = match &cli.fleet {
        Some(file) if !cli.url_given => Fleet::from_file_with(file, options)?,
        Some(_) => Fleet::open_with(fleet_urls(cli)?, options),
        None if cli.url.len() > 1 => Fleet::open_with(&cli.url, options),
        None => return Ok(None),
    };
    Ok(Some(match timeout(cli)? {
        Some(t) => fleet.timeout(t),
        None => fleet,
    }))
}

/// Every node as `(name, URL)`: the `--fleet` file's (with the names it gives), then the
/// `-u` ones given on the command line (named by their URL without its password).
fn fleet_nodes(cli: &Cli) -> Result<Vec<(String, String)>, Failure> {
    let mut nodes: Vec<(String, String)> = match &cli.fleet {
        Some(file) => {
            let fleet = Fleet::from_file(file)?;
            fleet
                .names()
                .into_iter()
                .zip(fleet.urls())
                .map(|(n, u)| (n.to_owned(), u.to_owned()))
                .collect()
        }
        None => Vec::new(),
    };
    if cli.fleet.is_none() || cli.url_given {
        nodes.extend(
            cli.url
                .iter()
                .map(|u| (opensips_mi::redact_url(u), u.clone())),
        );
    }
    Ok(nodes)
}

/// Every node: the `--fleet` file's URLs, then the `-u` ones given on the command line.
fn fleet_urls(cli: &Cli) -> Result<Vec<String>, Failure> {
    let mut urls: Vec<String> = match &cli.fleet {
        Some(file) => Fleet::from_file(file)?
            .urls()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    if cli.fleet.is_none() || cli.url_given {
        urls.extend(cli.url.iter().cloned());
    }
    Ok(urls)
}

fn run(cli: Cli) -> Result<(), Failure> {
    // a bad -t is a usage error before anything else (`-t NaN`, `--timeout=-1`)
    let call_timeout = timeout(&cli)?;
    let output = cli.output.unwrap_or(if std::io::stdout().is_terminal() {
        Output::Pretty
    } else {
        Output::Json
    });
    match &cli.command {
        Sub::Mi(words) => {
            let (method, args) = words
                .split_first()
                .ok_or_else(|| Failure::usage("no command"))?;
            let params = parse_args(args)?;
            mi::check_args(method, &params, output)?;
            let result = match fleet(&cli)? {
                Some(fleet) => mi::run_fleet(&fleet, method, &params, cli.timeout, output),
                None => {
                    let (conn, printed) = with_conn(&cli, |conn| {
                        mi::result(conn, method, &params, cli.timeout, output)
                    })?;
                    mi::print_one(&conn, method, printed, output)
                }
            };
            match result {
                // `opensips-mi help WORD` asked the server: say so when that fails
                Err(mut f) if method == "help" && !f.message.is_empty() => {
                    // `help ul_show_contac`: the closest command the server has
                    let word = argv::selectors(&params).into_iter().next();
                    if let (1, Some(word), Ok(conn)) = (f.code, word, connect(&cli)) {
                        if let Err(Error::UnknownCommand {
                            suggestion: Some(s),
                            ..
                        }) = conn.verify(&word)
                        {
                            f.message.push_str(&format!(" (did you mean `{s}`?)"));
                        }
                    }
                    f.message.push_str(
                        " (`opensips-mi help MI_COMMAND` asks OpenSIPS' own `help` command; \
                         the server's MI commands: opensips-mi list; this tool's help: \
                         opensips-mi --help)",
                    );
                    Err(f)
                }
                other => other,
            }
        }
        Sub::List => {
            let conn = connect(&cli)?;
            if output == Output::Raw {
                return print_response(
                    &opensips_mi::cmd("which").keep_raw().execute(&conn)?,
                    output,
                );
            }
            let names = conn.which()?;
            // only an explicit --output json gives JSON: the list is for grep
            if cli.output == Some(Output::Json) {
                let list = names
                    .iter()
                    .map(|n| {
                        Value::Object(
                            vec![
                                ("name".into(), Value::from(n.as_str())),
                                (
                                    "aliases".into(),
                                    Value::Array(aliases_of(n).map(Value::from).collect()),
                                ),
                            ]
                            .into(),
                        )
                    })
                    .collect();
                return print_value(&Value::Array(list), false);
            }
            for n in &names {
                let mut line = n.clone();
                for a in aliases_of(n) {
                    line.push('\t');
                    line.push_str(a);
                }
                print_line(&line)?;
            }
            Ok(())
        }
        Sub::Events {
            events,
            transport,
            expire,
            bind,
            advertise,
            path,
        } => {
            let transport = match transport {
                EventTransportArg::Udp => EventTransport::Udp,
                EventTransportArg::Tcp => EventTransport::Tcp,
                EventTransportArg::Unix => match path {
                    Some(p) => EventTransport::Unix(p.clone()),
                    None => EventTransport::UnixIn(std::env::temp_dir()),
                },
            };
            let mut b = EventListener::builder()
                .transport(transport)
                .bind(*bind)
                .expire(Duration::from_secs(*expire));
            if let Some(a) = advertise {
                b = b.advertise(a);
            }
            // the URL's ?server_user= is trusted to send to a unix event socket too
            if let Some(u) = cli.url.first().and_then(|u| query_param(u, "server_user")) {
                b = b.server_user(&u);
            }
            run_events(&cli, b, events)
        }
        Sub::EventNotify {
            uri,
            preset,
            event,
            from,
            contact,
            batch,
        } => {
            if batch.batch.is_some() {
                return run_batch(&cli, batch::Kind::Notify, batch, from, contact);
            }
            let uri = uri.as_deref().unwrap_or_default();
            let event = match (preset, event) {
                // a preset only: a typo is an error (with the closest preset), never an Event
                (Some(name), _) => name
                    .parse::<NotifyEvent>()
                    .map_err(|e| Failure::usage(e.to_string()))?,
                (None, Some(value)) => NotifyEvent::custom(value)?,
                (None, None) => return Err(Failure::usage("give a preset or --event VALUE")),
            };
            let req = sender(sip::event_notify(uri, event), from, contact, call_timeout);
            sip_reply(with_conn(&cli, |conn| req.send(conn))?.1?, output)
        }
        Sub::MwiUpdate {
            uri,
            account,
            new,
            old,
            urgent_new,
            urgent_old,
            from,
            contact,
            batch,
        } => {
            if batch.batch.is_some() {
                return run_batch(&cli, batch::Kind::Mwi, batch, from, contact);
            }
            let (Some(uri), Some(account), Some(new)) = (uri, account, new) else {
                return Err(Failure::usage("give URI ACCOUNT NEW, or --batch FILE"));
            };
            let counts = match (urgent_new, urgent_old) {
                (Some(un), Some(uo)) => Counts::with_urgent(*new, old.unwrap_or(0), *un, *uo),
                (None, None) => Counts::new(*new, old.unwrap_or(0)),
                _ => {
                    return Err(Failure::usage(
                        "give both URGENT_NEW and URGENT_OLD, or neither",
                    ));
                }
            };
            let mut summary = MessageSummary::voice_counts(counts);
            if account != "-" {
                summary = summary.account(account);
                // checked before anything is sent: a count where the account goes (`3`)
                // must not reach the phone as `From: <3>`
                if summary.body().is_err() {
                    return Err(Failure::usage(format!(
                        "ACCOUNT {account:?} must be a SIP or SIPS URI (e.g. \
                         sip:*97@vm.example.com), or \"-\" for none; nothing sent (usage: \
                         opensips-mi mwi-update URI ACCOUNT NEW [OLD [URGENT_NEW URGENT_OLD]])"
                    )));
                }
            }
            let req = sender(sip::mwi_update(uri, &summary)?, from, contact, call_timeout);
            sip_reply(with_conn(&cli, |conn| req.send(conn))?.1?, output)
        }
        Sub::Mock {
            fifo,
            udp,
            unix,
            http,
            legacy,
            flavor,
            empty,
        } => run_mock(fifo, udp, unix, http, *legacy, *flavor, *empty),
        Sub::Exporter {
            listen,
            scrape_timeout,
            prefix,
            group_mode,
            group_label,
            workers,
        } => {
            if !(scrape_timeout.is_finite() && *scrape_timeout > 0.0 && *scrape_timeout < 3600.0) {
                return Err(Failure::usage(format!(
                    "bad --scrape-timeout {scrape_timeout}"
                )));
            }
            if *workers == 0 || *workers > 256 {
                return Err(Failure::usage("--workers takes 1 to 256"));
            }
            let naming = opensips_mi::helpers::MetricNaming::new(
                prefix,
                exporter::group_mode(group_mode)?,
                group_label,
            )
            .map_err(|e| Failure::usage(e.to_string()))?;
            let scrape_timeout = Duration::from_secs_f64(*scrape_timeout);
            // Block the signals before any thread starts (opening the nodes may start some);
            // one thread waits for them.
            let signals = block_stop_signals()?;
            let mut options = options(&cli)?;
            if cli.timeout.is_none() {
                options = options.timeout(scrape_timeout);
            }
            let nodes = fleet_nodes(&cli)?;
            for (i, (name, _)) in nodes.iter().enumerate() {
                if nodes[..i].iter().any(|(n, _)| n == name) {
                    return Err(Failure::usage(format!(
                        "the node {name} is given twice: each node once, with its own name"
                    )));
                }
            }
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            std::thread::spawn(move || {
                if let Ok(sig) = signals.wait() {
                    eprintln!("opensips-mi: exporter stopping ({sig:?})");
                }
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            exporter::run(
                exporter::Config {
                    listen: *listen,
                    nodes,
                    options: options.build(),
                    scrape_timeout,
                    naming,
                    workers: *workers,
                },
                stop,
            )
        }
        Sub::Diagnose => {
            let options = options(&cli)?;
            let timeout = timeout(&cli)?;
            // (name, URL): the names of a fleet file, else the URLs without their passwords
            let urls = fleet_nodes(&cli)?;
            // at most 16 nodes at a time, as a Fleet does
            let reports: Vec<(Value, u8)> = urls
                .chunks(16)
                .flat_map(|chunk| {
                    std::thread::scope(|s| {
                        let handles: Vec<_> = chunk
                            .iter()
                            .map(|(n, u)| s.spawn(|| diagnose::diagnose(n, u, &options, timeout)))
                            .collect();
                        handles
                            .into_iter()
                            .map(|h| h.join().unwrap_or((Value::Null, 3)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut code = 0;
            for (i, (report, c)) in reports.iter().enumerate() {
                code = code.max(*c);
                if output == Output::Pretty {
                    if i > 0 {
                        print_line("")?;
                    }
                    output::print_raw(diagnose::pretty(report).as_bytes())?;
                } else {
                    print_value(report, false)?;
                }
            }
            match code {
                0 => Ok(()),
                c => Err(Failure {
                    code: c,
                    message: String::new(),
                }),
            }
        }
        Sub::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "opensips-mi",
                &mut std::io::stdout(),
            );
            print_line(complete::dynamic_part(*shell))
        }
        Sub::CompleteCommands => {
            let url = cli
                .url
                .first()
                .map_or("fifo:///tmp/opensips_fifo", String::as_str);
            output::print_raw(complete::command_names(url).as_bytes())
        }
    }
}

/// `--batch`: every line of the file, at most `--concurrency` at a time.
fn run_batch(
    cli: &Cli,
    kind: batch::Kind,
    args: &BatchArgs,
    from: &Option<String>,
    contact: &Option<String>,
) -> Result<(), Failure> {
    if cli.url.len() > 1 || cli.fleet.is_some() {
        return Err(Failure::usage("a batch goes to one server: give one -u"));
    }
    if args.concurrency == 0 || args.concurrency > 1024 {
        return Err(Failure::usage("--concurrency takes 1 to 1024"));
    }
    let url = cli
        .url
        .first()
        .map_or("fifo:///tmp/opensips_fifo", String::as_str);
    let input = args.batch.as_deref().unwrap_or(std::path::Path::new("-"));
    let lock = if args.no_lock {
        None
    } else {
        Some(
            args.lock
                .clone()
                .unwrap_or_else(|| batch::default_lock(kind)),
        )
    };
    let timeout = timeout(cli)?;
    batch::run(batch::Run {
        kind,
        input,
        url,
        options: options(cli)?.build(),
        concurrency: args.concurrency,
        lock,
        adjust: &|req| sender(req, from, contact, timeout),
    })
}

/// Applies `--from`, `--contact` and `--timeout` to a SIP request.
fn sender(
    mut req: sip::SipRequest,
    from: &Option<String>,
    contact: &Option<String>,
    timeout: Option<Duration>,
) -> sip::SipRequest {
    if let Some(f) = from {
        req = req.notifier(f);
    }
    if let Some(c) = contact {
        req = req.contact(c);
    }
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    req
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and the threads it starts from now on),
/// so that they can be waited for with `SigSet::wait` instead of killing the process.
fn block_stop_signals() -> Result<nix::sys::signal::SigSet, Failure> {
    use nix::sys::signal::{SigSet, Signal};
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGHUP);
    signals.thread_block().map_err(|e| Failure {
        code: 3,
        message: format!("blocking signals: {e}"),
    })?;
    Ok(signals)
}

/// The value of the query parameter `name` in `url` (without %-decoding: user names and
/// uids need none).
fn query_param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Prints events as JSON lines until a signal comes; the listener unsubscribes on the way
/// out.
fn run_events(cli: &Cli, builder: EventListenerBuilder, events: &[String]) -> Result<(), Failure> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // Block the signals in every thread; one thread waits for them and raises the flag.
    let signals = block_stop_signals()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let _ = signals.wait();
        flag.store(true, Ordering::SeqCst);
    });

    let conn = Arc::new(connect(cli)?);
    let listener = builder.subscribe(conn, events)?;
    eprintln!("opensips-mi: listening on {}", listener.socket());
    let mut out = std::io::stdout().lock();
    let mut dropped = 0;
    while !stop.load(Ordering::SeqCst) {
        let now = listener.dropped();
        if now > dropped {
            eprintln!(
                "opensips-mi: {} event(s) dropped (output too slow, or sent by an untrusted user)",
                now - dropped
            );
            dropped = now;
        }
        match listener.recv_timeout(Duration::from_millis(200)) {
            Ok(None) => {}
            Ok(Some(ev)) => {
                let line = Value::Object(
                    vec![
                        ("name".into(), Value::from(ev.name)),
                        ("params".into(), ev.params),
                    ]
                    .into(),
                );
                // a closed stdout (| head) ends the run, unsubscribing
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    break;
                }
            }
            Err(e) => eprintln!("opensips-mi: {e}"),
        }
    }
    drop(listener);
    Ok(())
}

fn run_mock(
    fifo: &Option<PathBuf>,
    udp: &Option<SocketAddr>,
    unix: &Option<PathBuf>,
    http: &Option<SocketAddr>,
    legacy: bool,
    flavor: Option<FlavorArg>,
    empty: bool,
) -> Result<(), Failure> {
    // Block the signals before any thread starts, then wait for them here.
    let signals = block_stop_signals()?;

    let flavor = match (legacy, flavor) {
        (_, Some(FlavorArg::V1)) => Flavor::V1,
        (true, _) | (_, Some(FlavorArg::V2)) => Flavor::V2,
        (_, Some(FlavorArg::V4)) => Flavor::V4,
        _ => Flavor::V3,
    };
    let mut b = MockServer::builder().flavor(flavor);
    if empty {
        b = b.empty();
    }
    if let Some(p) = fifo {
        b = b.fifo_at(p);
    }
    if let Some(a) = udp {
        b = b.udp_at(*a);
    }
    if let Some(p) = unix {
        b = b.unix_at(p);
    }
    if let Some(a) = http {
        b = b.http_at(*a);
    }
    let server = b.start().map_err(|e| Failure {
        code: 3,
        message: format!("cannot start the mock: {e}"),
    })?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "mock OpenSIPS ({flavor:?}) listening on:");
        for url in server.urls() {
            let _ = writeln!(out, "{url}");
        }
        let _ = out.flush();
    }
    let signal = signals.wait().map_err(|e| Failure {
        code: 3,
        message: format!("waiting for signals: {e}"),
    })?;
    drop(server);
    eprintln!("opensips-mi: mock stopped ({signal:?})");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_param() {
        let url = "udp://127.0.0.1:8809?timeout=2&server_user=osips";
        assert_eq!(
            super::query_param(url, "server_user").as_deref(),
            Some("osips")
        );
        assert_eq!(super::query_param(url, "user"), None);
        assert_eq!(super::query_param("udp://h:1", "server_user"), None);
    }
}
