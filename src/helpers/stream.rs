//! `ul_dump` one contact at a time: the contacts of a big registrar's reply are handed over
//! as they are read, without building the whole list (or a JSON tree) first.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Contact;
use crate::protocol::legacy;
use crate::{Error, Response, Result, Value};

/// One contact of a `ul_dump`, with the domain (usrloc table) and AOR it belongs to.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct UlContact<'a> {
    /// The usrloc domain (table), e.g. `location`.
    pub domain: &'a str,
    /// The address of record.
    pub aor: &'a str,
    /// The contact.
    pub contact: Contact,
}

/// Where the contacts go.
struct Sink<'f, F> {
    f: &'f mut F,
    count: usize,
    /// How many contacts not to hand over again (a second read of the reply).
    skip: usize,
    /// The `error` member of an error reply.
    error: Option<Value>,
}

impl<F: FnMut(UlContact<'_>)> Sink<'_, F> {
    fn give(&mut self, domain: &str, aor: &str, contact: Contact) {
        self.count += 1;
        if self.count <= self.skip {
            return;
        }
        (self.f)(UlContact {
            domain,
            aor,
            contact,
        });
    }
}

/// Reads the bytes of a `ul_dump` reply, e.g. saved to a file — JSON-RPC
/// (`{"jsonrpc":…,"result":{"Domains":[…]},"id":…}`) or the 1.x/2.x text (`200 OK`,
/// `Domain:: …`) — one contact at a time, giving each to `f`; returns how many there were.
/// No tree is built: memory stays at the reply plus one AOR's contacts.
///
/// ```
/// use opensips_mi::helpers::ul_contacts_in;
/// let reply = br#"{"jsonrpc":"2.0","result":{"Domains":[{"name":"location","AORs":[{"AOR":"alice","Contacts":[{"Contact":"sip:alice@10.0.0.7","Expires":300,"Callid":"x","Cseq":1,"Flags":0}]}]}]},"id":1}"#;
/// let mut uris = Vec::new();
/// assert_eq!(ul_contacts_in(reply, |c| uris.push(c.contact.contact))?, 1);
/// assert_eq!(uris, ["sip:alice@10.0.0.7"]);
/// # Ok::<(), opensips_mi::Error>(())
/// ```
///
/// The text form reads the same way:
///
/// ```
/// # use opensips_mi::helpers::ul_contacts_in;
/// let reply = b"200 OK\nDomain:: location hash_size=512\n\tAOR:: alice\n\t\tContact:: sip:alice@10.0.0.7 Q=\n\t\t\tExpires:: 300\n\t\t\tCallid:: x\n\t\t\tCseq:: 1\n\n";
/// let mut seen = Vec::new();
/// ul_contacts_in(reply, |c| seen.push((c.aor.to_owned(), c.contact.expires)))?;
/// assert_eq!(seen, [("alice".to_owned(), opensips_mi::helpers::Expires::In(300))]);
/// # Ok::<(), opensips_mi::Error>(())
/// ```
///
/// # Errors
///
/// The error an error reply carries ([`Error::Rpc`], [`Error::Command`]);
/// [`Error::UnexpectedReply`] for a reply of another shape; [`Error::MalformedReply`] for
/// bytes that are neither form.
pub fn ul_contacts_in(raw: &[u8], mut f: impl FnMut(UlContact<'_>)) -> Result<usize> {
    if legacy::looks_like_reply(raw) {
        return each_legacy(raw, &mut f);
    }
    each_json(raw, &mut f)
}

/// Reads the bytes of a whole `ul_dump` reply (JSON-RPC or 1.x/2.x text, as for
/// [`ul_contacts_in`]) into the list [`MiCommands::ul_dump`](crate::MiCommands::ul_dump)
/// gives, in one pass: the text form is read a line at a time, without a tree.
///
/// ```
/// use opensips_mi::helpers::ul_dump_in;
/// let text = ul_dump_in(b"200 OK\nDomain:: location hash_size=512\n\tAOR:: alice\n\t\tContact:: sip:alice@10.0.0.7 Q=\n\t\t\tExpires:: 300\n\t\t\tCallid:: x\n\t\t\tCseq:: 1\n\n")?;
/// let json = ul_dump_in(br#"{"jsonrpc":"2.0","result":{"Domains":[{"name":"location","hash_size":512,"AORs":[{"AOR":"alice","Contacts":[{"Contact":"sip:alice@10.0.0.7","Q":"","Expires":300,"Callid":"x","Cseq":1}]}]}]},"id":1}"#)?;
/// assert_eq!(text, json);
/// assert_eq!(text[0].aors[0].contacts[0].contact, "sip:alice@10.0.0.7");
/// # Ok::<(), opensips_mi::Error>(())
/// ```
///
/// # Errors
///
/// As [`ul_contacts_in`].
pub fn ul_dump_in(raw: &[u8]) -> Result<Vec<super::Domain>> {
    if !legacy::looks_like_reply(raw) {
        if let Some(domains) = super::ul_json::domains(raw) {
            return Ok(domains);
        }
        return crate::protocol::json_result::<super::usrloc::Domains>(raw).map(|d| d.list);
    }
    if let Some(domains) = super::ul_legacy::domains(&legacy::text_of(raw))? {
        return Ok(domains);
    }
    crate::protocol::decode_typed::<super::usrloc::Domains>(
        legacy::decode_reply(raw)?,
        super::usrloc::normalize_ul_dump,
    )
    .map(|d| d.list)
}

/// Reads the contacts of a 1.x/2.x text reply as they come, or through its tree when only
/// the tree reads its layout right (see `ul_legacy`).
fn each_legacy(raw: &[u8], f: &mut impl FnMut(UlContact<'_>)) -> Result<usize> {
    if let Some(n) = super::ul_legacy::contacts(&legacy::text_of(raw), f)? {
        return Ok(n);
    }
    let v = super::normalize_reply("ul_dump", legacy::decode_reply(raw)?.value);
    each_value(&v, f)
}

pub(crate) fn each_json(raw: &[u8], f: &mut impl FnMut(UlContact<'_>)) -> Result<usize> {
    let mut given = 0;
    // the usual reply is read directly; anything else by the serde walk, which skips the
    // contacts already given
    let mut give = |domain: &str, aor: &str, contact| {
        given += 1;
        f(UlContact {
            domain,
            aor,
            contact,
        })
    };
    if super::ul_json::contacts(raw, &mut give).is_some() {
        return Ok(given);
    }
    each_json_serde(raw, f, given)
}

/// [`each_json`] through serde_json alone, not handing over the first `skip` contacts.
pub(crate) fn each_json_serde(
    raw: &[u8],
    f: &mut impl FnMut(UlContact<'_>),
    skip: usize,
) -> Result<usize> {
    let mut sink = Sink {
        f,
        count: 0,
        skip,
        error: None,
    };
    let walk = |bytes: &[u8], sink: &mut Sink<'_, _>| {
        Walk::Envelope(sink).deserialize(&mut serde_json::Deserializer::from_slice(bytes))
    };
    let mut walked = walk(raw, &mut sink);
    // serde_json stops at invalid UTF-8 in a string; the server's bytes are read leniently,
    // so only then is the whole reply repaired and read again, without handing over twice
    // the contacts read before the bad bytes
    if walked.is_err() && std::str::from_utf8(raw).is_err() {
        let text = crate::protocol::jsonrpc::sanitize_utf8(raw);
        (sink.skip, sink.count, sink.error) = (sink.count.max(sink.skip), 0, None);
        walked = walk(&text, &mut sink);
    }
    walked.map_err(|e| crate::protocol::unexpected("result".into(), e.to_string()))?;
    if let Some(error) = sink.error {
        crate::protocol::jsonrpc::error_object(error)?;
    }
    Ok(sink.count)
}

/// The same from a reply already decoded into a [`Value`] (1.x/2.x, XML-RPC), normalised
/// to the 3.x shape.
pub(crate) fn each_value(v: &Value, f: &mut impl FnMut(UlContact<'_>)) -> Result<usize> {
    let mut sink = Sink {
        f,
        count: 0,
        skip: 0,
        error: None,
    };
    for d in v["Domains"].as_array().unwrap_or_default() {
        let domain = d["name"].as_str().unwrap_or_default();
        for a in d["AORs"].as_array().unwrap_or_default() {
            let aor = a["AOR"].as_str().unwrap_or_default();
            for c in a["Contacts"].as_array().unwrap_or_default() {
                let contact = <Contact as serde::Deserialize>::deserialize(c).map_err(|e| {
                    crate::protocol::unexpected("Domains[].AORs[].Contacts[]".into(), e.to_string())
                })?;
                sink.give(domain, aor, contact);
            }
        }
    }
    Ok(sink.count)
}

/// The levels of the reply, each a seed and a visitor.
enum Walk<'s, 'f, F> {
    Envelope(&'s mut Sink<'f, F>),
    Result(&'s mut Sink<'f, F>),
    Domains(&'s mut Sink<'f, F>),
    Domain(&'s mut Sink<'f, F>),
    Aors(&'s mut Sink<'f, F>, &'s str),
    Aor(&'s mut Sink<'f, F>, &'s str),
    Contacts(
        &'s mut Sink<'f, F>,
        &'s str,
        Option<&'s str>,
        &'s mut Vec<Contact>,
    ),
}

impl<'de, F: FnMut(UlContact<'_>)> DeserializeSeed<'de> for Walk<'_, '_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        match self {
            Walk::Domains(..) | Walk::Aors(..) | Walk::Contacts(..) => d.deserialize_seq(self),
            _ => d.deserialize_map(self),
        }
    }
}

impl<'de, F: FnMut(UlContact<'_>)> Visitor<'de> for Walk<'_, '_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a ul_dump reply (Domains, AORs, Contacts)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        match self {
            Walk::Envelope(sink) => {
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    if k == "result" {
                        map.next_value_seed(Walk::Result(&mut *sink))?;
                    } else if k == "error" {
                        sink.error = Some(map.next_value::<Value>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Walk::Result(sink) => {
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    if k == "Domains" {
                        map.next_value_seed(Walk::Domains(&mut *sink))?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Walk::Domain(sink) => {
                let mut name = String::new();
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    match &*k {
                        "name" => name = map.next_value::<String>()?,
                        "AORs" => map.next_value_seed(Walk::Aors(&mut *sink, &name))?,
                        _ => drop(map.next_value::<IgnoredAny>()?),
                    }
                }
            }
            Walk::Aor(sink, domain) => {
                let mut aor: Option<String> = None;
                // contacts seen before the AOR's name (not how OpenSIPS prints it)
                let mut early: Vec<Contact> = Vec::new();
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    match &*k {
                        "AOR" => aor = Some(map.next_value::<String>()?),
                        "Contacts" => map.next_value_seed(Walk::Contacts(
                            &mut *sink,
                            domain,
                            aor.as_deref(),
                            &mut early,
                        ))?,
                        _ => drop(map.next_value::<IgnoredAny>()?),
                    }
                }
                let aor = aor.unwrap_or_default();
                for c in early {
                    sink.give(domain, &aor, c);
                }
            }
            _ => return Err(de::Error::custom("an object where a list was expected")),
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        match self {
            Walk::Domains(sink) => {
                while seq.next_element_seed(Walk::Domain(&mut *sink))?.is_some() {}
            }
            Walk::Aors(sink, domain) => {
                while seq
                    .next_element_seed(Walk::Aor(&mut *sink, domain))?
                    .is_some()
                {}
            }
            Walk::Contacts(sink, domain, aor, early) => {
                while let Some(c) = seq.next_element::<Contact>()? {
                    match aor {
                        Some(aor) => sink.give(domain, aor, c),
                        None => early.push(c),
                    }
                }
            }
            _ => return Err(de::Error::custom("a list where an object was expected")),
        }
        Ok(())
    }
}

/// Runs `ul_dump` reading the reply as it is handed over (see
/// [`MiCommands::ul_dump_each`](crate::MiCommands::ul_dump_each)).
pub(crate) fn ul_dump_each<C: crate::ConnectionLike + ?Sized>(
    conn: &C,
    f: &mut impl FnMut(UlContact<'_>),
) -> Result<usize> {
    let mut c = crate::cmd("ul_dump");
    c.lazy();
    let resp: Response = conn.execute(&c)?;
    if resp.value.is_null() && resp.raw.first() == Some(&b'{') {
        return each_json(&resp.raw, f);
    }
    if resp.value.is_null() && legacy::looks_like_reply(&resp.raw) {
        return each_legacy(&resp.raw, f);
    }
    let v = super::normalize_reply("ul_dump", resp.value);
    if v.get("Domains").is_none() {
        return Err(Error::UnexpectedReply {
            field: "Domains".into(),
            reason: "no Domains in the ul_dump reply".into(),
        });
    }
    each_value(&v, f)
}

/// Reads `{"jsonrpc":…,"result":{KEY:[item, …]},…}` from `raw`, giving each item to `f`.
fn each_item_json<T: serde::de::DeserializeOwned>(
    raw: &[u8],
    key: &str,
    f: &mut impl FnMut(T),
) -> Result<usize> {
    /// The envelope, the result object, then the list under `key`.
    struct Level<'s, T, F> {
        depth: u8,
        key: &'s str,
        f: &'s mut F,
        count: &'s mut usize,
        /// The `error` member of an error reply.
        error: &'s mut Option<Value>,
        item: std::marker::PhantomData<T>,
    }
    impl<'de, T: serde::de::DeserializeOwned, F: FnMut(T)> DeserializeSeed<'de> for Level<'_, T, F> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
            if self.depth == 2 {
                d.deserialize_seq(self)
            } else {
                d.deserialize_map(self)
            }
        }
    }
    impl<'de, T: serde::de::DeserializeOwned, F: FnMut(T)> Visitor<'de> for Level<'_, T, F> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a reply with a list under {:?}", self.key)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
            let wanted = if self.depth == 0 { "result" } else { self.key };
            while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                if k == wanted {
                    map.next_value_seed(Level {
                        depth: self.depth + 1,
                        key: self.key,
                        f: &mut *self.f,
                        count: &mut *self.count,
                        error: &mut *self.error,
                        item: std::marker::PhantomData::<T>,
                    })?;
                } else if self.depth == 0 && k == "error" {
                    *self.error = Some(map.next_value::<Value>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            while let Some(item) = seq.next_element::<T>()? {
                *self.count += 1;
                (self.f)(item);
            }
            Ok(())
        }
    }
    let (mut count, mut error) = (0, None);
    let mut de = serde_json::Deserializer::from_slice(raw);
    Level {
        depth: 0,
        key,
        f,
        count: &mut count,
        error: &mut error,
        item: std::marker::PhantomData::<T>,
    }
    .deserialize(&mut de)
    .map_err(|e| crate::protocol::unexpected(format!("{key}[]"), e.to_string()))?;
    if let Some(error) = error {
        crate::protocol::jsonrpc::error_object(error)?;
    }
    Ok(count)
}

/// Reads the bytes of a `dlg_list` or `dlg_list_ctx` reply, e.g. saved to a file —
/// JSON-RPC (`{"jsonrpc":…,"result":{"Dialogs":[…]},…}`) or the 1.x/2.x text
/// (`dialog::  ID=…`) — one dialog at a time, giving each to `f`; returns how many there
/// were. No list and no tree of the whole reply is built.
///
/// ```
/// use opensips_mi::helpers::{DialogState, dialogs_in};
/// let json = br#"{"jsonrpc":"2.0","result":{"Dialogs":[{"ID":"7745780787671","state":4,"timestart":1795691359,"timeout":1795694959,"callid":"1-5002@127.0.0.1","from_uri":"sip:a@h","to_uri":"sip:b@h"}]},"id":1}"#;
/// let text = b"200 OK\ndialog::  ID=7745780787671\n\tstate:: 4\n\ttimestart:: 1795691359\n\ttimeout:: 1795694959\n\tcallid:: 1-5002@127.0.0.1\n\tfrom_uri:: sip:a@h\n\tto_uri:: sip:b@h\n\n";
/// let (mut a, mut b) = (Vec::new(), Vec::new());
/// assert_eq!(dialogs_in(json, |d| a.push(d))?, 1);
/// assert_eq!(dialogs_in(text, |d| b.push(d))?, 1);
/// assert_eq!(a, b);
/// assert_eq!(a[0].state, DialogState::Confirmed);
/// # Ok::<(), opensips_mi::Error>(())
/// ```
///
/// # Errors
///
/// The error an error reply carries ([`Error::Rpc`], [`Error::Command`]);
/// [`Error::UnexpectedReply`] for a reply of another shape; [`Error::MalformedReply`] for
/// bytes that are neither form.
pub fn dialogs_in(raw: &[u8], mut f: impl FnMut(super::Dialog)) -> Result<usize> {
    if legacy::looks_like_reply(raw) {
        if let Some(n) = legacy_dialogs(&legacy::text_of(raw), &mut f)? {
            return Ok(n);
        }
        // a `Dialogs`/`Dialog` node, or an error reply: through the tree
        let v = super::normalize_reply("dlg_list", legacy::decode_reply(raw)?.value);
        return each_dialog_value(&v, &mut f);
    }
    if raw.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::malformed(
            "expected a JSON-RPC reply or a 1.x/2.x text reply",
            raw,
        ));
    }
    let text: Cow<'_, [u8]> = match std::str::from_utf8(raw) {
        Ok(_) => Cow::Borrowed(raw),
        Err(_) => Cow::Owned(crate::protocol::jsonrpc::sanitize_utf8(raw)),
    };
    each_item_json(&text, "Dialogs", &mut f)
}

/// The dialogs of a reply decoded into a [`Value`] and normalised to the 3.x shape (a lone
/// `Dialog` counts too).
fn each_dialog_value(v: &Value, f: &mut impl FnMut(super::Dialog)) -> Result<usize> {
    let items: Vec<&Value> = match (v.get("Dialogs"), v.get("Dialog")) {
        (Some(list), _) => list.as_array().unwrap_or_default().iter().collect(),
        (None, Some(one)) => vec![one],
        (None, None) => Vec::new(),
    };
    for d in &items {
        let dialog = <super::Dialog as serde::Deserialize>::deserialize(*d)
            .map_err(|e| crate::protocol::unexpected("Dialogs[]".into(), e.to_string()))?;
        f(dialog);
    }
    Ok(items.len())
}

/// Runs `dlg_list` (or `dlg_list_ctx`) giving each dialog to `f` as it is read (see
/// [`MiCommands::dlg_list_each`](crate::MiCommands::dlg_list_each)).
pub(crate) fn dlg_list_each<C: crate::ConnectionLike + ?Sized>(
    conn: &C,
    method: &str,
    f: &mut impl FnMut(super::Dialog),
) -> Result<usize> {
    let mut c = crate::cmd(method);
    c.lazy();
    let resp: Response = conn.execute(&c)?;
    // JSON-RPC and 1.x/2.x text left in `raw`: read as they come
    if resp.value.is_null()
        && (resp.raw.first() == Some(&b'{') || legacy::looks_like_reply(&resp.raw))
    {
        return dialogs_in(&resp.raw, f);
    }
    // XML-RPC: decoded first, then walked
    let v = super::normalize_reply(method, resp.value);
    each_dialog_value(&v, f)
}

/// Gives each dialog of a successful 1.x/2.x `dlg_list` text reply to `f` as it is read:
/// only one `dialog::` node's tree at a time, normalised and read as on every other path.
/// `None` when the reply holds a `Dialogs` or `Dialog` node, which the normalisation takes
/// as the 3.x shape (the caller reads it through the whole tree).
pub(crate) fn legacy_dialogs(
    text: &str,
    f: &mut impl FnMut(super::Dialog),
) -> Result<Option<usize>> {
    let (code, _, mut lines) = legacy::status(text)?;
    if !(200..300).contains(&code) || text.contains("\nDialogs::") || text.contains("\nDialog::") {
        return Ok(None);
    }
    let mut n = 0;
    // one scratch space for every dialog: their keys are shared, not allocated per dialog
    let mut scratch = legacy::Scratch::default();
    while let Some(line) = lines.next_line()? {
        if line.name != Some("dialog") {
            lines.skip_below(line.depth)?;
            continue;
        }
        let node = legacy::subtree_value_with(line, &mut lines, &mut scratch)?;
        let dialog =
            <super::Dialog as serde::Deserialize>::deserialize(&super::dialog::legacy_dialog(node))
                .map_err(|e| crate::protocol::unexpected("Dialogs[]".into(), e.to_string()))?;
        n += 1;
        f(dialog);
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_arrive_with_their_domain_and_aor_in_any_key_order() {
        let reply = br#"{"jsonrpc":"2.0","result":{"Domains":[{"name":"location","hash_size":512,"AORs":[{"AOR":"alice","Contacts":[{"Contact":"sip:a1@h","ContactID":"1","Expires":60,"Q":"","Callid":"c1","Cseq":1,"User-agent":"x","State":"CS_NEW","Flags":0,"Cflags":"","Socket":"udp:h:5060","Methods":4294967295},{"Contact":"sip:a2@h","ContactID":"2","Expires":"permanent","Q":"0.5","Callid":"c2","Cseq":2,"State":"CS_NEW","Flags":0,"Cflags":"","Methods":1}]},{"Contacts":[{"Contact":"sip:b@h","ContactID":"3","Expires":10,"Callid":"c3","Cseq":3,"State":"CS_NEW","Flags":0,"Cflags":"","Methods":1}],"AOR":"bob"}]}]},"id":7}"#;
        let mut seen = Vec::new();
        let n = each_json(reply, &mut |c: UlContact<'_>| {
            seen.push((
                c.domain.to_owned(),
                c.aor.to_owned(),
                c.contact.contact.clone(),
            ))
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            seen,
            [
                ("location".into(), "alice".into(), "sip:a1@h".into()),
                ("location".into(), "alice".into(), "sip:a2@h".into()),
                ("location".into(), "bob".into(), "sip:b@h".into()),
            ]
        );
        // a contact of the wrong shape is an error naming where
        let bad = br#"{"jsonrpc":"2.0","result":{"Domains":[{"name":"l","AORs":[{"AOR":"a","Contacts":[{"Contact":5}]}]}]},"id":1}"#;
        let e = each_json(bad, &mut |_: UlContact<'_>| {}).unwrap_err();
        assert!(matches!(e, Error::UnexpectedReply { .. }), "{e}");
    }

    #[test]
    fn invalid_utf8_is_repaired_and_no_contact_comes_twice() {
        let mut reply = br#"{"jsonrpc":"2.0","result":{"Domains":[{"name":"location","AORs":[{"AOR":"a","Contacts":[{"Contact":"sip:a@h","Expires":1,"Callid":"c","Cseq":1}]},{"AOR":"b","Contacts":[{"Contact":"sip:b@h","Expires":2,"User-agent":"UA-BAD","Callid":"c","Cseq":1}]},{"AOR":"c","Contacts":[{"Contact":"sip:c@h","Expires":3,"Callid":"c","Cseq":1}]}]}]},"id":1}"#.to_vec();
        let at = reply.windows(3).position(|w| w == b"BAD").unwrap();
        reply[at] = 0xff;
        let mut seen = Vec::new();
        let n = ul_contacts_in(&reply, |c| {
            seen.push((c.aor.to_owned(), c.contact.user_agent.clone()))
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            seen,
            [
                ("a".to_owned(), None),
                ("b".to_owned(), Some("UA-?AD".to_owned())),
                ("c".to_owned(), None)
            ]
        );
        // the list reads it the same way
        let list = ul_dump_in(&reply).unwrap();
        assert_eq!(
            list[0].aors[1].contacts[0].user_agent.as_deref(),
            Some("UA-?AD")
        );
    }

    /// The dialogs of a text reply through the whole tree, as the list helpers read it.
    fn dialogs_by_tree(bytes: &[u8]) -> std::result::Result<Vec<super::super::Dialog>, String> {
        let resp = legacy::decode_reply(bytes).map_err(|e| e.to_string())?;
        let d: super::super::dialog::Dialogs =
            crate::protocol::decode_typed(resp, super::super::dialog::normalize_dialogs)
                .map_err(|e| e.to_string())?;
        Ok(d.list.into_iter().chain(d.one).collect())
    }

    #[test]
    fn legacy_dialogs_one_node_at_a_time_match_the_tree() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/2x");
        for sub in ["fifo", "datagram"] {
            for name in ["14_dlg_list", "15_dlg_list_ctx"] {
                let bytes = std::fs::read(dir.join(sub).join(format!("{name}.reply.txt"))).unwrap();
                let mut walked = Vec::new();
                let n = legacy_dialogs(&legacy::text_of(&bytes), &mut |d| walked.push(d))
                    .unwrap()
                    .unwrap();
                assert!(n >= 2, "{sub}/{name}");
                assert_eq!(Ok(walked), dialogs_by_tree(&bytes), "{sub}/{name}");
            }
        }
        // other top-level nodes are skipped; a `Dialogs` node sends the caller to the tree;
        // a dialog that does not fit is an error naming where
        let text = "200 OK\nnote:: x\n\tdialog:: not top-level\ndialog::  ID=1\n\tstate:: 4\n\tcallid:: c\n";
        let mut walked = Vec::new();
        assert_eq!(
            legacy_dialogs(text, &mut |d| walked.push(d)).unwrap(),
            Some(1)
        );
        assert_eq!(Ok(walked), dialogs_by_tree(text.as_bytes()));
        assert_eq!(
            legacy_dialogs("200 OK\nDialogs:: x\n", &mut |_| {}).unwrap(),
            None
        );
        let bad = "200 OK\ndialog::  ID=1\n\tstate:: 4\n\ttimestart:: soon\n";
        let e = legacy_dialogs(bad, &mut |_| {}).unwrap_err();
        assert!(
            matches!(e, Error::UnexpectedReply { ref field, .. } if field == "Dialogs[]"),
            "{e}"
        );
        assert!(dialogs_by_tree(bad.as_bytes()).is_err());
    }
}
