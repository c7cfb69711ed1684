//! A direct reader for the usual 3.x/4.x JSON-RPC `ul_dump` reply: the bytes go straight
//! into [`Domain`]s (or, streaming, one AOR's contacts at a time) instead of through
//! serde_json's generic deserializer, which checked the UTF-8 of every string on its own
//! and dispatched every field through visitors (issue 25: typed `ul_dump` at 1k contacts
//! was held at the serde derive's own speed, 2.1× `serde_json::Value`; this reader: > 3×).
//!
//! It reads only what it reads exactly as the serde path does (escapes are decoded as
//! serde_json decodes them; a number other than a plain `u64` is handed to serde_json as
//! its text), and answers `None` for anything else — a control character, an unknown
//! escape or a lone surrogate in a string, an object or list where a known field has a
//! scalar, a duplicate field, a missing required field, an error reply (streaming),
//! nesting deeper than [`MAX_DEPTH`], invalid UTF-8 — so the caller runs the serde path,
//! which
//! gives the same result or the error with its field path. Each field's value is converted
//! by the same functions the serde derive calls (through serde's value deserializers), so
//! a field can never read differently here; only where such a function's result is plain
//! (a string field's text, a plain `u64` for a number field) is it taken directly, each
//! shortcut with the reason it gives the same result. `tests::agrees_with_serde` (edge cases) and
//! `tests::property` (generated replies) hold the two paths to each other.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::value::{
    BoolDeserializer, BorrowedStrDeserializer, Error as DeError, StringDeserializer,
    U64Deserializer, UnitDeserializer,
};

use super::de;
use super::usrloc::{Aor, Contact, Domain, Expires, de_q};
use crate::value::string_stop;

/// Nesting this deep inside an unknown member is left to serde_json (its limit is 128).
const MAX_DEPTH: usize = 64;

/// A JSON scalar as the fields take it.
enum Scalar<'a> {
    Null,
    Bool(bool),
    U(u64),
    /// A string's text: borrowed, or decoded when it has escapes.
    S(Cow<'a, str>),
    /// Any other JSON number (negative, fractional, beyond `u64`): its text, which
    /// serde_json itself reads for the field.
    Num(&'a str),
}

/// Runs a field's deserializer function on a scalar, through serde's value deserializers
/// (the same visitor calls serde_json makes for that scalar with `deserialize_any`,
/// `deserialize_string` or `deserialize_option` — `null` is `visit_unit` for the former
/// two; the fields that take `Option` read it with `deserialize_any`).
macro_rules! via {
    ($f:expr, $sc:expr) => {
        match $sc {
            Scalar::Null => $f(UnitDeserializer::<DeError>::new()).ok(),
            Scalar::Bool(b) => $f(BoolDeserializer::<DeError>::new(b)).ok(),
            Scalar::U(v) => $f(U64Deserializer::<DeError>::new(v)).ok(),
            Scalar::S(Cow::Borrowed(s)) => $f(BorrowedStrDeserializer::<DeError>::new(s)).ok(),
            Scalar::S(Cow::Owned(s)) => $f(StringDeserializer::<DeError>::new(s)).ok(),
            Scalar::Num(text) => {
                let mut de = serde_json::Deserializer::from_str(text);
                $f(&mut de).ok().filter(|_| de.end().is_ok())
            }
        }
    };
}

/// A cursor over the reply text.
pub(super) struct Reader<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `raw`, if it is UTF-8.
    pub(super) fn new(raw: &'a [u8]) -> Option<Self> {
        Some(Reader {
            s: std::str::from_utf8(raw).ok()?,
            i: 0,
        })
    }

    fn peek(&mut self) -> Option<u8> {
        let b = self.s.as_bytes();
        while let Some(&c) = b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(c);
            }
            self.i += 1;
        }
        None
    }

    fn eat(&mut self, c: u8) -> bool {
        // the usual reply has no whitespace: the byte itself first
        if self.s.as_bytes().get(self.i) == Some(&c) {
            self.i += 1;
            return true;
        }
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.i + word.len();
        (self.s.as_bytes().get(self.i..end)? == word.as_bytes()).then(|| self.i = end)
    }

    /// Only whitespace is left.
    pub(super) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// A string: borrowed when it has no escapes, else decoded as serde_json decodes
    /// them (a control character, an unknown escape or a lone surrogate: `None`).
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        if !self.eat(b'"') {
            return None;
        }
        let b = self.s.as_bytes();
        let start = self.i;
        let n = string_stop(&b[start..])?;
        // every boundary below is next to an ASCII byte, so a char boundary (`get` checks)
        if b[start + n] == b'"' {
            self.i = start + n + 1;
            return self.s.get(start..start + n).map(Cow::Borrowed);
        }
        self.escaped(start, n).map(Cow::Owned)
    }

    /// The rest of a string with escapes (or a control character) from its first `n`
    /// plain bytes at `start` on: the rare case, kept out of [`Reader::string`].
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, start: usize, n: usize) -> Option<String> {
        let b = self.s.as_bytes();
        let mut out = String::with_capacity(n + 16);
        out.push_str(self.s.get(start..start + n)?);
        self.i = start + n;
        loop {
            match *b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    let escape = *b.get(self.i + 1)?;
                    self.i += 2;
                    out.push(match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => match self.hex4()? {
                            hi @ 0xD800..=0xDBFF => {
                                if b.get(self.i..self.i + 2)? != b"\\u" {
                                    return None;
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..=0xDFFF).contains(&lo) {
                                    return None;
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                            }
                            code => char::from_u32(code)?,
                        },
                        _ => return None,
                    });
                }
                c if c < 0x20 => return None,
                _ => {
                    let run = string_stop(&b[self.i..])?;
                    out.push_str(self.s.get(self.i..self.i + run)?);
                    self.i += run;
                }
            }
        }
    }

    /// The four hex digits of a `\\u` escape.
    fn hex4(&mut self) -> Option<u32> {
        let digits = self.s.get(self.i..self.i + 4)?;
        if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// A number (JSON's grammar): a non-negative integer that fits in a `u64` is
    /// serde_json's `visit_u64`; any other is left to serde_json as text.
    fn number(&mut self) -> Option<Scalar<'a>> {
        let b = self.s.as_bytes();
        // the usual: 1 to 19 digits without a leading zero, no fraction or exponent (at
        // most 19 digits cannot overflow a `u64`); anything else is read below
        let start = self.i;
        let mut end = start;
        let mut v = 0u64;
        while let Some(&c) = b.get(end).filter(|c| c.is_ascii_digit()) {
            v = v.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            end += 1;
        }
        let len = end - start;
        if (1..=19).contains(&len)
            && (b[start] != b'0' || len == 1)
            && !matches!(b.get(end), Some(b'.' | b'e' | b'E'))
        {
            self.i = end;
            return Some(Scalar::U(v));
        }
        self.general_number()
    }

    /// [`Reader::number`] for any other number.
    #[cold]
    #[inline(never)]
    fn general_number(&mut self) -> Option<Scalar<'a>> {
        let b = self.s.as_bytes();
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let start = self.i;
        let int = start + usize::from(b.get(start) == Some(&b'-'));
        let mut end = digits(int);
        // no digits, or a leading zero (`01`): not JSON
        if end == int || (b[int] == b'0' && end - int > 1) {
            return None;
        }
        let mut plain = int == start;
        if b.get(end) == Some(&b'.') {
            let fraction = end + 1;
            end = digits(fraction);
            if end == fraction {
                return None;
            }
            plain = false;
        }
        if matches!(b.get(end), Some(b'e' | b'E')) {
            let mut exponent = end + 1;
            if matches!(b.get(exponent), Some(b'+' | b'-')) {
                exponent += 1;
            }
            end = digits(exponent);
            if end == exponent {
                return None;
            }
            plain = false;
        }
        let text = self.s.get(start..end)?;
        self.i = end;
        if plain {
            let value = text.bytes().try_fold(0u64, |v, c| {
                v.checked_mul(10)?.checked_add(u64::from(c - b'0'))
            });
            if let Some(v) = value {
                return Some(Scalar::U(v));
            }
        }
        Some(Scalar::Num(text))
    }

    fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Scalar::S),
            b'-' | b'0'..=b'9' => self.number(),
            b'n' => self.literal("null").map(|()| Scalar::Null),
            b't' => self.literal("true").map(|()| Scalar::Bool(true)),
            b'f' => self.literal("false").map(|()| Scalar::Bool(false)),
            _ => None,
        }
    }

    /// Skips any value (an unknown member's).
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' if depth < MAX_DEPTH => self.object(|r, _| r.skip(depth + 1)),
            b'[' if depth < MAX_DEPTH => self.array(|r| r.skip(depth + 1)),
            _ => self.scalar().map(drop),
        }
    }

    /// Reads an object, giving each member's key to `member`, which reads the value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            member(self, &key)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b'}').then_some(());
        }
    }

    /// Reads an array, `element` reading each element.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        if self.eat(b']') {
            return Some(());
        }
        loop {
            element(self)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b']').then_some(());
        }
    }

    /// An array read into a `Vec` without spare room (as `de::exact_vec`: most lists
    /// hold one element, an AOR's contacts).
    fn exact<T>(&mut self, mut element: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut first = None;
        let mut all = Vec::new();
        self.array(|r| {
            let e = element(r)?;
            match first.take() {
                None if all.is_empty() => first = Some(e),
                None => all.push(e),
                Some(f) => {
                    all.reserve(4);
                    all.push(f);
                    all.push(e);
                }
            }
            Some(())
        })?;
        Some(match first {
            Some(f) => vec![f],
            None => {
                all.shrink_to_fit();
                all
            }
        })
    }

    /// A string field (`String`, `#[serde(default)]` or required): `String::deserialize`
    /// takes a string's text as it is (`visit_str` copies it, `visit_string` keeps it) and
    /// fails on any other scalar, as `None` does here.
    fn string_field(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        self.string().map(Cow::into_owned)
    }

    /// A field read by `de::opt_string_like`. Its `visit_str` trims the text only to test
    /// it for `""` and `.`, and copies the untrimmed text: a string that starts and ends
    /// with a printable ASCII character other than a lone `.` is copied as it is (no
    /// character of `trim` strips is printable ASCII); any other value goes through it.
    fn opt_string(&mut self) -> Option<Option<String>> {
        let sc = self.scalar()?;
        if let Scalar::S(Cow::Borrowed(s)) = sc {
            let printable = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_graphic());
            if printable(s.as_bytes().first()) && printable(s.as_bytes().last()) && s != "." {
                return Some(Some(s.to_owned()));
            }
        }
        via!(de::opt_string_like, sc)
    }

    /// A field read by `de::u64_like`: a plain `u64` number is its `visit_u64`, `Ok(v)`.
    fn u64_field(&mut self) -> Option<u64> {
        match self.scalar()? {
            Scalar::U(v) => Some(v),
            sc => via!(de::u64_like, sc),
        }
    }

    /// A field read by `de::opt_u64_like`: a plain `u64` number is `Some` of it (its
    /// `visit_u64`, `u64::try_from` of a `u64`).
    fn opt_u64_field(&mut self) -> Option<Option<u64>> {
        match self.scalar()? {
            Scalar::U(v) => Some(Some(v)),
            sc => via!(de::opt_u64_like, sc),
        }
    }

    /// One contact, as `Contact`'s derive reads it.
    pub(super) fn contact(&mut self) -> Option<Contact> {
        let mut c = Contact {
            contact: String::new(),
            contact_id: None,
            expires: Expires::Expired,
            q: None,
            callid: String::new(),
            cseq: 0,
            user_agent: None,
            received: None,
            path: None,
            state: String::new(),
            flags: 0,
            cflags: String::new(),
            socket: None,
            methods: None,
            attr: None,
            sip_instance: None,
        };
        let mut seen = 0u32;
        self.object(|r, key| {
            let bit = match key {
                "Contact" => {
                    c.contact = r.string_field()?;
                    0
                }
                "ContactID" => {
                    c.contact_id = r.opt_string()?;
                    1
                }
                "Expires" => {
                    // a plain `u64` number: `visit_u64`, `Expires::In`
                    c.expires = match r.scalar()? {
                        Scalar::U(v) => Expires::In(v),
                        sc => via!(Expires::deserialize, sc)?,
                    };
                    2
                }
                "Q" => {
                    c.q = via!(de_q, r.scalar()?)?;
                    3
                }
                "Callid" => {
                    c.callid = r.string_field()?;
                    4
                }
                "Cseq" => {
                    c.cseq = r.u64_field()?;
                    5
                }
                "User-agent" => {
                    c.user_agent = r.opt_string()?;
                    6
                }
                "Received" => {
                    c.received = r.opt_string()?;
                    7
                }
                "Path" => {
                    c.path = r.opt_string()?;
                    8
                }
                "State" => {
                    c.state = r.string_field()?;
                    9
                }
                "Flags" => {
                    c.flags = r.u64_field()?;
                    10
                }
                "Cflags" => {
                    c.cflags = r.string_field()?;
                    11
                }
                "Socket" => {
                    c.socket = r.opt_string()?;
                    12
                }
                "Methods" => {
                    c.methods = r.opt_u64_field()?;
                    13
                }
                "Attr" => {
                    c.attr = r.opt_string()?;
                    14
                }
                "SIP_instance" => {
                    c.sip_instance = r.opt_string()?;
                    15
                }
                _ => return r.skip(0),
            };
            // a repeated field is an error of the derive
            (seen & 1 << bit == 0).then(|| seen |= 1 << bit)
        })?;
        // `Contact` and `Expires` have no default
        (seen & 0b101 == 0b101).then_some(c)
    }

    /// An AOR's members: the name (`None` when absent) and its contacts.
    fn aor(&mut self) -> Option<(Option<String>, Vec<Contact>)> {
        let (mut name, mut contacts) = (None, None);
        self.object(|r, key| match key {
            "AOR" if name.is_none() => {
                name = Some(r.string_field()?);
                Some(())
            }
            "Contacts" if contacts.is_none() => {
                contacts = Some(r.exact(Reader::contact)?);
                Some(())
            }
            "AOR" | "Contacts" => None,
            _ => r.skip(0),
        })?;
        Some((name, contacts.unwrap_or_default()))
    }

    /// A domain as `Domain`'s derive reads it.
    fn domain(&mut self) -> Option<Domain> {
        let (mut name, mut hash_size, mut aors) = (None, None, None);
        self.object(|r, key| match key {
            "name" if name.is_none() => {
                name = Some(r.string_field()?);
                Some(())
            }
            "hash_size" if hash_size.is_none() => {
                hash_size = Some(via!(de::opt_u32_like, r.scalar()?)?);
                Some(())
            }
            "AORs" if aors.is_none() => {
                aors = Some(r.exact(|r| {
                    let (aor, contacts) = r.aor()?;
                    Some(Aor {
                        aor: aor?,
                        contacts,
                    })
                })?);
                Some(())
            }
            "name" | "hash_size" | "AORs" => None,
            _ => r.skip(0),
        })?;
        Some(Domain {
            name: name?,
            hash_size: hash_size.flatten(),
            aors: aors.unwrap_or_default(),
        })
    }

    /// The envelope `{…,"result":…,…}`: `result` is read by `result`, other members
    /// skipped; `None` without exactly one `result`, or with an `error` when `no_error`.
    fn envelope<T>(
        &mut self,
        no_error: bool,
        mut result: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<T> {
        let mut out = None;
        self.object(|r, key| match key {
            "result" if out.is_none() => {
                out = Some(result(r)?);
                Some(())
            }
            "result" => None,
            "error" if no_error => None,
            _ => r.skip(0),
        })?;
        if !self.at_end() {
            return None;
        }
        out
    }

    /// The `result` object: its `Domains` list read by `domains` (absent: `default`).
    fn result<T>(
        &mut self,
        default: T,
        mut domains: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<T> {
        let mut out = None;
        self.object(|r, key| match key {
            "Domains" if out.is_none() => {
                out = Some(domains(r)?);
                Some(())
            }
            "Domains" => None,
            _ => r.skip(0),
        })?;
        Some(out.unwrap_or(default))
    }
}

/// The domains of a whole JSON-RPC `ul_dump` reply, as `protocol::json_result::<Domains>`
/// reads them, or `None` (see the module docs).
pub(super) fn domains(raw: &[u8]) -> Option<Vec<Domain>> {
    let mut r = Reader::new(raw)?;
    r.envelope(false, |r| r.result(Vec::new(), |r| r.exact(Reader::domain)))
}

/// Streams the contacts of a whole JSON-RPC `ul_dump` reply as `stream::each_json`'s serde
/// walk does, one AOR at a time: `give(domain, aor, contact)`. `None` when the reply
/// leaves the common shape (see the module docs) — maybe after some contacts were given:
/// the caller's second read skips as many.
pub(super) fn contacts(raw: &[u8], give: &mut impl FnMut(&str, &str, Contact)) -> Option<()> {
    let mut r = Reader::new(raw)?;
    r.envelope(true, |r| {
        r.result((), |r| {
            r.array(|r| {
                // the serde walk reads `name` when it comes: AORs before it would be given
                // an empty domain (left to it)
                let mut name: Option<String> = None;
                let mut had_aors = false;
                r.object(|r, key| match key {
                    "name" if name.is_none() && !had_aors => {
                        name = Some(r.string_field()?);
                        Some(())
                    }
                    "AORs" if !had_aors => {
                        had_aors = true;
                        let domain = name.as_deref()?;
                        r.array(|r| {
                            let (aor, contacts) = r.aor()?;
                            let aor = aor.as_deref().unwrap_or_default();
                            for c in contacts {
                                give(domain, aor, c);
                            }
                            Some(())
                        })
                    }
                    "name" | "AORs" => None,
                    _ => r.skip(0),
                })
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_domains(raw: &[u8]) -> crate::Result<Vec<Domain>> {
        crate::protocol::json_result::<super::super::usrloc::Domains>(raw).map(|d| d.list)
    }

    const BASE: &str = r#"{"jsonrpc":"2.0","result":{"Domains":[{"name":"location","hash_size":512,"AORs":[{"AOR":"alice","Contacts":[{"Contact":"sip:alice@10.0.0.7","ContactID":"3432798447218995862","Expires":3598,"Q":"0.5","Callid":"x@y","Cseq":1,"User-agent":"UA 1.0","State":"CS_NEW","Flags":0,"Cflags":"","Socket":"udp:127.0.0.1:5060","Methods":4294967295}]}]}]},"id":1}"#;

    /// Replies the fast path must read, or leave to serde, and agree either way.
    fn variants() -> Vec<String> {
        let mut v = vec![BASE.to_owned()];
        let swaps: &[(&str, &str)] = &[
            (r#""Q":"0.5""#, r#""Q":"""#),
            (r#""Q":"0.5""#, r#""Q":null"#),
            (r#""Q":"0.5""#, r#""Q":1"#),
            (r#""Q":"0.5""#, r#""Q":0.5"#),
            (r#""Expires":3598"#, r#""Expires":"permanent""#),
            (r#""Expires":3598"#, r#""Expires":" 12 ""#),
            (r#""Expires":3598"#, r#""Expires":-1"#),
            (r#""Expires":3598"#, r#""Expires":null"#),
            (r#""Expires":3598,"#, ""),
            (r#""Contact":"sip:alice@10.0.0.7","#, ""),
            (r#""Contact":"sip:alice@10.0.0.7""#, r#""Contact":5"#),
            (
                r#""Contact":"sip:alice@10.0.0.7""#,
                r#""Contact":"sip:a\"b""#,
            ),
            (
                r#""Contact":"sip:alice@10.0.0.7""#,
                r#""Contact":"sip:é@ü""#,
            ),
            (r#""Cseq":1"#, r#""Cseq":"0x1F""#),
            (r#""Cseq":1"#, r#""Cseq":"x""#),
            (r#""Cseq":1"#, r#""Cseq":01"#),
            (r#""Cseq":1"#, r#""Cseq":18446744073709551616"#),
            (r#""Cseq":1"#, r#""Cseq":00"#),
            (r#""Cseq":1"#, r#""Cseq":7e"#),
            (r#""Cseq":1"#, r#""Cseq":7."#),
            (r#""Cseq":1"#, r#""Cseq":9999999999999999999"#),
            (r#""Cseq":1"#, r#""Cseq":10000000000000000000"#),
            (r#""Expires":3598"#, r#""Expires":18446744073709551615"#),
            (r#""Methods":4294967295"#, r#""Methods":0"#),
            (r#""Socket":"udp:127.0.0.1:5060""#, r#""Socket":"udp ""#),
            (r#""Socket":"udp:127.0.0.1:5060""#, r#""Socket":".""#),
            (r#""Socket":"udp:127.0.0.1:5060""#, r#""Socket":"é""#),
            (r#""Cseq":1"#, r#""Cseq":1,"Cseq":2"#),
            (r#""Methods":4294967295"#, r#""Methods":"bad""#),
            (r#""Methods":4294967295"#, r#""Methods":-3"#),
            (r#""Methods":4294967295"#, r#""Methods":true"#),
            (
                r#""ContactID":"3432798447218995862""#,
                r#""ContactID":3432798447218995862"#,
            ),
            (r#""ContactID":"3432798447218995862""#, r#""ContactID":".""#),
            (
                r#""ContactID":"3432798447218995862""#,
                r#""ContactID":" x ""#,
            ),
            (
                r#""ContactID":"3432798447218995862""#,
                r#""ContactID":[1,{"a":[]}]"#,
            ),
            (r#""State":"CS_NEW""#, r#""State":null"#),
            (
                r#""State":"CS_NEW""#,
                r#""Unknown":{"a":[1,-2,"x",null,true]},"State":"CS_NEW""#,
            ),
            (r#""State":"CS_NEW""#, r#""Unknown":1.5e3"#),
            (r#""hash_size":512"#, r#""hash_size":4294967296"#),
            (r#""hash_size":512"#, r#""hash_size":"512""#),
            (r#""name":"location","#, ""),
            (r#""AOR":"alice","#, ""),
            (r#""AOR":"alice","Contacts":[{"#, r#""Contacts":[{"#),
            (
                r#""Contacts":[{"Contact":"sip:alice@10.0.0.7""#,
                r#""AOR":"x","Contacts":[{"Contact":"sip:alice@10.0.0.7""#,
            ),
            (r#""id":1}"#, r#""id":1} x"#),
            (r#""id":1}"#, "\"id\":1}\n"),
            (r#""id":1}"#, r#""id":1,"result":{}}"#),
            (
                r#""id":1}"#,
                r#""id":1,"error":{"code":-32000,"message":"x"}}"#,
            ),
            (r#"{"jsonrpc""#, r#" { "jsonrpc""#),
            (r#","#, " ,\n\t"),
            (r#""AORs":["#, r#""AORs":[],"x":["#),
            (r#"]}]}]}"#, r#"]},]}]}"#),
            (r#"{"Domains":"#, r#"{"Other":[],"Domains":"#),
            (r#"{"Domains":"#, r#"{"Domains":[],"Domains":"#),
        ];
        for (from, to) in swaps {
            assert!(BASE.contains(from), "{from}");
            v.push(BASE.replacen(from, to, 1));
        }
        v.push(r#"{"jsonrpc":"2.0","result":{},"id":1}"#.into());
        v.push(r#"{"jsonrpc":"2.0","result":{"Domains":[]},"id":1}"#.into());
        v.push(r#"{"jsonrpc":"2.0","result":{"Domains":[{"name":"l","AORs":[{"AOR":"a"},{"AOR":"b","Contacts":[]}]}]},"id":1}"#.into());
        v.push(
            r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}"#
                .into(),
        );
        v.push(String::new());
        v.push("[]".into());
        v
    }

    #[test]
    fn special_bytes_are_found_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                for c in [b'"', b'\\', 0, 0x1f, b'\n'] {
                    let mut b = vec![b'a'; len];
                    // bytes either side of the specials' values, and non-ASCII
                    for (i, x) in b.iter_mut().enumerate() {
                        *x = [b'a', 0x21, 0x23, 0x5b, 0x5d, 0x20, 0xc3, 0xff][i % 8];
                    }
                    b[at] = c;
                    if at + 1 < len {
                        b[at + 1] = b'"';
                    }
                    assert_eq!(string_stop(&b), Some(at), "{b:?}");
                }
            }
            let clean: Vec<u8> = (0..len)
                .map(|i| [b'a', 0x21, 0x23, 0x20, 0xc3][i % 5])
                .collect();
            assert_eq!(string_stop(&clean), None);
        }
    }

    #[test]
    fn agrees_with_serde() {
        let fast = variants().iter().filter(|r| check_agreement(r)).count();
        // most of the variants are the common shape
        assert!(fast >= 20, "{fast}");
    }

    /// Both readers on one reply: where the fast one reads it, the serde one reads the same.
    fn check_agreement(reply: &str) -> bool {
        check_bytes(reply.as_bytes())
    }

    /// Each reader against its serde-only counterpart: the typed domains (or the error's
    /// text), and the streamed contacts with their domain and AOR, count or error.
    fn check_bytes(raw: &[u8]) -> bool {
        let shown = String::from_utf8_lossy(raw);
        let by_serde = serde_domains(raw).map_err(|e| e.to_string());
        let fast = domains(raw);
        if let Some(d) = &fast {
            assert_eq!(by_serde.as_ref().ok(), Some(d), "{shown}");
        }
        let typed = super::super::stream::ul_dump_in(raw).map_err(|e| e.to_string());
        assert_eq!(typed, by_serde, "{shown}");
        let mut by_walk = Vec::new();
        let walked = super::super::stream::each_json_serde(
            raw,
            &mut |c| by_walk.push((c.domain.to_owned(), c.aor.to_owned(), c.contact)),
            0,
        )
        .map_err(|e| e.to_string());
        let mut by_each = Vec::new();
        let each = super::super::stream::each_json(raw, &mut |c| {
            by_each.push((c.domain.to_owned(), c.aor.to_owned(), c.contact))
        })
        .map_err(|e| e.to_string());
        assert_eq!(each, walked, "{shown}");
        assert_eq!(by_each, by_walk, "{shown}");
        fast.is_some()
    }

    #[test]
    fn invalid_utf8_and_deep_nesting_go_the_serde_way() {
        let mut bad = BASE.as_bytes().to_vec();
        let at = BASE.find("UA 1.0").unwrap();
        bad[at + 1] = 0xff;
        assert!(!check_bytes(&bad));
        let deep = BASE.replacen(
            r#""State":"CS_NEW""#,
            &format!(
                r#""Deep":{}1{},"State":"CS_NEW""#,
                "[".repeat(100),
                "]".repeat(100)
            ),
            1,
        );
        assert!(!check_agreement(&deep));
        let shallow = BASE.replacen(
            r#""State":"CS_NEW""#,
            &format!(
                r#""Deep":{}-1.5e3{},"State":"CS_NEW""#,
                "[".repeat(20),
                "]".repeat(20)
            ),
            1,
        );
        assert!(check_agreement(&shallow));
    }

    mod property {
        use proptest::prelude::*;

        const KEYS: &[&str] = &[
            "Contac\\u0074",
            "Contact",
            "ContactID",
            "Expires",
            "Q",
            "Callid",
            "Cseq",
            "User-agent",
            "Received",
            "Path",
            "State",
            "Flags",
            "Cflags",
            "Socket",
            "Methods",
            "Attr",
            "SIP_instance",
            "Other",
            "contact",
        ];
        const VALUES: &[&str] = &[
            r#""a\u00e9\n\t\/\"\\b""#,
            r#""\ud83d\ude00 x""#,
            r#""\ud83d""#,
            r#""\udc00""#,
            r#""\ud83d\u0041""#,
            r#""\x""#,
            r#""\u12""#,
            r#""\u00""#,
            r#""\u0000""#,
            r#""\uD83D\uDE00""#,
            r#""sip:a@b""#,
            r#""""#,
            r#"".""#,
            r#"" 7 ""#,
            r#""0x1F""#,
            r#""permanent""#,
            r#""expired""#,
            r#""0.5""#,
            r#""nan""#,
            r#""é ü""#,
            r#""a\"b""#,
            r#""\u0041""#,
            "0",
            "7",
            "01",
            "-3",
            "1.5",
            "1e3",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "9999999999999999999",
            "10000000000000000000",
            r#""x.""#,
            r#""a ""#,
            r#""\u00a0x""#,
            "\"\u{a0}x\"",
            "null",
            "true",
            "false",
            "[]",
            r#"{"a":[1,{"b":null}]}"#,
            "-0",
            "[1,",
            "\"open",
        ];

        /// Values the field `key` reads (so that most replies stay on the fast path).
        fn usual(key: &str) -> &'static [&'static str] {
            match key {
                "Contact" | "Callid" | "State" | "Cflags" => {
                    &[r#""sip:a@b""#, r#""""#, r#""é ü""#, r#"" 7 ""#]
                }
                "Expires" => &[
                    "7",
                    "0",
                    r#""permanent""#,
                    r#"" 12 ""#,
                    r#""expired""#,
                    "18446744073709551615",
                ],
                "Q" => &[
                    r#""""#, r#""0.5""#, "null", "1", r#""nan""#, "true", "0.5", "-1e-1",
                ],
                "Cseq" | "Flags" => &[
                    "7",
                    r#""0x1F""#,
                    r#"" 7 ""#,
                    "0",
                    "7.0",
                    "-1",
                    "7.5",
                    "9999999999999999999",
                    "10000000000000000000",
                ],
                "Methods" => &[
                    "4294967295",
                    r#""bad""#,
                    "null",
                    "7",
                    r#""0x1F""#,
                    "4294967296",
                    "-1",
                    "1e2",
                ],
                _ => &[
                    r#""sip:a@b""#,
                    r#""""#,
                    r#"".""#,
                    r#"" 7 ""#,
                    "7",
                    "null",
                    "true",
                    r#""é ü""#,
                    "18446744073709551615",
                ],
            }
        }

        /// A value for `key`: one in ten anything of `VALUES`, else a usual one.
        fn value(key: &str, i: usize) -> &'static str {
            let usual = usual(key);
            if i % 10 == 0 {
                VALUES[i / 10 % VALUES.len()]
            } else {
                usual[i % usual.len()]
            }
        }

        fn contact() -> impl Strategy<Value = String> {
            let v = 0..VALUES.len() * 10;
            let others = proptest::collection::vec((0..KEYS.len(), v.clone()), 0..8);
            (v, others, 0..8u8).prop_map(|(e, others, mode)| {
                let mut members = Vec::new();
                // usually both required members, with usual values
                if mode > 0 {
                    members.push(r#""Contact":"sip:a@b""#.to_owned());
                    members.push(format!(r#""Expires":{}"#, value("Expires", e)));
                }
                let mut keys = Vec::new();
                for (k, v) in others {
                    // a repeated member now and then
                    if keys.contains(&k) && mode != 1 {
                        continue;
                    }
                    keys.push(k);
                    let key = KEYS[k];
                    if mode > 0 && (key == "Contact" || key == "Expires") && mode != 2 {
                        continue;
                    }
                    members.push(format!(r#""{key}":{}"#, value(key, v)));
                }
                format!("{{{}}}", members.join(","))
            })
        }

        fn reply() -> impl Strategy<Value = String> {
            let aor = (
                proptest::option::weighted(0.9, 0..3usize),
                proptest::collection::vec(contact(), 1..3),
                any::<bool>(),
            )
                .prop_map(|(name, contacts, first)| {
                    let name = name.map(|n| format!(r#""AOR":"{}""#, ["a", "b", ""][n]));
                    let list = format!(r#""Contacts":[{}]"#, contacts.join(","));
                    let members: Vec<String> = match (name, first) {
                        (Some(n), true) => vec![n, list],
                        (Some(n), false) => vec![list, n],
                        (None, _) => vec![list],
                    };
                    format!("{{{}}}", members.join(","))
                });
            let domain = (
                proptest::collection::vec(aor, 1..3),
                any::<bool>(),
                0..4usize,
            )
                .prop_map(|(aors, name_first, hash)| {
                    let aors = format!(r#""AORs":[{}]"#, aors.join(","));
                    let hash = format!(r#""hash_size":{}"#, ["512", "\"512\"", "512", "-1"][hash]);
                    let name = r#""name":"location""#.to_owned();
                    let members = if name_first {
                        [name, hash, aors]
                    } else {
                        [aors, hash, name]
                    };
                    format!("{{{}}}", members.join(","))
                });
            let extra = 0..24usize;
            (proptest::collection::vec(domain, 1..3), 0..8usize, extra).prop_map(
                |(ds, tail, extra)| {
                    let domains = ds.join(",");
                    // now and then: an error member, an unknown or a repeated member at
                    // the envelope or result level, whitespace between the tokens
                    let (envelope, result) = match extra {
                        0 => (r#","error":{"code":-32000,"message":"x"}"#, ""),
                        1 => (r#","error":null"#, ""),
                        2 => (r#","result":{}"#, ""),
                        3 => ("", r#","Domains":[]"#),
                        4 => ("", r#","Other":[{"a":[1,-2.5,null]}]"#),
                        5 => (r#","x":{"y":[true,false,"z"]}"#, ""),
                        _ => ("", ""),
                    };
                    let reply = format!(
                        r#"{{"jsonrpc":"2.0","result":{{"Domains":[{domains}]{result}}},"id":1{envelope}}}{}"#,
                        ["", " \n", " x", ","].get(tail).unwrap_or(&"")
                    );
                    if extra == 6 {
                        reply.replace(',', " ,\n\t").replace(':', "\r: ")
                    } else {
                        reply
                    }
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn fast_and_serde_readers_agree(reply in reply()) {
                super::check_agreement(&reply);
            }
        }

        /// A good part of the generated replies, contacts and all, is read by the fast
        /// path (else the property above would test little).
        #[test]
        fn the_generator_reaches_the_fast_path() {
            use proptest::strategy::ValueTree;
            let mut runner = proptest::test_runner::TestRunner::deterministic();
            let strategy = reply();
            let fast = (0..1000)
                .filter(|_| {
                    let reply = strategy.new_tree(&mut runner).unwrap().current();
                    super::domains(reply.as_bytes()).is_some_and(|d| {
                        d.iter()
                            .flat_map(|d| &d.aors)
                            .any(|a| !a.contacts.is_empty())
                    })
                })
                .count();
            assert!(fast >= 100, "{fast}");
        }
    }

    #[test]
    fn the_common_shape_is_read_here() {
        let d = domains(BASE.as_bytes()).expect("the fast path reads it");
        assert_eq!(d[0].aors[0].contacts[0].q, Some(0.5));
        assert_eq!(d[0].aors[0].contacts[0].methods, Some(4_294_967_295));
        // escapes are decoded here too, as serde_json decodes them
        let escaped = BASE.replacen("UA 1.0", r#"UA \u0031.0 \"\u00e9\" \ud83d\ude00\t"#, 1);
        let d = domains(escaped.as_bytes()).expect("the fast path reads escapes");
        assert_eq!(
            d[0].aors[0].contacts[0].user_agent.as_deref(),
            Some("UA 1.0 \"é\" 😀\t")
        );
        assert_eq!(serde_domains(escaped.as_bytes()).unwrap(), d);
        // a lone surrogate, an unknown escape: left to serde_json
        for bad in [r"\ud83d", r"\q", r"\u00g0"] {
            let reply = BASE.replacen("UA 1.0", bad, 1);
            assert!(domains(reply.as_bytes()).is_none(), "{bad}");
            assert!(!check_agreement(&reply));
        }
    }
}
