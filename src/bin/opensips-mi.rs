//! `opensips-mi`: run OpenSIPS Management Interface commands from a shell or cron.
//!
//! ```text
//! opensips-mi [-u URL] [-t SECONDS] [--protocol jsonrpc|legacy|auto] [--output pretty|json|raw] COMMAND [ARG...]
//! ```
//!
//! Exit codes: 0 success; 1 OpenSIPS answered with an error; 2 usage error; 3 could not talk
//! to OpenSIPS (not running, timeout, malformed reply).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use opensips_mi::events::{EventListener, EventListenerBuilder, EventTransport};
use opensips_mi::mock::{Flavor, MockServer};
use opensips_mi::sip::{self, Counts, MessageSummary, NotifyEvent};
use opensips_mi::{Cmd, Connection, Error, Options, Params, Protocol, Response, Value};

const AFTER_HELP: &str = "\
ARGUMENTS
  value         a positional string
  name=value    a named string (name: letters, digits, '_')
  name:=JSON    a named JSON value, e.g. statistics:='[\"dialog:\",\"tm:\"]'
  :=JSON        a positional JSON value, e.g. :=5 or :='[\"dialog:\"]'
  Positional and named arguments cannot be mixed.

URLS
  fifo:///tmp/opensips_fifo   udp://127.0.0.1:8809   unix:///run/opensips/mi.sock
  http://127.0.0.1:8888/mi    xmlrpc://127.0.0.1:8888/RPC2
  Parameters: ?timeout=2s&protocol=auto&reply_dir=/run/opensips/ ...

EXIT CODES
  0 success, 1 OpenSIPS answered with an error, 2 usage error,
  3 could not talk to OpenSIPS (not running, timeout, malformed reply)

EXAMPLES
  opensips-mi uptime
  opensips-mi -u udp://127.0.0.1:8809 get_statistics statistics:='[\"dialog:\"]'
  opensips-mi ul_dump | jq '[.Domains[].AORs[].Contacts[]] | length'
  opensips-mi mwi-update sip:1001@10.0.0.21 sip:*97@vm.example.com 2 5
  opensips-mi events E_UL_CONTACT_INSERT E_UL_CONTACT_DELETE --transport tcp
  opensips-mi mock --fifo /tmp/opensips_fifo --udp 127.0.0.1:8809";

#[derive(Parser, Debug)]
#[command(name = "opensips-mi", version, about = "Run OpenSIPS Management Interface commands", after_help = AFTER_HELP)]
struct Cli {
    /// MI endpoint URL
    #[arg(
        short,
        long,
        env = "OPENSIPS_MI_URL",
        default_value = "fifo:///tmp/opensips_fifo",
        global = true
    )]
    url: String,
    /// Timeout in seconds (default 5; t_uac_dlg based helpers wait 35)
    #[arg(short, long, value_name = "SECONDS", global = true)]
    timeout: Option<f64>,
    /// MI generation of the server
    #[arg(long, value_enum, global = true)]
    protocol: Option<ProtocolArg>,
    /// Output format (default: pretty on a terminal, json otherwise)
    #[arg(short, long, value_enum, global = true)]
    output: Option<Output>,
    #[command(subcommand)]
    command: Sub,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ProtocolArg {
    Jsonrpc,
    Legacy,
    Auto,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum Output {
    Pretty,
    Json,
    Raw,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EventTransportArg {
    Udp,
    Tcp,
    Unix,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FlavorArg {
    #[value(name = "2")]
    V2,
    #[value(name = "3")]
    V3,
    #[value(name = "4")]
    V4,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Set a voicemail lamp: RFC 3842 message-summary NOTIFY (ACCOUNT "-" for none)
    MwiUpdate {
        uri: String,
        account: String,
        new: u32,
        old: Option<u32>,
        urgent_new: Option<u32>,
        urgent_old: Option<u32>,
    },
    /// Send a special-event NOTIFY (a preset such as snom_reboot, or any Event value)
    EventNotify { uri: String, event: String },
    /// List the server's MI commands (via `which`)
    List,
    /// Subscribe to events and print one JSON line per event until SIGINT/SIGTERM
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
        /// Socket path for --transport unix (default: /tmp/opensips-mi-events-PID.sock)
        #[arg(long)]
        path: Option<PathBuf>,
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
        /// OpenSIPS version to imitate
        #[arg(long, value_enum, conflicts_with = "legacy")]
        flavor: Option<FlavorArg>,
    },
    /// Print a shell completion script
    Completions { shell: clap_complete::Shell },
    /// Any MI command, with its arguments
    #[command(external_subcommand)]
    Mi(Vec<String>),
}

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
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Rpc(_) | Error::Command(_) => 1,
            Error::InvalidRequest(_) | Error::InvalidConfig(_) => 2,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("opensips-mi: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn options(cli: &Cli) -> Result<Options, Failure> {
    let mut opts = Options::new();
    if let Some(t) = cli.timeout {
        if !(t.is_finite() && t > 0.0 && t < 1e9) {
            return Err(Failure::usage(format!("bad timeout {t}")));
        }
        opts = opts.timeout(Duration::from_secs_f64(t));
    }
    if let Some(p) = cli.protocol {
        opts = opts.protocol(match p {
            ProtocolArg::Jsonrpc => Protocol::JsonRpc,
            ProtocolArg::Legacy => Protocol::Legacy,
            ProtocolArg::Auto => Protocol::Auto,
        });
    }
    Ok(opts)
}

fn connect(cli: &Cli) -> Result<Connection, Failure> {
    Ok(Connection::open_with(&cli.url, options(cli)?)?)
}

fn run(cli: Cli) -> Result<(), Failure> {
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
            let mut cmd = Cmd::with_params(method.as_str(), params);
            if let Some(t) = cli.timeout {
                cmd.timeout(Duration::from_secs_f64(t));
            }
            let conn = connect(&cli)?;
            print_response(&cmd.execute(&conn)?, output)
        }
        Sub::List => {
            let conn = connect(&cli)?;
            let resp = conn.command("which", ())?;
            if output == Output::Raw {
                return print_response(&resp, output);
            }
            let names: Vec<Value> = match &resp.value {
                Value::Array(a) => a.clone(),
                // 2.x XML-RPC or unusual shapes: every string found
                other => other
                    .as_object()
                    .unwrap_or_default()
                    .iter()
                    .map(|(_, v)| v.clone())
                    .collect(),
            };
            match output {
                Output::Json => print_value(&Value::Array(names), false),
                _ => {
                    let mut out = std::io::stdout().lock();
                    for n in names {
                        let _ = writeln!(out, "{}", n.as_str().unwrap_or_default());
                    }
                    Ok(())
                }
            }
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
                EventTransportArg::Unix => {
                    EventTransport::Unix(path.clone().unwrap_or_else(|| {
                        std::env::temp_dir()
                            .join(format!("opensips-mi-events-{}.sock", std::process::id()))
                    }))
                }
            };
            let mut b = EventListener::builder()
                .transport(transport)
                .bind(*bind)
                .expire(Duration::from_secs(*expire));
            if let Some(a) = advertise {
                b = b.advertise(a);
            }
            run_events(&cli, b, events)
        }
        Sub::EventNotify { uri, event } => {
            let event: NotifyEvent = event.parse()?;
            let mut req = sip::event_notify(uri, event);
            if let Some(t) = cli.timeout {
                req = req.timeout(Duration::from_secs_f64(t));
            }
            sip_reply(req.send(&connect(&cli)?)?, output)
        }
        Sub::MwiUpdate {
            uri,
            account,
            new,
            old,
            urgent_new,
            urgent_old,
        } => {
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
            if account != "-" && !account.is_empty() {
                summary = summary.account(account);
            }
            let mut req = sip::mwi_update(uri, &summary)?;
            if let Some(t) = cli.timeout {
                req = req.timeout(Duration::from_secs_f64(t));
            }
            sip_reply(req.send(&connect(&cli)?)?, output)
        }
        Sub::Mock {
            fifo,
            udp,
            unix,
            http,
            legacy,
            flavor,
        } => run_mock(fifo, udp, unix, http, *legacy, *flavor),
        Sub::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "opensips-mi",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

/// Parses `value`, `name=value`, `name:=JSON` and `:=JSON` into parameters.
fn parse_args(args: &[String]) -> Result<Params, Failure> {
    let mut positional = Vec::new();
    let mut named = Vec::new();
    for a in args {
        let json = |text: &str| {
            Value::from_json(text.as_bytes())
                .map_err(|_| Failure::usage(format!("argument {a:?}: not valid JSON after ':='")))
        };
        if let Some(text) = a.strip_prefix(":=") {
            positional.push(json(text)?);
        } else if let Some((name, text)) = a.split_once(":=").filter(|(n, _)| is_name(n)) {
            named.push((name.to_owned(), json(text)?));
        } else if let Some((name, value)) = a.split_once('=').filter(|(n, _)| is_name(n)) {
            named.push((name.to_owned(), Value::from(value)));
        } else {
            positional.push(Value::from(a.as_str()));
        }
    }
    match (positional.is_empty(), named.is_empty()) {
        (true, true) => Ok(Params::None),
        (false, true) => Ok(Params::Positional(positional)),
        (true, false) => Ok(Params::Named(named)),
        (false, false) => Err(Failure::usage(
            "positional and named arguments cannot be mixed (OpenSIPS takes one kind per call)",
        )),
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn print_value(v: &Value, pretty: bool) -> Result<(), Failure> {
    let text = if pretty {
        v.to_json_pretty()
    } else {
        v.to_string()
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| Failure {
        code: 3,
        message: format!("writing the output: {e}"),
    })
}

fn print_response(resp: &Response, output: Output) -> Result<(), Failure> {
    match output {
        Output::Raw => {
            let mut out = std::io::stdout().lock();
            out.write_all(&resp.raw)
                .and_then(|()| out.flush())
                .map_err(|e| Failure {
                    code: 3,
                    message: format!("writing the output: {e}"),
                })
        }
        Output::Json => print_value(&resp.value, false),
        Output::Pretty => print_value(&resp.value, true),
    }
}

fn sip_reply(reply: sip::SipReply, output: Output) -> Result<(), Failure> {
    let v = Value::Object(vec![
        ("status".into(), Value::from(u32::from(reply.status))),
        ("reason".into(), Value::from(reply.reason.as_str())),
        ("message".into(), Value::from(reply.message.clone())),
    ]);
    print_value(&v, output == Output::Pretty)?;
    if reply.is_success() {
        Ok(())
    } else {
        Err(Failure {
            code: 1,
            message: format!("the far end answered {} {}", reply.status, reply.reason),
        })
    }
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
    while !stop.load(Ordering::SeqCst) {
        match listener.recv_timeout(Duration::from_millis(200)) {
            Ok(None) => {}
            Ok(Some(ev)) => {
                let line = Value::Object(vec![
                    ("name".into(), Value::from(ev.name)),
                    ("params".into(), ev.params),
                ]);
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
) -> Result<(), Failure> {
    // Block the signals before any thread starts, then wait for them here.
    let signals = block_stop_signals()?;

    let flavor = match (legacy, flavor) {
        (true, _) | (_, Some(FlavorArg::V2)) => Flavor::V2,
        (_, Some(FlavorArg::V4)) => Flavor::V4,
        _ => Flavor::V3,
    };
    let mut b = MockServer::builder().flavor(flavor);
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
