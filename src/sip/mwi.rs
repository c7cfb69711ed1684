//! Voicemail lamps: RFC 3842 `message-summary` NOTIFYs.

use super::{SipRequest, contact_for, name_addr, no_line_breaks, random_tag, uac_dlg};
use crate::Result;

/// A message class of RFC 3458, as a `message-summary` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageClass {
    /// `Voice-Message`.
    Voice,
    /// `Fax-Message`.
    Fax,
    /// `Pager-Message`.
    Pager,
    /// `Multimedia-Message`.
    Multimedia,
    /// `Text-Message`.
    Text,
    /// `None`.
    None,
}

impl MessageClass {
    fn header(self) -> &'static str {
        match self {
            MessageClass::Voice => "Voice-Message",
            MessageClass::Fax => "Fax-Message",
            MessageClass::Pager => "Pager-Message",
            MessageClass::Multimedia => "Multimedia-Message",
            MessageClass::Text => "Text-Message",
            MessageClass::None => "None",
        }
    }
}

/// Message counts of one class: new/old, and optionally new-urgent/old-urgent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// New messages.
    pub new: u32,
    /// Old messages.
    pub old: u32,
    /// New and old urgent messages (a subset of `new` / `old`).
    pub urgent: Option<(u32, u32)>,
}

impl Counts {
    /// `new/old`.
    pub fn new(new: u32, old: u32) -> Self {
        Counts {
            new,
            old,
            urgent: None,
        }
    }
    /// `new/old (urgent_new/urgent_old)`.
    pub fn with_urgent(new: u32, old: u32, urgent_new: u32, urgent_old: u32) -> Self {
        Counts {
            new,
            old,
            urgent: Some((urgent_new, urgent_old)),
        }
    }
}

/// An RFC 3842 `application/simple-message-summary` body.
///
/// ```
/// use opensips_mi::sip::{Counts, MessageClass, MessageSummary};
/// let s = MessageSummary::voice_counts(Counts::with_urgent(4, 8, 1, 2))
///     .account("sip:alice@vmail.example.com")
///     .class(MessageClass::Fax, Counts::new(0, 1));
/// assert_eq!(s.body()?, "Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\n\
///                      Voice-Message: 4/8 (1/2)\r\nFax-Message: 0/1\r\n");
/// assert_eq!(MessageSummary::voice(0, 0).body()?, "Messages-Waiting: no\r\nVoice-Message: 0/0\r\n");
/// # Ok::<(), opensips_mi::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct MessageSummary {
    waiting: Option<bool>,
    account: Option<String>,
    classes: Vec<(MessageClass, Counts)>,
}

impl MessageSummary {
    /// An empty summary (`Messages-Waiting: no`).
    pub fn new() -> Self {
        Self::default()
    }
    /// Voice messages: `new` new, `old` old.
    pub fn voice(new: u32, old: u32) -> Self {
        Self::new().class(MessageClass::Voice, Counts::new(new, old))
    }
    /// Voice messages with explicit counts (e.g. urgent ones).
    pub fn voice_counts(counts: Counts) -> Self {
        Self::new().class(MessageClass::Voice, counts)
    }
    /// Adds (or replaces) the counts of a class.
    pub fn class(mut self, class: MessageClass, counts: Counts) -> Self {
        self.classes.retain(|(c, _)| *c != class);
        self.classes.push((class, counts));
        self
    }
    /// `Message-Account: <uri>` (the mailbox to call). It must be a SIP or SIPS URI
    /// (`sip:*97@vm.example.com`): [`MessageSummary::body`] and [`mwi_update`] refuse
    /// anything else, so that a count given where the account goes (`3`) never reaches a
    /// phone as `From: <3>`.
    pub fn account(mut self, uri: &str) -> Self {
        self.account = Some(uri.to_owned());
        self
    }
    /// Forces `Messages-Waiting` (by default: `yes` when any class has new messages).
    pub fn waiting(mut self, yes: bool) -> Self {
        self.waiting = Some(yes);
        self
    }

    /// The body: CRLF after every line, nothing after the last.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`](crate::Error::InvalidRequest) for an account that is not a
    /// SIP or SIPS URI (or has CR/LF).
    ///
    /// ```
    /// use opensips_mi::sip::MessageSummary;
    /// let e = MessageSummary::voice(1, 0).account("3").body().unwrap_err();
    /// assert!(e.to_string().contains("not a SIP URI"), "{e}");
    /// ```
    pub fn body(&self) -> Result<String> {
        let waiting = self
            .waiting
            .unwrap_or_else(|| self.classes.iter().any(|(_, c)| c.new > 0));
        let mut body = format!(
            "Messages-Waiting: {}\r\n",
            if waiting { "yes" } else { "no" }
        );
        if let Some(a) = &self.account {
            no_line_breaks("the message account", a)?;
            if !is_sip_uri(a) {
                return Err(crate::Error::invalid_request(format!(
                    "the message account {a:?} is not a SIP URI: give sip:… or sips:… (e.g. \
                     sip:*97@voicemail.example.com), or no account"
                )));
            }
            body.push_str(&format!("Message-Account: {a}\r\n"));
        }
        for (class, c) in &self.classes {
            body.push_str(&format!("{}: {}/{}", class.header(), c.new, c.old));
            if let Some((un, uo)) = c.urgent {
                body.push_str(&format!(" ({un}/{uo})"));
            }
            body.push_str("\r\n");
        }
        Ok(body)
    }
}

/// `sip:…` or `sips:…` (any case) with something after the scheme, and no blanks or
/// angle brackets: a URI that can go into `Message-Account` and `From: <…>`.
pub(crate) fn is_sip_uri(s: &str) -> bool {
    let rest = match s.split_once(':') {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") =>
        {
            rest
        }
        _ => return false,
    };
    !rest.is_empty() && !s.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
}

/// A message-summary NOTIFY (voicemail lamp) to `uri`: `Event: message-summary`,
/// `Subscription-State: active`, `Content-Type: application/simple-message-summary` and the
/// summary as body. Zero new messages turn the lamp off.
///
/// It comes from the message account when the summary has one (`From:
/// <sip:*97@vm.example.com>;tag=…`, `Contact: <sip:*97@!!>`), else from the phone's own URI
/// with `Contact: <sip:opensips@!!>`; [`SipRequest::notifier`] sets another sender.
///
/// ```
/// use opensips_mi::sip::{self, MessageSummary};
/// let summary = MessageSummary::voice(2, 5).account("sip:*97@vm.example.com");
/// let block = sip::mwi_update("sip:1001@10.0.0.21", &summary)?.header_block()?;
/// assert!(block.starts_with("From: <sip:*97@vm.example.com>;tag="));
/// assert!(block.contains("\r\nTo: <sip:1001@10.0.0.21>\r\nContact: <sip:*97@!!>\r\n"));
/// # Ok::<(), opensips_mi::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidRequest`](crate::Error::InvalidRequest) if the summary's account is not
/// a SIP or SIPS URI, or has CR or LF.
pub fn mwi_update(uri: &str, summary: &MessageSummary) -> Result<SipRequest> {
    // checks the account for CR/LF before it goes into a header
    let body = summary.body()?;
    let addr = name_addr(uri);
    let from = summary
        .account
        .as_deref()
        .map_or_else(|| addr.clone(), name_addr);
    let contact = if summary.account.is_some() {
        contact_for(&from)
    } else {
        "<sip:opensips@!!>".to_owned()
    };
    Ok(uac_dlg("NOTIFY", uri)
        .replace_header("From", &format!("{from};tag={}", random_tag()))
        .replace_header("To", &addr)
        .replace_header("Contact", &contact)
        .replace_header("Event", "message-summary")
        .replace_header("Subscription-State", "active")
        .body("application/simple-message-summary", &body))
}
