//! The [`Value`] tree: what an MI command returns, and what its parameters are made of,
//! with its parts [`Map`], [`Str`] and [`Array`] (also at the crate root) and the iterators
//! of a [`Map`].

use std::fmt;

mod map;
mod parts;

pub use map::{IntoIter, Iter, IterMut, Map};
pub(crate) use map::{Key, Keys};
pub use parts::{Array, Str};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};

/// A JSON-like value as sent and received over the Management Interface.
///
/// Objects are a [`Map`] of `(key, value)` members, which keeps the order in which OpenSIPS
/// printed the keys (and any repeated key, which the legacy text protocol can produce).
/// Strings are a [`Str`], arrays an [`Array`]: compact types (a `Value` is 24 bytes, short
/// keys and strings are stored inline, equal long keys of a reply share one allocation) that
/// dereference to `str` and `[Value]`.
///
/// Accessors never panic: [`Value::get`] and indexing with `value["key"]` / `value[0]`
/// return [`Value::Null`] (or `None`) for anything that is not there.
///
/// ```
/// use opensips_mi::Value;
///
/// let v = Value::from_json(br#"{"Now":"Thu Nov 26 11:06:18 2026","Up time":"3 [sec]"}"#)?;
/// assert_eq!(v["Up time"].as_str(), Some("3 [sec]"));
/// assert!(v["missing"].is_null());
/// assert_eq!(v.to_string(), r#"{"Now":"Thu Nov 26 11:06:18 2026","Up time":"3 [sec]"}"#);
/// # Ok::<(), opensips_mi::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
#[non_exhaustive]
pub enum Value {
    /// JSON `null`.
    #[default]
    Null,
    /// JSON `true` / `false`.
    Bool(bool),
    /// An integral number that fits an `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string. Each byte of invalid UTF-8 sent by the server is replaced by `?`.
    String(Str),
    /// An array.
    Array(Array),
    /// An object, in the server's key order.
    Object(Map),
}

static NULL: Value = Value::Null;

impl Value {
    /// Parses JSON bytes into a `Value`, keeping object key order.
    ///
    /// Invalid UTF-8 inside strings (OpenSIPS copies SIP data byte for byte) does not fail:
    /// each offending byte becomes `?`.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedReply`](crate::Error::MalformedReply) if the bytes are not one JSON value.
    pub fn from_json(bytes: &[u8]) -> crate::Result<Value> {
        crate::protocol::jsonrpc::parse_lenient::<Value>(bytes)
            .map_err(|e| crate::Error::malformed(format!("not valid JSON ({e})"), bytes))
    }

    /// Looks up `key` in an object (the first occurrence). `None` for other variants.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.get(key),
            _ => None,
        }
    }

    /// Every member named `key`, in order (the legacy MI repeats node names, e.g. one
    /// `Process` per process). Empty for other variants.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.as_object()
            .into_iter()
            .flat_map(move |m| m.get_all(key))
    }

    /// Looks up `key` in an object, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match self {
            Value::Object(members) => members.get_mut(key),
            _ => None,
        }
    }

    /// `true` for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string, if this is a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as `i64`: an [`Value::Int`], an integral [`Value::Float`] in range, or a
    /// string holding a decimal integer (OpenSIPS sends some numbers as text, e.g. `"ContactID"`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f)
                if f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64 =>
            {
                Some(*f as i64)
            }
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The number as `u64`, with the same leniency as [`Value::as_i64`].
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64 => {
                Some(*f as u64)
            }
            Value::String(s) => s.trim().parse().ok(),
            other => other.as_i64().and_then(|i| u64::try_from(i).ok()),
        }
    }

    /// The number as `f64` ([`Value::Int`], [`Value::Float`], or a numeric string).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::Array`].
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The members in server order, if this is a [`Value::Object`].
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// A short name of the variant (`"null"`, `"string"`, `"object"`, ...), for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Compact JSON bytes of this value.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing our own tree into a Vec cannot fail: keys are strings and
        // non-finite floats are written as null by `Serialize` below.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Indented JSON text (tabs), as `{:#}` prints it.
    pub fn to_json_pretty(&self) -> String {
        format!("{self:#}")
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;
    /// Object member lookup; [`Value::Null`] when absent or not an object.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl std::ops::Index<usize> for Value {
    type Output = Value;
    /// Array element; [`Value::Null`] when out of range or not an array.
    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

impl fmt::Display for Value {
    /// Compact JSON; the alternate form (`{:#}`) is indented with two spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if f.alternate() {
            serde_json::to_string_pretty(self)
        } else {
            serde_json::to_string(self)
        };
        f.write_str(&text.map_err(|_| fmt::Error)?)
    }
}

// ---- conversions into Value (used for command arguments) ----

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! from_wide_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                match i64::try_from(v) {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Float(v as f64),
                }
            }
        }
    )*};
}
from_wide_int!(u64, usize, isize);

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.into())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v.into())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::String(v.into())
    }
}
impl From<Str> for Value {
    fn from(v: Str) -> Self {
        Value::String(v)
    }
}
impl From<Array> for Value {
    fn from(v: Array) -> Self {
        Value::Array(v)
    }
}
impl From<Map> for Value {
    fn from(v: Map) -> Self {
        Value::Object(v)
    }
}
impl From<&Value> for Value {
    fn from(v: &Value) -> Self {
        v.clone()
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    /// A `Vec` is ONE array value (e.g. the `statistics` parameter), never several arguments.
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Value> + Clone> From<&[T]> for Value {
    fn from(v: &[T]) -> Self {
        Value::Array(v.iter().cloned().map(Into::into).collect())
    }
}
impl<T: Into<Value>, const N: usize> From<[T; N]> for Value {
    fn from(v: [T; N]) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => number(&n),
            serde_json::Value::String(s) => Value::String(s.into()),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}

impl From<Value> for serde_json::Value {
    /// Object key order is kept only if `serde_json`'s `preserve_order` feature is on.
    fn from(v: Value) -> Self {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::Int(i) => serde_json::Value::from(i),
            Value::Float(f) => serde_json::Number::from_f64(f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.into()),
            Value::Array(a) => serde_json::Value::Array(a.into_iter().map(Into::into).collect()),
            Value::Object(o) => {
                serde_json::Value::Object(o.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
        }
    }
}

fn number(n: &serde_json::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::Int(i)
    } else {
        Value::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

// ---- serde ----

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::String(v) => s.serialize_str(v),
            Value::Array(a) => a.serialize(s),
            Value::Object(o) => o.serialize(s),
        }
    }
}

/// The members and items of the containers still open while a tree is read: each
/// container's entries are collected here and moved into a box of exactly their number
/// when it closes, so the tree keeps no spare capacity and no container grows by
/// reallocating. Equal keys are shared ([`Keys`]).
#[derive(Default)]
struct Scratch {
    members: Vec<(map::Key, Value)>,
    items: Vec<Value>,
    keys: Keys,
}

/// Reads one value, sharing the scratch space of the whole tree.
struct ValueSeed<'s>(&'s mut Scratch);

impl<'de> serde::de::DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Reads one object key into a shared [`map::Key`], without a `String` in between.
struct KeySeed<'s>(&'s mut Keys);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = map::Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<map::Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = map::Key;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, v: &str) -> Result<map::Key, E> {
        Ok(self.0.key(v))
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let start = self.0.items.len();
        while let Some(v) = seq.next_element_seed(ValueSeed(&mut *self.0))? {
            self.0.items.push(v);
        }
        Ok(Value::Array(self.0.items.drain(start..).collect()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let start = self.0.members.len();
        while let Some(k) = map.next_key_seed(KeySeed(&mut self.0.keys))? {
            let v = map.next_value_seed(ValueSeed(&mut *self.0))?;
            self.0.members.push((k, v));
        }
        Ok(Value::Object(Map::from_members(
            self.0.members.drain(start..).collect(),
        )))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueSeed(&mut Scratch::default()))
    }
}

// ---- the plain-JSON fast path ----

/// Containers nested deeper than this are left to serde_json (its own limit is 128).
const PLAIN_DEPTH: usize = 32;

impl Value {
    /// Parses `bytes` exactly as `serde_json::from_slice::<Value>` does, when they are plain
    /// JSON: objects, arrays, strings without escapes, integers of at most 18 digits (not
    /// `-0`), `true`, `false`, `null`, nested at most 32 deep. `None` for anything else
    /// (escapes, floats, big integers, and every error), which serde_json then reads: a
    /// small reply (`{"Server":"OpenSIPS (3.5.9 …)"}`) costs a third of the instructions.
    /// Equal keys are shared and containers sized exactly, as by the serde path.
    pub(crate) fn parse_plain(bytes: &[u8]) -> Option<Value> {
        // checked once for the whole text (serde_json checks each string: invalid UTF-8
        // outside a string is a syntax error anyway)
        let text = std::str::from_utf8(bytes).ok()?;
        let mut p = Plain {
            text,
            bytes,
            pos: 0,
            scratch: Scratch::default(),
        };
        p.ws();
        let value = p.value(0)?;
        p.ws();
        (p.pos == bytes.len()).then_some(value)
    }
}

/// Where the first byte that ends a plain string is in `bytes`: its closing quote, or what
/// serde_json must read (an escape) or rejects (a control character). Eight bytes at a time
/// (the last few padded with bytes that are not stops), the first stop of a word found from
/// its flags.
#[inline]
pub(crate) fn string_stop(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // the high bit of each byte of `x` below `n` (`n` <= 0x20) set, and maybe of a later
    // one (a borrow): never of an earlier one, so the lowest flag is the first such byte
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let stops = |word: [u8; 8]| {
        let x = u64::from_le_bytes(word);
        below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1)
    };
    // the byte of the lowest flag (little-endian: the first byte is the lowest)
    let first = |found: u64| found.trailing_zeros() as usize / 8;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let found = stops(word);
        if found != 0 {
            return Some(at + first(found));
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    let mut word = [b'a'; 8];
    word[..rest.len()].copy_from_slice(rest);
    let found = stops(word);
    (found != 0).then(|| at + first(found))
}

/// The state of [`Value::parse_plain`].
struct Plain<'a> {
    text: &'a str,
    /// `text` as bytes.
    bytes: &'a [u8],
    pos: usize,
    scratch: Scratch,
}

impl<'a> Plain<'a> {
    /// Skips JSON whitespace (not form feeds: serde_json rejects them).
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(|s| Value::String(s.into())),
            b't' => self.word(b"true", Value::Bool(true)),
            b'f' => self.word(b"false", Value::Bool(false)),
            b'n' => self.word(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    fn word(&mut self, word: &[u8], value: Value) -> Option<Value> {
        let rest = self.bytes.get(self.pos..)?;
        rest.starts_with(word).then(|| {
            self.pos += word.len();
            value
        })
    }

    /// An integer serde_json reads as one: no leading zero, no fraction or exponent (a
    /// float), not `-0` (serde_json makes it `-0.0`), at most 18 digits (always an `i64`).
    fn integer(&mut self) -> Option<Value> {
        let neg = self.peek() == Some(b'-');
        let start = self.pos + usize::from(neg);
        let rest = self.bytes.get(start..)?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let first = *rest.first()?;
        if digits == 0 || digits > 18 || (first == b'0' && (digits > 1 || neg)) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = rest.get(digits) {
            return None;
        }
        let n = rest[..digits]
            .iter()
            .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
        self.pos = start + digits;
        Some(Value::Int(if neg { -n } else { n }))
    }

    /// A string without escapes or control characters (at its opening quote).
    fn string(&mut self) -> Option<&'a str> {
        let start = self.pos + 1;
        let len = string_stop(self.bytes.get(start..)?)?;
        if self.bytes[start + len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        // between two ASCII quotes: always whole characters
        self.text.get(start..start + len)
    }

    fn object(&mut self, depth: usize) -> Option<Value> {
        if depth == PLAIN_DEPTH {
            return None;
        }
        self.pos += 1;
        self.ws();
        let mut members = Entries::new();
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                let key = self.scratch.keys.key(key);
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.pos += 1;
                self.ws();
                let value = self.value(depth + 1)?;
                members.push((key, value), &mut self.scratch.members);
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        self.ws();
                    }
                    b'}' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        Some(Value::Object(Map::from_members(
            members.finish(&mut self.scratch.members),
        )))
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        if depth == PLAIN_DEPTH {
            return None;
        }
        self.pos += 1;
        self.ws();
        let mut items = Entries::new();
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                let value = self.value(depth + 1)?;
                items.push(value, &mut self.scratch.items);
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        self.ws();
                    }
                    b']' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        Some(Value::Array(
            items.finish(&mut self.scratch.items).into_iter().collect(),
        ))
    }
}

/// A container may hold this many entries before they go to the tree's scratch space.
const LOCAL_ENTRIES: usize = 4;

/// The entries of one container while it is read: the first few on the stack, so a small
/// tree allocates nothing but its containers (each exactly sized) and long strings; more
/// in the tree's scratch space, as the serde path keeps them.
struct Entries<T> {
    local: [Option<T>; LOCAL_ENTRIES],
    len: usize,
    /// Where this container's entries start in the scratch space, once they went there.
    spilled: Option<usize>,
}

impl<T> Entries<T> {
    fn new() -> Self {
        Entries {
            local: [const { None }; LOCAL_ENTRIES],
            len: 0,
            spilled: None,
        }
    }

    fn push(&mut self, entry: T, scratch: &mut Vec<T>) {
        if self.spilled.is_none() {
            if let Some(slot) = self.local.get_mut(self.len) {
                *slot = Some(entry);
                self.len += 1;
                return;
            }
            self.spilled = Some(scratch.len());
            scratch.extend(self.local.iter_mut().filter_map(Option::take));
        }
        scratch.push(entry);
    }

    /// The entries, in a vector of exactly their number.
    fn finish(&mut self, scratch: &mut Vec<T>) -> Vec<T> {
        match self.spilled {
            Some(start) => scratch.drain(start..).collect(),
            None => {
                let local = self.local.get_mut(..self.len).unwrap_or_default();
                let mut entries = Vec::with_capacity(local.len());
                entries.extend(local.iter_mut().filter_map(Option::take));
                entries
            }
        }
    }
}
// ---- reading typed data straight out of a Value (serde Deserializer) ----

impl<'de> serde::de::IntoDeserializer<'de, serde::de::value::Error> for &'de Value {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// Deserializes a `T` from a borrowed [`Value`] without converting it to another tree
/// first (the typed helpers use it for legacy and XML-RPC replies).
impl<'de> Deserializer<'de> for &'de Value {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        use serde::de::value::{MapDeserializer, SeqDeserializer};
        match self {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            // like serde_json: non-negative integers as u64
            Value::Int(i) if *i >= 0 => v.visit_u64(*i as u64),
            Value::Int(i) => v.visit_i64(*i),
            Value::Float(f) => v.visit_f64(*f),
            Value::String(s) => v.visit_borrowed_str(s),
            Value::Array(a) => v.visit_seq(SeqDeserializer::new(a.iter())),
            Value::Object(o) => v.visit_map(MapDeserializer::new(o.iter())),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self {
            Value::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        use serde::de::IntoDeserializer;
        match self {
            Value::String(s) => v.visit_enum(s.as_str().into_deserializer()),
            other => other.deserialize_any(v),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    /// `string_stop` against the plain definition: every byte value at every place of the
    /// first words, alone and before a second stop or any byte (a borrow of the word
    /// arithmetic flags only later bytes), and over every length of the padded tail.
    #[test]
    fn string_stop_finds_the_first_stop_byte() {
        let stop = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        let reference = |bytes: &[u8]| bytes.iter().position(|&b| stop(b));
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(super::string_stop(&bytes), reference(&bytes), "{bytes:?}");
                    if at + 1 < len {
                        for next in [0, 0x1f, 0x20, b'"', b'\\', 0x80, 0xff, b] {
                            bytes[at + 1] = next;
                            assert_eq!(super::string_stop(&bytes), reference(&bytes), "{bytes:?}");
                        }
                    }
                }
            }
        }
        // every pair of bytes, at a word's start, middle and end
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for at in [0, 3, 6, 7] {
                    let mut bytes = [b'a'; 16];
                    bytes[at] = a;
                    bytes[at + 1] = b;
                    assert_eq!(super::string_stop(&bytes), reference(&bytes), "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn deserializes_typed_data_in_place() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        enum Kind {
            Udp,
            Tcp,
        }
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Id(u64);
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct S {
            name: String,
            id: Id,
            neg: i32,
            f: f64,
            kind: Kind,
            maybe: Option<String>,
            missing: Option<u8>,
            list: Vec<bool>,
        }
        let v = Value::from_json(
            br#"{"name":"a","id":7,"neg":-3,"f":0.5,"kind":"Tcp","maybe":null,"list":[true,false],"extra":{}}"#,
        )
        .unwrap();
        let s = S::deserialize(&v).unwrap();
        assert_eq!(
            s,
            S {
                name: "a".into(),
                id: Id(7),
                neg: -3,
                f: 0.5,
                kind: Kind::Tcp,
                maybe: None,
                missing: None,
                list: vec![true, false]
            }
        );
        let bad = Value::from_json(br#"{"name":"a","id":"x"}"#).unwrap();
        let err = serde_path_to_error::deserialize::<_, S>(&bad).unwrap_err();
        assert_eq!(err.path().to_string(), "id");
        let _ = Kind::Udp;
    }

    use super::*;

    #[test]
    fn keeps_key_order_and_duplicates() {
        let v = Value::from_json(br#"{"b":1,"a":2,"b":3}"#).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "b"]);
        assert_eq!(v["b"], Value::Int(1));
    }

    #[test]
    fn numbers() {
        let v = Value::from_json(b"[4294967295, 18446744073709551615, 1.5, -3, \"12\"]").unwrap();
        assert_eq!(v[0], Value::Int(4_294_967_295));
        assert!(matches!(v[1], Value::Float(_)));
        assert_eq!(v[2].as_f64(), Some(1.5));
        assert_eq!(v[3].as_i64(), Some(-3));
        assert_eq!(v[4].as_u64(), Some(12));
        assert_eq!(v[2].as_i64(), None);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let v = Value::from_json(b"{\"User-agent\":\"X\xff\xfeY\"}").unwrap();
        assert_eq!(v["User-agent"].as_str(), Some("X??Y"));
    }

    #[test]
    fn display_roundtrip() {
        let text = r#"{"a":[1,2.5,null,true,"x\"y"],"b":{}}"#;
        let v = Value::from_json(text.as_bytes()).unwrap();
        assert_eq!(v.to_string(), text);
        assert!(format!("{v:#}").contains("\n  \"a\": ["));
    }

    #[test]
    fn indexing_never_panics() {
        let v = Value::Int(3);
        assert!(v["x"].is_null());
        assert!(v[7].is_null());
        assert_eq!(v.kind(), "integer");
    }

    #[test]
    fn serde_json_roundtrip() {
        let v = Value::from_json(br#"{"a":[1,2.5,null,"x",{"b":true}]}"#).unwrap();
        let j: serde_json::Value = v.clone().into();
        assert_eq!(j["a"][1], serde_json::json!(2.5));
        assert_eq!(Value::from(j), v);
    }

    #[test]
    fn compact_sizes() {
        // the enum and an object member: 24 and 40 bytes (were 32 and 56)
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<(map::Key, Value)>(), 40);
        assert_eq!(std::mem::size_of::<Map>(), 16);
        // up to 22 bytes of text inline
        assert_eq!(std::mem::size_of::<Str>(), 24);
        assert_eq!(std::mem::size_of::<Array>(), 16);
    }

    #[test]
    fn map_keeps_order_and_duplicates_and_finds_the_first() {
        let mut m: Map = vec![
            ("b".to_owned(), Value::Int(1)),
            ("a".to_owned(), Value::Int(2)),
            ("b".to_owned(), Value::Int(3)),
        ]
        .into();
        assert_eq!(m.len(), 3);
        assert!(!m.is_empty() && Map::new().is_empty());
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b", "a", "b"]);
        assert_eq!(m.get("b"), Some(&Value::Int(1)));
        assert_eq!(m["b"], Value::Int(1));
        assert!(m["zz"].is_null());
        assert_eq!(
            m.get_all("b").collect::<Vec<_>>(),
            [&Value::Int(1), &Value::Int(3)]
        );
        assert!(m.contains_key("a") && !m.contains_key("c"));
        assert_eq!(m.first(), Some(("b", &Value::Int(1))));
        // insert replaces the first, push appends even a repeated key
        assert_eq!(m.insert("b", 9), Some(Value::Int(1)));
        assert_eq!(m.insert("c", "x"), None);
        m.push("a", true);
        assert_eq!(
            Value::Object(m.clone()).to_string(),
            r#"{"b":9,"a":2,"b":3,"c":"x","a":true}"#
        );
        assert_eq!(m.remove("a"), Some(Value::Int(2)));
        assert_eq!(m.remove("nope"), None);
        m.retain(|k, _| k != "b");
        assert_eq!(m.keys().collect::<Vec<_>>(), ["c", "a"]);
        for (_, v) in &mut m {
            *v = Value::Null;
        }
        assert!(m.values().all(Value::is_null));
        let owned: Vec<(String, Value)> = m.into_iter().collect();
        assert_eq!(
            owned,
            [("c".to_owned(), Value::Null), ("a".to_owned(), Value::Null)]
        );
    }

    #[test]
    fn map_equality_is_ordered_and_by_content() {
        let a: Map = [("x", Value::Int(1)), ("y", Value::Int(2))].into();
        let b: Map = vec![
            ("x".to_owned(), Value::Int(1)),
            ("y".to_owned(), Value::Int(2)),
        ]
        .into();
        let c: Map = [("y", Value::Int(2)), ("x", Value::Int(1))].into();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // a decoded map (shared keys) equals a built one
        assert_eq!(
            Value::from_json(br#"{"x":1,"y":2}"#).unwrap(),
            Value::Object(a)
        );
    }

    #[test]
    fn map_serde_and_display_round_trip() {
        let text = r#"{"b":1,"a":{"k":[1,"s"]},"b":null}"#;
        let m: Map = serde_json::from_str(text).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(serde_json::to_string(&m).unwrap(), text);
        assert_eq!(Value::Object(m.clone()).to_string(), text);
        assert_eq!(
            format!("{m:?}"),
            r#"{"b": Int(1), "a": Object({"k": Array([Int(1), String("s")])}), "b": Null}"#
        );
        assert!(serde_json::from_str::<Map>("[1]").is_err());
        let a: Array = serde_json::from_str(r#"[1,"x",{}]"#).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"[1,"x",{}]"#);
        let s: Str = serde_json::from_str(r#""a\"b""#).unwrap();
        assert_eq!(s, "a\"b");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""a\"b""#);
    }

    #[test]
    fn equal_keys_of_one_reply_share_one_allocation() {
        let shared = |a: &Map, i, b: &Map, j| match (a.key_arc(i), b.key_arc(j)) {
            (Some(x), Some(y)) => std::sync::Arc::ptr_eq(x, y),
            _ => false,
        };
        // keys of up to 14 bytes are inline (nothing to share); longer ones are shared
        let v = Value::from_json(
            br#"[{"Contact":"a","caller_route_set":""},{"Contact":"b","caller_route_set":""}]"#,
        )
        .unwrap();
        let (one, two) = (v[0].as_object().unwrap(), v[1].as_object().unwrap());
        assert!(one.key_arc(0).is_none());
        assert!(shared(one, 1, two, 1));
        assert_eq!(
            one.keys().collect::<Vec<_>>(),
            ["Contact", "caller_route_set"]
        );
        let legacy = crate::legacy::decode_reply(
            b"200 OK\nAOR:: a\n\tcaller_bind_address:: x\nAOR:: b\n\tcaller_bind_address:: y\n\n",
        )
        .unwrap()
        .value;
        let aors: Vec<&Map> = legacy.get_all("AOR").filter_map(Value::as_object).collect();
        assert_eq!(aors.len(), 2);
        assert!(shared(aors[0], 1, aors[1], 1));
        assert_eq!(legacy["AOR"]["caller_bind_address"].as_str(), Some("x"));
    }

    #[test]
    fn str_and_array_behave_like_str_and_slice() {
        let v = Value::from("CS_NEW");
        let Value::String(s) = &v else { panic!() };
        assert_eq!(s, "CS_NEW");
        assert_eq!("CS_NEW", *s);
        assert_eq!(s.len(), 6);
        assert_eq!(s.clone().into_string(), "CS_NEW");
        // short strings live inline, longer ones on the heap: the same to every user
        for text in [
            "",
            "é",
            "a".repeat(22).as_str(),
            &"b".repeat(23),
            &"ü".repeat(11),
            &"ü".repeat(12),
        ] {
            let s = Str::from(text);
            assert_eq!(s, text);
            assert_eq!(s.as_str().len(), text.len());
            assert_eq!(Str::from(text.to_owned()), s);
            assert_eq!(s.clone().into_string(), text);
            assert_eq!(
                Value::from(text).to_string(),
                serde_json::to_string(text).unwrap()
            );
        }
        let (a, b) = (Str::from("a"), Str::from("b"));
        assert!(a < b && Str::default().is_empty());
        let mut a: Array = (1..=3).collect();
        a[0] = Value::from("x");
        a.push(4);
        assert_eq!(a.as_slice().len(), 4);
        assert_eq!(
            a,
            vec![
                Value::from("x"),
                Value::Int(2),
                Value::Int(3),
                Value::Int(4)
            ]
        );
        assert_eq!(a.iter().filter(|v| v.as_i64().is_some()).count(), 3);
        assert_eq!(a.into_vec().len(), 4);
    }

    #[test]
    fn vec_is_one_array() {
        assert_eq!(
            Value::from(vec!["dialog:", "tm:"]),
            Value::Array(vec![Value::from("dialog:"), Value::from("tm:")].into())
        );
        assert_eq!(Value::from(u64::MAX).kind(), "number");
        assert_eq!(Value::from(None::<i32>), Value::Null);
    }
}
