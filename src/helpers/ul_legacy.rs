//! `ul_dump` read straight from the 1.x/2.x text reply, a line at a time: no tree, no
//! normalised copy of it. Each contact is read by the same `Deserialize` as on every other
//! path, from fields that look exactly like the normalised tree's (`super::usrloc`'s
//! `legacy_contact`): numbers where 3.x sends numbers, text elsewhere. What the walk does
//! not know how to read the same way (a contact field with attributes or children, a 1.x
//! contact line) is decoded through the tree for that contact alone; what would change the
//! whole reply's reading (a top-level `Domains` node; for the list, any node it does not
//! expect) sends the caller back to the tree path.

use serde::Deserialize;
use serde::de::{self, IntoDeserializer, Visitor};

use super::usrloc::{CONTACT_NUMBERS, legacy_1x_contact, legacy_contact};
use super::{Aor, Contact, Domain};
use crate::Result;
use crate::protocol::legacy::{self, Line, Lines};

/// One field as the normalised tree would hold it.
#[derive(Clone, Copy, Debug)]
enum Field<'a> {
    Null,
    Int(i64),
    Str(&'a str),
}

impl<'a> Field<'a> {
    /// `value` of the field `key`, a number when 3.x sends one and it reads as one.
    fn of(key: &str, value: &'a str, numbers: &[&str]) -> Self {
        match numbers.contains(&key) {
            true => value
                .trim()
                .parse::<i64>()
                .map_or(Field::Str(value), Field::Int),
            false => Field::Str(value),
        }
    }
}

type DeError = de::value::Error;

/// Visits like `&Value` does (see `value.rs`), so a field reads the same from both.
impl<'de> de::Deserializer<'de> for Field<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> std::result::Result<V::Value, DeError> {
        match self {
            Field::Null => v.visit_unit(),
            Field::Int(i) if i >= 0 => v.visit_u64(i as u64),
            Field::Int(i) => v.visit_i64(i),
            Field::Str(s) => v.visit_borrowed_str(s),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> std::result::Result<V::Value, DeError> {
        match self {
            Field::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> std::result::Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> std::result::Result<V::Value, DeError> {
        match self {
            Field::Str(s) => v.visit_enum(s.into_deserializer()),
            other => other.deserialize_any(v),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de> IntoDeserializer<'de, DeError> for Field<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// `T` from `(key, field)` pairs, read like an object of the normalised tree.
fn from_fields<'a, T: Deserialize<'a>>(
    fields: &[(&'a str, Field<'a>)],
) -> std::result::Result<T, DeError> {
    T::deserialize(de::value::MapDeserializer::new(fields.iter().copied()))
}

/// What the walk met.
// A contact is handed over by value once, to the list or the callback; boxing it would
// cost an allocation per contact.
#[allow(clippy::large_enum_variant)]
enum Met<'a> {
    Domain(&'a str, Field<'a>),
    Aor(&'a str),
    Contact(Contact),
}

/// Why a walk stopped short.
enum Stop {
    /// The tree path reads this reply differently: use it.
    Tree,
    /// A real error.
    Err(crate::Error),
}

impl From<crate::Error> for Stop {
    fn from(e: crate::Error) -> Self {
        Stop::Err(e)
    }
}

/// Reusable buffers of one walk.
#[derive(Default)]
struct Bufs<'a> {
    attrs: Vec<(&'a str, &'a str)>,
    kid_attrs: Vec<(&'a str, &'a str)>,
    fields: Vec<(&'a str, Field<'a>)>,
}

/// Walks a successful `ul_dump` text reply. `strict`: give up (`Stop::Tree`) on anything
/// the typed list would read differently from the tree (a top-level node other than
/// `Domain`, a `Domain` without children, a `Domain` child other than `AOR`, a contact
/// that does not deserialize); otherwise skip it as the streaming reader of the tree does.
fn walk<'a>(
    text: &'a str,
    strict: bool,
    met: &mut dyn FnMut(Met<'a>) -> std::result::Result<(), Stop>,
) -> std::result::Result<(), Stop> {
    let (code, _, mut lines) = legacy::status(text)?;
    // a `Domains` node makes the tree path read the reply as 3.x-shaped
    if !(200..300).contains(&code) || text.contains("\nDomains::") {
        return Err(Stop::Tree);
    }
    let mut b = Bufs::default();
    while let Some(line) = lines.next_line()? {
        if line.name != Some("Domain") {
            if strict {
                return Err(Stop::Tree);
            }
            lines.skip_below(0)?;
            continue;
        }
        let name = line.split(&mut b.attrs);
        let size = ["hash_size", "table"]
            .iter()
            .find_map(|k| b.attrs.iter().find(|(a, _)| a == k))
            .map_or(Field::Null, |(_, v)| {
                Field::of("hash_size", v, &["hash_size"])
            });
        if b.attrs.is_empty() && lines.peek_depth().is_none_or(|d| d == 0) && strict {
            return Err(Stop::Tree); // a leaf: the tree has no name for it
        }
        met(Met::Domain(name, size))?;
        while lines.peek_depth().is_some_and(|d| d > 0) {
            let Some(aor) = lines.next_line()? else { break };
            if aor.name != Some("AOR") {
                if strict {
                    return Err(Stop::Tree);
                }
                lines.skip_below(aor.depth)?;
                continue;
            }
            met(Met::Aor(aor.split(&mut b.attrs)))?;
            while lines.peek_depth().is_some_and(|d| d > aor.depth) {
                let Some(c) = lines.next_line()? else { break };
                if c.name != Some("Contact") {
                    lines.skip_below(c.depth)?;
                    continue;
                }
                match contact(c, &mut lines, &mut b) {
                    Ok(contact) => met(Met::Contact(contact))?,
                    Err(_) if strict => return Err(Stop::Tree),
                    Err(e) => {
                        return Err(Stop::Err(crate::protocol::unexpected(
                            "Domains[].AORs[].Contacts[]".into(),
                            e.to_string(),
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// One `Contact::` node and its fields.
fn contact<'a>(
    c: Line<'a>,
    lines: &mut Lines<'a>,
    b: &mut Bufs<'a>,
) -> std::result::Result<Contact, DeError> {
    let at_start = lines.clone();
    let uri = c.split(&mut b.attrs);
    let has_kids = lines.peek_depth().is_some_and(|d| d > c.depth);
    if b.attrs.is_empty() && !has_kids {
        // 1.x: `Contact:: <sip:…>;q=;expires=…` on one line
        return Contact::deserialize(&legacy_1x_contact(uri));
    }
    b.fields.clear();
    b.fields.push(("Contact", Field::Str(uri)));
    for &(k, v) in &b.attrs {
        if k != "value" {
            b.fields.push((k, Field::of(k, v, CONTACT_NUMBERS)));
        }
    }
    while lines.peek_depth().is_some_and(|d| d > c.depth) {
        let kid = match lines.next_line() {
            Ok(Some(kid)) => kid,
            _ => break,
        };
        let value = kid.split(&mut b.kid_attrs);
        let leaf = b.kid_attrs.is_empty() && lines.peek_depth().is_none_or(|d| d <= kid.depth);
        if !leaf {
            // a field with attributes or children: read this contact through the tree
            let contact = tree_contact(c, at_start);
            lines.skip_below(c.depth).map_err(de::Error::custom)?;
            return contact;
        }
        let key = kid.name.unwrap_or_default();
        if key != "value" {
            b.fields.push((key, Field::of(key, value, CONTACT_NUMBERS)));
        }
    }
    from_fields(&b.fields)
}

/// The contact on `c`, decoded through its [`Value`] (the lines after it in `lines`).
fn tree_contact<'a>(c: Line<'a>, mut lines: Lines<'a>) -> std::result::Result<Contact, DeError> {
    let node = legacy::subtree_value(c, &mut lines).map_err(de::Error::custom)?;
    Contact::deserialize(&legacy_contact(&node))
}

/// `ul_dump`'s domains read from a 1.x/2.x text reply, or `None` when the tree path must
/// read it (an error reply, or a layout only the tree reads the same way).
pub(super) fn domains(text: &str) -> Result<Option<Vec<Domain>>> {
    let mut domains: Vec<Domain> = Vec::new();
    let walked = walk(text, true, &mut |m| {
        match m {
            Met::Domain(name, size) => {
                let d = from_fields::<Domain>(&[("name", Field::Str(name)), ("hash_size", size)])
                    .map_err(|_| Stop::Tree)?;
                domains.push(d);
            }
            Met::Aor(aor) => {
                if let Some(d) = domains.last_mut() {
                    d.aors.push(Aor {
                        aor: aor.to_owned(),
                        contacts: Vec::new(),
                    });
                }
            }
            Met::Contact(c) => {
                if let Some(a) = domains.last_mut().and_then(|d| d.aors.last_mut()) {
                    // most AORs have one contact: no room kept for more
                    a.contacts.reserve_exact(1);
                    a.contacts.push(c);
                }
            }
        }
        Ok(())
    });
    match walked {
        Ok(()) => {
            for d in &mut domains {
                d.aors.shrink_to_fit();
                for a in &mut d.aors {
                    a.contacts.shrink_to_fit();
                }
            }
            Ok(Some(domains))
        }
        Err(Stop::Tree) => Ok(None),
        Err(Stop::Err(e)) => Err(e),
    }
}

/// Gives each contact of a 1.x/2.x text reply to `f` as it is read; `None` when the tree
/// path must read it.
pub(super) fn contacts(
    text: &str,
    f: &mut impl FnMut(super::UlContact<'_>),
) -> Result<Option<usize>> {
    let (mut domain, mut aor, mut n) = ("", "", 0);
    let walked = walk(text, false, &mut |m| {
        match m {
            Met::Domain(name, _) => domain = name,
            Met::Aor(a) => aor = a,
            Met::Contact(contact) => {
                n += 1;
                f(super::UlContact {
                    domain,
                    aor,
                    contact,
                });
            }
        }
        Ok(())
    });
    match walked {
        Ok(()) => Ok(Some(n)),
        Err(Stop::Tree) => Ok(None),
        Err(Stop::Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    /// The list and the stream through the tree path, errors as text.
    fn by_tree(
        bytes: &[u8],
    ) -> (
        Result<Vec<Domain>>,
        std::result::Result<Vec<String>, String>,
    ) {
        let resp = legacy::decode_reply(bytes).unwrap();
        let list = crate::protocol::decode_typed::<super::super::usrloc::Domains>(
            resp.clone(),
            super::super::usrloc::normalize_ul_dump,
        )
        .map(|d| d.list);
        let v = super::super::normalize_reply("ul_dump", resp.value);
        let mut seen = Vec::new();
        let stream = super::super::stream::each_value(&v, &mut |c: super::super::UlContact<'_>| {
            seen.push(format!("{}|{}|{:?}", c.domain, c.aor, c.contact));
        })
        .map(|_| seen)
        .map_err(|e| e.to_string());
        (list, stream)
    }

    /// The same through the walk (`None`: it sent the caller to the tree).
    type Stream = std::result::Result<Vec<String>, String>;

    fn by_walk(bytes: &[u8]) -> (Option<Result<Vec<Domain>>>, Option<Stream>) {
        let text = legacy::text_of(bytes);
        let list = domains(&text).transpose();
        let mut seen = Vec::new();
        let stream = match contacts(&text, &mut |c| {
            seen.push(format!("{}|{}|{:?}", c.domain, c.aor, c.contact))
        }) {
            Ok(Some(n)) => {
                assert_eq!(n, seen.len());
                Some(Ok(seen))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e.to_string())),
        };
        (list, stream)
    }

    fn same(bytes: &[u8]) -> (bool, bool) {
        let (tree_list, tree_stream) = by_tree(bytes);
        let (walk_list, walk_stream) = by_walk(bytes);
        let text = String::from_utf8_lossy(bytes);
        if let Some(list) = &walk_list {
            assert_eq!(
                format!("{list:?}"),
                format!("{tree_list:?}"),
                "list of {text:?}"
            );
        }
        if let Some(stream) = &walk_stream {
            assert_eq!(stream, &tree_stream, "stream of {text:?}");
        }
        (walk_list.is_some(), walk_stream.is_some())
    }

    #[test]
    fn the_walk_reads_every_capture_as_the_tree_does() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/2x");
        for sub in ["fifo", "datagram"] {
            for name in ["09_ul_dump", "10_ul_dump_brief"] {
                let bytes = std::fs::read(dir.join(sub).join(format!("{name}.reply.txt"))).unwrap();
                // the real layouts never need the tree
                assert_eq!(same(&bytes), (true, true), "{sub}/{name}");
                let (Some(Ok(list)), _) = by_walk(&bytes) else {
                    panic!("{sub}/{name}")
                };
                assert_eq!(list[0].aors.len(), 5);
            }
        }
    }

    #[test]
    fn the_walk_reads_odd_layouts_as_the_tree_does() {
        let cases: &[(&str, (bool, bool))] = &[
            // 1.x contact lines, a field with children, a field with attributes
            (
                "200 OK\nDomain:: location table=512 records=2\n\tAOR:: a\n\t\tContact:: <sip:a@h>;q=;expires=100;flags=0x0;cflags=0x0;socket=<udp:1.2.3.4:5060>;methods=0x1F7F;user_agent=<Polycom SoundPoint>\n\tAOR:: b\n\t\tContact:: sip:b@h Q=1\n\t\t\tExpires:: 10\n\t\t\tCallid:: x\n\t\t\tAttr:: \n\t\t\t\tdeeper:: v\n\t\t\tCseq:: 2\n\t\tContact:: sip:c@h Q=\n\t\t\tExpires:: permanent\n\t\t\tSIP_instance::  x=1\n\t\t\tCallid:: y\n\t\t\tFlags::  7 \n\t\t\tMethods:: 0x1F\n\t\t\tvalue:: dropped\n\tAOR:: after\n\t\tContact:: sip:d@h Q=0.5\n\t\t\tExpires:: 1\n",
                (true, true),
            ),
            // what a list cannot read the same way, a stream can
            (
                "200 OK\nOther:: x\n\tAOR:: no\nDomain:: location\n\tjunk:: 1\n\tAOR:: a\n\t\tNotContact:: x\n\t\tContact:: sip:a@h Q=\n\t\t\tExpires:: 5\nDomain:: leaf\n",
                (false, true),
            ),
            // a contact that does not fit: the list's error comes from the tree
            (
                "200 OK\nDomain:: l hash_size=1\n\tAOR:: a\n\t\tContact:: sip:a@h Q=\n\t\t\tExpires:: soon\n",
                (false, true),
            ),
            // a `Domains` node changes the whole reading
            (
                "200 OK\nDomains:: x\nDomain:: l\n\tAOR:: a\n",
                (false, false),
            ),
            // empty, brief, no hash size, a number that is not one
            ("200 OK\n\n", (true, true)),
            ("200 OK\nDomain:: l\n\tAOR:: a\n\tAOR:: b\n", (true, true)),
            (
                "200 OK\nDomain:: l hash_size=lots\n\tAOR:: a\n",
                (true, true),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(same(text.as_bytes()), *expected, "{text:?}");
        }
    }

    #[test]
    fn the_walk_reads_random_trees_as_the_tree_does() {
        const NAMES: &[&str] = &[
            "Domain",
            "Domain",
            "AOR",
            "AOR",
            "Contact",
            "Contact",
            "Expires",
            "Callid",
            "Cseq",
            "Flags",
            "Methods",
            "Q",
            "User-agent",
            "value",
            "Attr",
            "junk",
            "",
        ];
        const VALUES: &[&str] = &[
            "",
            "1",
            " 7 ",
            "x",
            "permanent",
            "0x1F",
            "sip:a@h",
            "-3",
            "99999999999999999999",
            "a b",
            "k=v",
        ];
        const ATTRS: &[&str] = &[
            "",
            "",
            " Q=0.5",
            " Q=",
            " hash_size=512",
            " table=9",
            "  x=1",
        ];
        let mut next = crate::test_rng(0x2545_f491_4f6c_dd1d_u64);
        let mut walked = (0, 0);
        for _ in 0..3000 {
            let mut text = String::from("200 OK\n");
            let mut depth = 0;
            for _ in 0..next(30) {
                depth = next(depth + 2).min(4);
                let name = NAMES[next(NAMES.len())];
                text.push_str(&"\t".repeat(depth));
                if !name.is_empty() {
                    text.push_str(name);
                    text.push_str(":: ");
                }
                text.push_str(VALUES[next(VALUES.len())]);
                text.push_str(ATTRS[next(ATTRS.len())]);
                text.push('\n');
            }
            let (list, stream) = same(text.as_bytes());
            walked.0 += usize::from(list);
            walked.1 += usize::from(stream);
        }
        // the walk reads trees itself (the list only the tidy ones), not handing them back
        assert!(walked.0 > 50 && walked.1 > 2500, "{walked:?}");
    }

    #[test]
    fn a_bad_contact_in_the_stream_is_an_error_naming_where() {
        let text =
            "200 OK\nDomain:: l\n\tAOR:: a\n\t\tContact:: sip:a@h Q=\n\t\t\tExpires:: soon\n";
        let e = contacts(text, &mut |_| {}).unwrap_err();
        assert!(
            matches!(e, Error::UnexpectedReply { ref field, .. } if field == "Domains[].AORs[].Contacts[]"),
            "{e}"
        );
    }
}
