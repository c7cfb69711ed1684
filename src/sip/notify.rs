//! Special-event NOTIFYs that make desk phones re-read their configuration or reboot.

use super::{SipRequest, name_addr, no_line_breaks, random_tag, uac_dlg};
use crate::{Error, Result};

/// The phones' special-event NOTIFYs, with the `Event` values of the Ruby gem and
/// Asterisk's `pjsip_notify.conf` samples.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifyEvent {
    /// `aastra_check_cfg` / `aastra-check-cfg`: `check-sync`.
    AastraCheckCfg,
    /// `aastra_xml` / `aastra-xml`: `aastra-xml`.
    AastraXml,
    /// `digium_check_cfg` / `digium-check-cfg`: `check-sync`.
    DigiumCheckCfg,
    /// `linksys_cold_restart` / `linksys-cold-restart`: `reboot_now`.
    LinksysColdRestart,
    /// `linksys_warm_restart` / `linksys-warm-restart`: `restart_now`.
    LinksysWarmRestart,
    /// `polycom_check_cfg` / `polycom-check-cfg`: `check-sync`.
    PolycomCheckCfg,
    /// `sipura_check_cfg` / `sipura-check-cfg`: `resync`.
    SipuraCheckCfg,
    /// `sipura_get_report` / `sipura-get-report`: `report`.
    SipuraGetReport,
    /// `snom_check_cfg` / `snom-check-cfg`: `check-sync;reboot=false`.
    SnomCheckCfg,
    /// `snom_reboot` / `snom-reboot`: `check-sync;reboot=true`.
    SnomReboot,
    /// `cisco_check_cfg` / `cisco-check-cfg`: `check-sync`.
    CiscoCheckCfg,
    /// `avaya_check_cfg`: `check-sync`.
    AvayaCheckCfg,
    /// `grandstream_check_cfg` / `grandstream-check-cfg`: `sys-control`.
    GrandstreamCheckCfg,
    /// Any other `Event` value: build it with [`NotifyEvent::custom`], which checks it.
    /// Parsing (`"snom_reboot".parse()`) gives presets only, so that a misspelt preset is
    /// an error rather than a custom event sent to a phone.
    Custom(String),
}

const PRESETS: &[(&str, &str, NotifyEvent)] = &[
    (
        "aastra_check_cfg",
        "check-sync",
        NotifyEvent::AastraCheckCfg,
    ),
    ("aastra_xml", "aastra-xml", NotifyEvent::AastraXml),
    (
        "digium_check_cfg",
        "check-sync",
        NotifyEvent::DigiumCheckCfg,
    ),
    (
        "linksys_cold_restart",
        "reboot_now",
        NotifyEvent::LinksysColdRestart,
    ),
    (
        "linksys_warm_restart",
        "restart_now",
        NotifyEvent::LinksysWarmRestart,
    ),
    (
        "polycom_check_cfg",
        "check-sync",
        NotifyEvent::PolycomCheckCfg,
    ),
    ("sipura_check_cfg", "resync", NotifyEvent::SipuraCheckCfg),
    ("sipura_get_report", "report", NotifyEvent::SipuraGetReport),
    (
        "snom_check_cfg",
        "check-sync;reboot=false",
        NotifyEvent::SnomCheckCfg,
    ),
    (
        "snom_reboot",
        "check-sync;reboot=true",
        NotifyEvent::SnomReboot,
    ),
    ("cisco_check_cfg", "check-sync", NotifyEvent::CiscoCheckCfg),
    ("avaya_check_cfg", "check-sync", NotifyEvent::AvayaCheckCfg),
    (
        "grandstream_check_cfg",
        "sys-control",
        NotifyEvent::GrandstreamCheckCfg,
    ),
];

impl NotifyEvent {
    /// The `Event` header value.
    pub fn event(&self) -> &str {
        match self {
            NotifyEvent::Custom(v) => v,
            preset => PRESETS
                .iter()
                .find(|(_, _, p)| p == preset)
                .map_or("", |(_, v, _)| v),
        }
    }

    /// The preset for a name: the gem's (`snom_reboot`), Asterisk's (`snom-reboot`) or the
    /// variant's (`SnomReboot`); case, `_` and `-` do not matter.
    pub fn preset(name: &str) -> Option<NotifyEvent> {
        let squash = |s: &str| {
            s.chars()
                .filter(|c| !matches!(c, '_' | '-'))
                .map(|c| c.to_ascii_lowercase())
                .collect::<String>()
        };
        let key = squash(name.trim());
        PRESETS
            .iter()
            .find(|(n, _, _)| squash(n) == key)
            .map(|(_, _, p)| p.clone())
    }

    /// Every preset name (gem spelling).
    pub fn preset_names() -> impl Iterator<Item = &'static str> {
        PRESETS.iter().map(|(n, _, _)| *n)
    }

    /// A custom `Event` value, for a phone none of the presets covers (the command line's
    /// `event-notify --event VALUE`).
    ///
    /// ```
    /// use opensips_mi::sip::NotifyEvent;
    /// let ev = NotifyEvent::custom("check-sync;reboot=false")?;
    /// assert_eq!(ev.event(), "check-sync;reboot=false");
    /// assert!(NotifyEvent::custom("").is_err());
    /// # Ok::<(), opensips_mi::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for an empty value, or one with CR, LF or NUL.
    pub fn custom(value: &str) -> Result<NotifyEvent> {
        no_line_breaks("the event", value)?;
        if value.trim().is_empty() {
            return Err(Error::invalid_request("empty event"));
        }
        Ok(NotifyEvent::Custom(value.to_owned()))
    }
}

impl std::str::FromStr for NotifyEvent {
    type Err = Error;
    /// A preset name, as [`NotifyEvent::preset`]; anything else is an error (with the
    /// closest preset when there is one): a custom event is asked for with
    /// [`NotifyEvent::custom`].
    ///
    /// ```
    /// use opensips_mi::sip::NotifyEvent;
    /// assert_eq!("snom-reboot".parse::<NotifyEvent>()?, NotifyEvent::SnomReboot);
    /// let e = "snom_rebot".parse::<NotifyEvent>().unwrap_err().to_string();
    /// assert!(e.contains("did you mean `snom_reboot`?"), "{e}");
    /// # Ok::<(), opensips_mi::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<NotifyEvent> {
        if let Some(p) = NotifyEvent::preset(s) {
            return Ok(p);
        }
        let names: Vec<String> = NotifyEvent::preset_names().map(str::to_owned).collect();
        let squashed = s.trim().replace('-', "_");
        let hint = crate::connection::verify::suggest(&squashed, &names)
            .map(|n| format!(" (did you mean `{n}`?)"))
            .unwrap_or_default();
        Err(Error::invalid_request(format!(
            "unknown event preset {s:?}{hint}; presets: {}; any other Event value must be \
             asked for as a custom event (NotifyEvent::custom, or --event on the command line)",
            names.join(", ")
        )))
    }
}

/// A NOTIFY with `Event: <event>` to a phone: `To: <uri>`, `From: <uri>;tag=<random>`,
/// `Contact: <sip:opensips@!!>` (OpenSIPS fills in its own address; a NOTIFY must carry a
/// Contact), no body. [`SipRequest::notifier`] sends it from another URI,
/// [`SipRequest::from`] / [`SipRequest::to`] / [`SipRequest::contact`] set single headers.
///
/// ```
/// use opensips_mi::sip::{self, NotifyEvent};
/// let req = sip::event_notify("sip:1001@10.0.0.21", NotifyEvent::SnomReboot);
/// let block = req.header_block()?;
/// assert!(block.starts_with("From: <sip:1001@10.0.0.21>;tag="));
/// assert!(block.ends_with("\r\nTo: <sip:1001@10.0.0.21>\r\nContact: <sip:opensips@!!>\r\nEvent: check-sync;reboot=true\r\n"));
/// # Ok::<(), opensips_mi::Error>(())
/// ```
pub fn event_notify(uri: &str, event: NotifyEvent) -> SipRequest {
    let addr = name_addr(uri);
    uac_dlg("NOTIFY", uri)
        .replace_header("From", &format!("{addr};tag={}", random_tag()))
        .replace_header("To", &addr)
        .replace_header("Contact", "<sip:opensips@!!>")
        .replace_header("Event", event.event())
}
