//! What differs from one OpenSIPS version to the next, in one place: what a connection
//! learns about its server ([`ServerFacts`]), and the list of every version quirk the crate
//! knows, with where it is handled.
//!
//! The functions that recognise each generation's answers live here too (crate-internal),
//! so a reader finds every "version X does Y" in this file or through the table below.
//!
//! A connection learns its server's generation when it detects it ([`Protocol::Auto`], the
//! default), from the `version` reply of the probe, which also gives the exact release:
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use opensips_mi::{Connection, server::Generation, mock::{Flavor, MockServer}};
//! let server = MockServer::builder().flavor(Flavor::V1).udp().start()?;
//! let conn = Connection::open(&server.udp_url().unwrap())?;
//! let facts = conn.server()?;
//! assert_eq!(facts.generation, Generation::V1);
//! assert!(facts.version.as_deref().unwrap().starts_with("1.11"));
//! assert!(!facts.has_list_statistics());
//! assert_eq!(facts.log_level_command(), "debug");
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Every known difference
//!
//! | version | what it does | handled in |
//! |---|---|---|
//! | 1.x, 2.x | legacy text MI on FIFO/datagram (`:cmd:reply\n`, tree replies) | `protocol::legacy` |
//! | 1.x, 2.x | FIFO: a JSON-RPC request is ignored (a silent timeout) | `session` (hint, detection) |
//! | 1.x, 2.x | datagram: JSON-RPC gets `500 command not available` | `protocol::jsonrpc` KNOWN_TEXTS |
//! | 1.x | datagram replies have no final empty line | `protocol::legacy` (a datagram is a whole reply) |
//! | 1.x | `mi_xmlrpc` (Abyss): the reply is ONE string of unindented tree lines | `server::rebuild_1x_tree`, [`crate::xmlrpc::decode_reply_v1`] |
//! | 1.x | `mi_xmlrpc` strips every CR from string parameters; LF LF becomes CR LF | `protocol::xmlrpc::encode_request_v1` (`<base64>`) |
//! | 1.x | `mi_xmlrpc`: unknown command = fault `-506` | CLI did-you-mean, [`Error::is_unknown_command`](crate::Error::is_unknown_command) |
//! | 1.x | `ul_show_contact`: one flat `Contact::` line per contact | `helpers::usrloc` |
//! | 1.x | `cache_fetch`: `key = [value]` | `helpers` `cache_fetch` |
//! | 1.x | `t_uac_dlg` reply lines are unnamed | `sip::SipReply::from_value` |
//! | 1.x | `dialog::` has `dialog_id=` (2.4 `ID=`), `Domain::` has `table=` (2.4 `hash_size=`) | `helpers` normalisation |
//! | 1.x | no `log_level` (it is `debug`), no `list_statistics` | [`ServerFacts::log_level_command`], [`ServerFacts::has_list_statistics`] |
//! | 1.x | statistic names may hold `:` (`load:udp:127.0.0.1:5068-load`) | split at the first `:` |
//! | 2.x | `mi_xmlrpc_ng`: untyped `<value>text</value>`, `{value, attributes, kids}` | [`crate::xmlrpc::decode_reply_v2`] |
//! | 2.x | `mi_xmlrpc_ng` takes non-empty `<string>` params only (`401 Empty request` else) | `protocol::xmlrpc::encode_request_v2` |
//! | 2.x | `mi_xmlrpc_ng` 500 when a reply exceeds httpd's buffer | hint here, used by `protocol::framing` |
//! | 1.x, 2.x | XML-RPC values untyped (2.x) or one flat string (1.x); 3.x/4.x always typed | recognised here (`looks_1x`, `has_untyped_value`): detection, and the error for a reply of another generation |
//! | 1.x, 2.x | `http://` is an HTML page (mi_http) or a GET API (mi_json) | recognised here (`older_http_answer`) |
//! | 3.x, 4.x | datagram: the legacy text gets `400 Parse_error` | hint here, used by `protocol::framing` |
//! | ≤ 2.4.4 | datagram replies lack the final empty line | as 1.x |
//! | 3.x, 4.x | FIFO: bytes after a JSON request that do not parse wedge mi_fifo | `session` detection (staged probes) |
//! | 3.x | plain-text failures (`failed to print response`, `400 Parse_error`, …) | `protocol::jsonrpc` KNOWN_TEXTS |
//! | 3.4.18 | the write right after a parse error can fail with `EPIPE` | `transport::fifo` |
//! | 3.x, 4.x | httpd loses a request body sent after its head | `transport::http` (one write) |
//! | 4.0 | `module:command` names; old names are aliases `which` does not list | [`ServerFacts::namespaced_commands`], `helpers::aliases` |
//!
//! [`Protocol::Auto`]: crate::Protocol::Auto

use crate::{Error, Value};

/// An OpenSIPS MI generation, as far as it changes what is on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Generation {
    /// OpenSIPS 1.x: legacy text MI; its `mi_xmlrpc` flattens replies into one string.
    V1,
    /// OpenSIPS 2.x: legacy text MI; `mi_xmlrpc_ng` with untyped values.
    V2,
    /// OpenSIPS 3.x: JSON-RPC 2.0.
    V3,
    /// OpenSIPS 4.x: JSON-RPC 2.0 with `module:command` names.
    V4,
}

impl Generation {
    /// `1.x`, `2.x`, `3.x`, `4.x`.
    pub fn label(self) -> &'static str {
        match self {
            Generation::V1 => "1.x",
            Generation::V2 => "2.x",
            Generation::V3 => "3.x",
            Generation::V4 => "4.x",
        }
    }

    /// The generation of a release number (`"1.11.11-notls"`, `"3.5.9"`, ...).
    pub(crate) fn of_release(release: &str) -> Option<Generation> {
        let major: u32 = release.split(['.', '-', ' ']).next()?.trim().parse().ok()?;
        Some(match major {
            0 | 1 => Generation::V1,
            2 => Generation::V2,
            3 => Generation::V3,
            _ => Generation::V4,
        })
    }

    /// Whether it speaks the legacy text MI (1.x, 2.x).
    pub fn is_legacy(self) -> bool {
        self <= Generation::V2
    }

    /// The MI protocol it speaks: [`Protocol::Legacy`](crate::Protocol::Legacy) for 1.x
    /// and 2.x, [`Protocol::JsonRpc`](crate::Protocol::JsonRpc) for 3.x and 4.x (never
    /// `Auto`).
    ///
    /// ```
    /// use opensips_mi::{Protocol, server::Generation};
    /// assert_eq!(Generation::V2.protocol(), Protocol::Legacy);
    /// assert_eq!(Generation::V4.protocol(), Protocol::JsonRpc);
    /// ```
    pub fn protocol(self) -> crate::Protocol {
        if self.is_legacy() {
            crate::Protocol::Legacy
        } else {
            crate::Protocol::JsonRpc
        }
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What a connection knows about its server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerFacts {
    /// The generation.
    pub generation: Generation,
    /// The release (`1.11.11-notls`, `3.5.9`), when a `version` reply told it.
    pub version: Option<String>,
}

impl ServerFacts {
    /// Facts from a generation alone.
    pub fn new(generation: Generation) -> Self {
        ServerFacts {
            generation,
            version: None,
        }
    }

    /// Facts from the `Server` text of a `version` reply (`OpenSIPS (1.11.11-notls
    /// (x86_64/linux))`); `fallback` when it names no release.
    pub(crate) fn from_server_text(text: &str, fallback: Generation) -> Self {
        let release = release_of(text);
        let generation = release
            .as_deref()
            .and_then(Generation::of_release)
            // the wire said legacy or JSON-RPC: a release number cannot overrule it
            .filter(|g| g.is_legacy() == fallback.is_legacy())
            .unwrap_or(fallback);
        ServerFacts {
            generation,
            version: release,
        }
    }

    /// Whether the server has `list_statistics` (2.x and later; 1.x has not).
    pub fn has_list_statistics(&self) -> bool {
        self.generation >= Generation::V2
    }

    /// The command that reads and sets log levels: `debug` on 1.x, `log_level` later.
    pub fn log_level_command(&self) -> &'static str {
        if self.generation == Generation::V1 {
            "debug"
        } else {
            "log_level"
        }
    }

    /// Whether command names are `module:command` (4.0; the old names stay as aliases).
    pub fn namespaced_commands(&self) -> bool {
        self.generation >= Generation::V4
    }
}

/// The release in a `version` reply's `Server` text: `OpenSIPS (1.11.11-notls
/// (x86_64/linux))` → `1.11.11-notls`.
pub(crate) fn release_of(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix("OpenSIPS")?.trim_start();
    let rest = rest.strip_prefix('(').unwrap_or(rest);
    let release = rest.split([' ', ')']).next()?.trim();
    release
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| release.to_owned())
}

/// The `Server` text of a decoded `version` reply, whatever the generation.
pub(crate) fn server_text(v: &Value) -> Option<&str> {
    v["Server"]
        .as_str()
        .or_else(|| v.as_str().and_then(|s| s.strip_prefix("Server:: ")))
}

// ---- recognising each generation's answers ----

/// Whether a successful XML-RPC reply is an OpenSIPS 1.x `mi_xmlrpc` one: one `<string>`,
/// empty (a bodiless OK) or node lines each ending in LF (3.x/4.x answer objects, or
/// short strings such as `OK`).
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn looks_1x(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty() || s.ends_with('\n'),
        _ => false,
    }
}

/// Whether an XML-RPC reply body holds a value without a type (`<value>text</value>`),
/// which only 2.x `mi_xmlrpc_ng` writes (3.x/4.x always type their values).
#[cfg(feature = "http")]
pub(crate) fn has_untyped_value(bytes: &[u8]) -> bool {
    // (on every XML-RPC reply: `from_utf8` first, the lossy copy only for what is not
    // UTF-8, and one searcher for `<value>`, not one `str::find` searcher per value; the
    // old way cost half as much as decoding the reply. `<value>` is ASCII: where it is
    // found is a character boundary.)
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    };
    static VALUE_TAG: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"<value>"));
    let mut rest = text.as_ref();
    while let Some(i) = VALUE_TAG.find(rest.as_bytes()) {
        rest = &rest[i + 7..];
        let next = rest.trim_start();
        if !next.starts_with('<') || next.starts_with("</value>") {
            return true;
        }
    }
    false
}

/// What an OpenSIPS 1.x/2.x HTTP module answers to a JSON-RPC POST, said plainly.
pub(crate) fn older_http_answer(body: &[u8]) -> Option<&'static str> {
    // a JSON-RPC reply as OpenSIPS prints it is neither of their pages (mi_json's answer is
    // JSON too, `{"error":…}`): answered without a look at the text (called on every HTTP
    // reply, the look cost a tenth of a local round trip)
    if body.trim_ascii_start().starts_with(b"{\"jsonrpc\"") {
        return None;
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    if text.contains("unexpected method") {
        Some(
            "this is the mi_json module of OpenSIPS 1.x/2.x (GET only), not JSON-RPC: use the \
             FIFO, datagram or XML-RPC transport with ?protocol=legacy or auto",
        )
    } else if text.trim_start().starts_with('<') {
        Some(
            "an HTML page: OpenSIPS 1.x/2.x mi_http is an HTML interface, not JSON-RPC; use the \
             FIFO, datagram or XML-RPC transport with ?protocol=legacy or auto",
        )
    } else {
        None
    }
}

/// 3.x/4.x `mi_datagram` answers anything that is not JSON with `400 Parse_error`.
pub(crate) const HINT_3X_PARSE_ERROR: &str = "this is how OpenSIPS 3.x/4.x answer a request \
    that is not JSON-RPC: the server is 3.x/4.x, drop ?protocol=legacy (the generation is then \
    detected)";

/// 2.x `mi_xmlrpc_ng` answers `500 Internal server error` when a reply exceeds its buffer.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) const HINT_2X_XMLRPC_TOO_BIG: &str = "OpenSIPS 2.x mi_xmlrpc_ng could not build the \
    reply, usually because it is larger than httpd's buf_size: raise it, or use the FIFO \
    transport for big replies";

/// The shape of a 1.x reply tree, to rebuild the nesting the 1.x `mi_xmlrpc` drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape1x {
    /// Every node at the top (most commands: `ps`, `which`, `get_statistics`, ...).
    Flat,
    /// `ul_dump`: `Domain` > `AOR` > `Contact` > its fields.
    UlDump,
    /// `dlg_list`, `dlg_list_ctx`: `dialog` > fields, `CALLEES` > `callee` > fields,
    /// `context` > `profiles`/`values` > entries.
    Dialogs,
    /// `subscribers_list`: `Event` > `Subscriber`.
    Subscribers,
    /// `t_uac_dlg`: four unnamed lines, then the SIP message (its lines, CR stripped).
    UacDlg,
    /// A command whose 1.x tree nests and whose shape is not known here.
    Unknown,
}

impl Shape1x {
    pub(crate) fn of(method: &str) -> Shape1x {
        match method {
            "ul_dump" => Shape1x::UlDump,
            "dlg_list" | "dlg_list_ctx" => Shape1x::Dialogs,
            "subscribers_list" => Shape1x::Subscribers,
            "t_uac_dlg" => Shape1x::UacDlg,
            // 1.11 commands whose replies nest (modules/*: mi_* handlers adding kids)
            "dr_reload_status" | "lb_list" | "ds_list" | "dp_show" | "profile_list_dlgs"
            | "list_tcp_conns" | "address_dump" | "subnet_dump" | "rl_list" | "pike_list"
            | "dlg_list_profile" | "b2b_list" | "pua_list" | "domain_dump" | "ul_sync" => {
                Shape1x::Unknown
            }
            _ => Shape1x::Flat,
        }
    }
}

/// The text tree (FIFO layout, TAB indents, no status line) of a 1.x `mi_xmlrpc` reply
/// string, whose lines lost their indentation, rebuilt from the command's known shape.
///
/// # Errors
///
/// [`Error::UnexpectedReply`] for a command whose 1.x reply nests in a way not known here
/// (rather than a success with the nesting wrong).
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn rebuild_1x_tree(shape: Shape1x, text: &str) -> Result<String, Error> {
    if shape == Shape1x::Flat || text.is_empty() {
        return Ok(text.to_owned());
    }
    if shape == Shape1x::Unknown {
        return Err(Error::UnexpectedReply {
            field: String::new(),
            reason: "OpenSIPS 1.x mi_xmlrpc flattens this command's reply tree and its \
                     nesting cannot be rebuilt: use the FIFO or datagram transport"
                .into(),
        });
    }
    if shape == Shape1x::UacDlg {
        // status, RURI, next hop, route set, then the SIP message with its CRs stripped
        let mut lines = text.splitn(5, '\n');
        let mut out = String::with_capacity(text.len() + 32);
        for _ in 0..4 {
            out.push_str(lines.next().unwrap_or("."));
            out.push('\n');
        }
        let message = lines.next().unwrap_or("");
        let message = message.strip_suffix('\n').unwrap_or(message);
        if !message.is_empty() {
            // one node: CR LF line ends keep it one node for the text parser
            out.push_str(&message.replace('\n', "\r\n"));
            out.push('\n');
        }
        return Ok(out);
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    // the section a Dialogs line is in: 0 dialog, 1 CALLEES, 2 context
    let mut section = 0;
    for line in text.split_inclusive('\n') {
        let name = line.split_once(":: ").map(|(n, _)| n).unwrap_or_else(|| {
            line.trim_end_matches('\n')
                .strip_suffix("::")
                .unwrap_or("\u{0}")
        });
        let depth = match shape {
            Shape1x::UlDump => match name {
                "Domain" => 0,
                "AOR" => 1,
                "Contact" => 2,
                _ => 3,
            },
            Shape1x::Subscribers => match name {
                "Event" => 0,
                _ => 1,
            },
            _ => match (name, section) {
                ("dialog", _) => {
                    section = 0;
                    0
                }
                ("CALLEES", _) => {
                    section = 1;
                    1
                }
                ("context", _) => {
                    section = 2;
                    1
                }
                (_, 0) => 1,
                ("callee", 1) => 2,
                ("profiles" | "values" | "variables", 2) => 2,
                _ => 3,
            },
        };
        for _ in 0..depth {
            out.push('\t');
        }
        out.push_str(line);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_and_generations() {
        assert_eq!(
            release_of("OpenSIPS (1.11.11-notls (x86_64/linux))").as_deref(),
            Some("1.11.11-notls")
        );
        assert_eq!(
            release_of("OpenSIPS (3.5.9 (x86_64/linux))").as_deref(),
            Some("3.5.9")
        );
        assert_eq!(release_of("something else"), None);
        let f = ServerFacts::from_server_text("OpenSIPS (2.4.11 (x86_64/linux))", Generation::V1);
        assert_eq!(f.generation, Generation::V2);
        // a JSON-RPC answer is never taken for a legacy server, whatever the text says
        let f = ServerFacts::from_server_text("OpenSIPS (2.4.11 (x86_64/linux))", Generation::V3);
        assert_eq!(f.generation, Generation::V3);
        assert_eq!(Generation::of_release("4.0.1"), Some(Generation::V4));
        assert!(!ServerFacts::new(Generation::V1).has_list_statistics());
        assert!(ServerFacts::new(Generation::V4).namespaced_commands());
    }

    #[test]
    fn any_text_rebuilds_without_panic_and_parses() {
        let mut next = crate::test_rng(0x5eed_1111);
        let pieces = [
            "dialog:: ",
            "CALLEES:: ",
            "callee:: ",
            "context:: ",
            "profiles:: ",
            "Domain:: l",
            "AOR:: a",
            "Contact:: c Q=",
            "x:: y",
            "\n",
            "\r",
            "::",
            " ",
            "\t",
            "é",
            "",
        ];
        for shape in [
            Shape1x::Flat,
            Shape1x::UlDump,
            Shape1x::Dialogs,
            Shape1x::Subscribers,
            Shape1x::UacDlg,
        ] {
            for _ in 0..500 {
                let text: String = (0..next(30)).map(|_| pieces[next(pieces.len())]).collect();
                let tree = rebuild_1x_tree(shape, &text).unwrap();
                let with_status = format!("200 OK\n{tree}");
                if let Ok((_, _, lines)) = crate::protocol::legacy::status(&with_status) {
                    let _ = crate::protocol::legacy::tree_value(lines);
                }
            }
        }
    }

    #[test]
    fn rebuilds_the_1x_dialog_tree() {
        let flat = "dialog::  hash=1:2 dialog_id=3\nstate:: 4\nCALLEES:: \ncallee:: \ncallee_tag:: t\ncaller_cseq:: 1\ncontext:: \nprofiles:: \ncaller:: c1\ninbound:: \ndialog::  hash=5:6 dialog_id=7\nstate:: 4\n";
        let tree = rebuild_1x_tree(Shape1x::Dialogs, flat).unwrap();
        assert_eq!(
            tree,
            "dialog::  hash=1:2 dialog_id=3\n\tstate:: 4\n\tCALLEES:: \n\t\tcallee:: \n\t\t\tcallee_tag:: t\n\t\t\tcaller_cseq:: 1\n\tcontext:: \n\t\tprofiles:: \n\t\t\tcaller:: c1\n\t\t\tinbound:: \ndialog::  hash=5:6 dialog_id=7\n\tstate:: 4\n"
        );
        let uac = rebuild_1x_tree(Shape1x::UacDlg, "200 OK\n.\n.\n.\nVia: x\nTo: y\n\n\n").unwrap();
        assert_eq!(uac, "200 OK\n.\n.\n.\nVia: x\r\nTo: y\r\n\r\n\n");
        assert!(rebuild_1x_tree(Shape1x::Unknown, "x:: y\n").is_err());
        assert_eq!(rebuild_1x_tree(Shape1x::Unknown, "").unwrap(), "");
    }

    /// The byte search gives what the `str::find` loop it replaced gave.
    #[cfg(feature = "http")]
    #[test]
    fn untyped_values_as_before() {
        fn before(bytes: &[u8]) -> bool {
            let text = String::from_utf8_lossy(bytes);
            let mut rest = text.as_ref();
            while let Some(i) = rest.find("<value>") {
                rest = &rest[i + 7..];
                let next = rest.trim_start();
                if !next.starts_with('<') || next.starts_with("</value>") {
                    return true;
                }
            }
            false
        }
        let parts: [&[u8]; 12] = [
            b"<value>",
            b"</value>",
            b"<string>x</string>",
            b"text",
            b" \r\n",
            b"<",
            b"<val",
            b"\xC2\xA0",
            b"\xFF",
            b"\xE2\x80\xA8",
            b"<value",
            b"><",
        ];
        let mut seed = 7u64;
        for _ in 0..20_000 {
            let mut doc = Vec::new();
            for _ in 0..seed % 9 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                doc.extend_from_slice(parts[(seed >> 33) as usize % parts.len()]);
            }
            assert_eq!(has_untyped_value(&doc), before(&doc), "{doc:?}");
        }
    }
}
