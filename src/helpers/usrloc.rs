//! usrloc: `ul_dump` and `ul_show_contact`.

use serde::Deserialize;

use super::de;
use crate::{Map, Value};

/// One contact of an AOR.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Contact {
    /// The contact URI.
    #[serde(rename = "Contact")]
    pub contact: String,
    /// usrloc's 64-bit contact id (2.x+).
    #[serde(
        rename = "ContactID",
        default,
        deserialize_with = "de::opt_string_like"
    )]
    pub contact_id: Option<String>,
    /// Seconds left, or permanent / deleted / expired.
    #[serde(rename = "Expires")]
    pub expires: Expires,
    /// The q value (`None` when unspecified).
    #[serde(rename = "Q", default, deserialize_with = "de_q")]
    pub q: Option<f32>,
    /// Call-ID of the registration.
    #[serde(rename = "Callid", default)]
    pub callid: String,
    /// CSeq of the registration.
    #[serde(rename = "Cseq", default, deserialize_with = "de::u64_like")]
    pub cseq: u64,
    /// User-Agent.
    #[serde(
        rename = "User-agent",
        default,
        deserialize_with = "de::opt_string_like"
    )]
    pub user_agent: Option<String>,
    /// Source address the REGISTER came from (NAT).
    #[serde(rename = "Received", default, deserialize_with = "de::opt_string_like")]
    pub received: Option<String>,
    /// Path header.
    #[serde(rename = "Path", default, deserialize_with = "de::opt_string_like")]
    pub path: Option<String>,
    /// `CS_NEW`, `CS_SYNC`, `CS_DIRTY`.
    #[serde(rename = "State", default)]
    pub state: String,
    /// Contact flags.
    #[serde(rename = "Flags", default, deserialize_with = "de::u64_like")]
    pub flags: u64,
    /// Branch flags, as a list of names.
    #[serde(rename = "Cflags", default)]
    pub cflags: String,
    /// The socket it registered on.
    #[serde(rename = "Socket", default, deserialize_with = "de::opt_string_like")]
    pub socket: Option<String>,
    /// Allowed methods bitmask.
    #[serde(rename = "Methods", default, deserialize_with = "de::opt_u64_like")]
    pub methods: Option<u64>,
    /// Attributes.
    #[serde(rename = "Attr", default, deserialize_with = "de::opt_string_like")]
    pub attr: Option<String>,
    /// `+sip.instance`.
    #[serde(
        rename = "SIP_instance",
        default,
        deserialize_with = "de::opt_string_like"
    )]
    pub sip_instance: Option<String>,
}

/// q: a number or numeric text; anything else (2.4 XML-RPC's `value` for a contact
/// registered without q) is `None`.
pub(super) fn de_q<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<f32>, D::Error> {
    de::lenient(d, |s| match s {
        de::Scalar::U(v) => Some(v as f32),
        de::Scalar::I(v) => Some(v as f32),
        de::Scalar::F(v) => Some(v as f32),
        de::Scalar::S(v) => v.trim().parse::<f32>().ok().filter(|q| q.is_finite()),
        _ => None,
    })
}

/// When a contact expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expires {
    /// In this many seconds.
    In(u64),
    /// Never (registered with expires 0 through MI).
    Permanent,
    /// Deleted, waiting for the timer.
    Deleted,
    /// Already expired.
    Expired,
}

impl<'de> Deserialize<'de> for Expires {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Expires;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("seconds, \"permanent\", \"deleted\" or \"expired\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Expires, E> {
                Ok(Expires::In(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Expires, E> {
                u64::try_from(v)
                    .map(Expires::In)
                    .map_err(|_| E::custom(format!("bad Expires {v}")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Expires, E> {
                if v.fract() == 0.0 && (0.0..1.8e19).contains(&v) {
                    Ok(Expires::In(v as u64))
                } else {
                    Err(E::custom(format!("bad Expires {v}")))
                }
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> std::result::Result<Expires, E> {
                match s.trim() {
                    "permanent" => Ok(Expires::Permanent),
                    "deleted" => Ok(Expires::Deleted),
                    "expired" => Ok(Expires::Expired),
                    n => n
                        .parse()
                        .map(Expires::In)
                        .map_err(|_| E::custom(format!("bad Expires {s:?}"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// An address of record and its contacts.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Aor {
    /// The AOR (`alice`, or `alice@example.com` with usrloc `use_domain`).
    #[serde(rename = "AOR")]
    pub aor: String,
    /// Its contacts (empty in a brief dump).
    #[serde(rename = "Contacts", default, deserialize_with = "de::exact_vec")]
    pub contacts: Vec<Contact>,
}

/// A usrloc domain (table) of `ul_dump`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Domain {
    /// Table name (`location`).
    pub name: String,
    /// Hash table size.
    #[serde(default, deserialize_with = "de::opt_u32_like")]
    pub hash_size: Option<u32>,
    /// The AORs.
    #[serde(rename = "AORs", default, deserialize_with = "de::exact_vec")]
    pub aors: Vec<Aor>,
}

#[derive(Deserialize)]
pub(super) struct Domains {
    #[serde(rename = "Domains", default)]
    pub(super) list: Vec<Domain>,
}

/// A legacy `Contact::` node → the 3.x object.
pub(super) fn legacy_contact(node: &Value) -> Value {
    match node {
        Value::Object(members) => {
            let mut o = vec![(
                {
                    static CONTACT: std::sync::LazyLock<crate::value::Key> =
                        std::sync::LazyLock::new(|| "Contact".into());
                    CONTACT.clone()
                },
                node["value"].clone(),
            )];
            o.extend(
                members
                    .members()
                    .iter()
                    .filter(|(k, _)| &**k != "value")
                    .cloned(),
            );
            super::as_v3(Value::Object(Map::from_members(o)), CONTACT_NUMBERS)
        }
        // 1.x: `<sip:…>;q=;expires=100;flags=0x0;cflags=0x0;socket=<…>;methods=0x1F7F;user_agent=<…>`
        Value::String(s) => legacy_1x_contact(s),
        other => other.clone(),
    }
}

/// The contact members 3.x sends as numbers.
pub(super) const CONTACT_NUMBERS: &[&str] = &["Expires", "Cseq", "Flags", "Methods"];

pub(super) fn legacy_1x_contact(s: &str) -> Value {
    let (uri, rest) = match s.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((uri, rest)) => (uri.to_owned(), rest),
        None => (s.to_owned(), ""),
    };
    let mut o = vec![("Contact".to_owned(), Value::from(uri))];
    // `key=<value>` values may hold `;` (a Path, a user agent): split at `;key=` only
    let mut rest = rest;
    while let Some(part) = rest.strip_prefix(';') {
        let (k, after) = part.split_once('=').unwrap_or((part, ""));
        let (v, next) = match after.strip_prefix('<') {
            Some(inner) => match inner
                .find(">;")
                .or_else(|| inner.strip_suffix('>').map(|i| i.len()))
            {
                Some(end) => (&inner[..end], &inner[(end + 1).min(inner.len())..]),
                None => (inner, ""),
            },
            None => match after.find(';') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            },
        };
        rest = next;
        let hex = |v: &str| {
            v.strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .map_or_else(|| Value::from(v), |n| Value::Int(n as i64))
        };
        let (key, value) = match k {
            // an empty q is `""`, as the 2.4 tree's `Q=`
            "q" => ("Q", Value::from(v)),
            "expires" => (
                "Expires",
                v.parse::<i64>().map_or_else(|_| Value::from(v), Value::Int),
            ),
            "flags" => ("Flags", hex(v)),
            // 2.4 prints branch flags by name, `""` for none
            "cflags" if v == "0x0" => ("Cflags", Value::from("")),
            "cflags" => ("Cflags", Value::from(v)),
            "socket" => ("Socket", Value::from(v)),
            "callid" => ("Callid", Value::from(v)),
            "methods" => ("Methods", hex(v)),
            "user_agent" => ("User-agent", Value::from(v)),
            "received" => ("Received", Value::from(v)),
            "path" => ("Path", Value::from(v)),
            _ => continue,
        };
        o.push((key.into(), value));
    }
    // in the order 2.4 writes them, so the CLI's JSON lines up field for field
    const ORDER: &[&str] = &[
        "Contact",
        "Q",
        "Expires",
        "Callid",
        "User-agent",
        "Flags",
        "Cflags",
        "Socket",
        "Methods",
        "Received",
        "Path",
    ];
    o.sort_by_key(|(k, _)| ORDER.iter().position(|x| x == k).unwrap_or(ORDER.len()));
    Value::Object(o.into())
}

/// A legacy `AOR::` node (or a brief `AOR:: name` leaf) → the 3.x object.
pub(super) fn legacy_aor(node: &Value) -> Value {
    match node {
        Value::String(name) => {
            Value::Object(vec![("AOR".into(), Value::from(name.as_str()))].into())
        }
        _ => Value::Object(
            vec![
                ("AOR".into(), node["value"].clone()),
                (
                    "Contacts".into(),
                    Value::Array(node.get_all("Contact").map(legacy_contact).collect()),
                ),
            ]
            .into(),
        ),
    }
}

pub(super) fn normalize_ul_dump(v: Value) -> Value {
    if v.get("Domains").is_some() {
        return v;
    }
    let domains = v
        .get_all("Domain")
        .map(|d| {
            let size = d
                .get("hash_size")
                .or_else(|| d.get("table"))
                .cloned()
                .unwrap_or_default();
            super::as_v3(
                Value::Object(
                    vec![
                        ("name".into(), d["value"].clone()),
                        ("hash_size".into(), size),
                        (
                            "AORs".into(),
                            Value::Array(d.get_all("AOR").map(legacy_aor).collect()),
                        ),
                    ]
                    .into(),
                ),
                &["hash_size"],
            )
        })
        .collect();
    Value::Object(vec![("Domains".into(), Value::Array(domains))].into())
}

pub(super) fn normalize_show_contact(v: Value) -> Value {
    if v.get("Contacts").is_some() {
        return v;
    }
    match v.get("AOR") {
        Some(aor @ Value::Object(_)) => legacy_aor(aor),
        // 1.x: one `Contact::` line per contact, no AOR node
        _ => Value::Object(
            vec![
                ("AOR".into(), Value::from("")),
                (
                    "Contacts".into(),
                    Value::Array(v.get_all("Contact").map(legacy_contact).collect()),
                ),
            ]
            .into(),
        ),
    }
}
