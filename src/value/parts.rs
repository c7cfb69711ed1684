//! [`Str`] and [`Array`]: the text of a [`Value::String`] and the items of a
//! [`Value::Array`], kept without spare capacity.

use std::borrow::Borrow;
use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::ser::{Serialize, SerializeSeq, Serializer};

use super::Value;

/// The text of a [`Value::String`]: a string that holds exactly its bytes (no spare
/// capacity; short ones inside the value itself, without an allocation). It dereferences to `str`, compares with `str` / `String`, and converts from and
/// into `String`.
///
/// ```
/// use opensips_mi::{Str, Value};
///
/// let v = Value::from("CS_NEW");
/// if let Value::String(s) = &v {
///     assert_eq!(s, "CS_NEW");
///     assert!(s.starts_with("CS_"));
///     let owned: String = s.clone().into();
///     assert_eq!(owned, "CS_NEW");
/// }
/// assert_eq!(Value::String(Str::from("x")), Value::from("x"));
/// ```
#[derive(Clone)]
pub struct Str(Repr);

/// Strings of up to this many bytes are kept inline (a `Value` stays 24 bytes).
const INLINE: usize = 22;

#[derive(Clone)]
enum Repr {
    Heap(Box<str>),
    Inline { len: u8, buf: [u8; INLINE] },
}

impl Str {
    /// `true` if empty (without checking UTF-8 again).
    pub(crate) fn is_empty_text(&self) -> bool {
        match &self.0 {
            Repr::Heap(s) => s.is_empty(),
            Repr::Inline { len, .. } => *len == 0,
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Heap(s) => s,
            // always whole UTF-8: the bytes were copied from a `str`
            Repr::Inline { len, buf } => buf
                .get(..usize::from(*len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
        }
    }

    /// The text as a `String` (no copy for long strings).
    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Heap(s) => s.into_string(),
            Repr::Inline { .. } => self.as_str().to_owned(),
        }
    }

    /// `Some` if `s` fits inline.
    fn inline(s: &str) -> Option<Str> {
        let mut buf = [0; INLINE];
        buf.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
        Some(Str(Repr::Inline {
            len: u8::try_from(s.len()).ok()?,
            buf,
        }))
    }
}

impl Default for Str {
    fn default() -> Str {
        Str(Repr::Inline {
            len: 0,
            buf: [0; INLINE],
        })
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Str {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Str {
    fn from(s: String) -> Str {
        Str::inline(&s).unwrap_or_else(|| Str(Repr::Heap(s.into_boxed_str())))
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str::inline(s).unwrap_or_else(|| Str(Repr::Heap(s.into())))
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Str {
        Str::from(s.as_str())
    }
}

impl From<Box<str>> for Str {
    fn from(s: Box<str>) -> Str {
        Str::inline(&s).unwrap_or(Str(Repr::Heap(s)))
    }
}

impl From<Str> for String {
    fn from(s: Str) -> String {
        s.into_string()
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Str> for str {
    fn eq(&self, other: &Str) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Str> for &str {
    fn eq(&self, other: &Str) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Str> for String {
    fn eq(&self, other: &Str) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Str {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Str {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Str, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Str;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Str, E> {
                Ok(v.into())
            }
            fn visit_string<E>(self, v: String) -> Result<Str, E> {
                Ok(v.into())
            }
        }
        d.deserialize_str(V)
    }
}

/// The items of a [`Value::Array`], without spare capacity. It dereferences to a slice of
/// [`Value`]s (`len`, `iter`, indexing, `first`, ... and in-place changes of the items) and
/// converts from and into `Vec<Value>`.
///
/// ```
/// use opensips_mi::{Array, Value};
///
/// let a: Array = vec![Value::from(1), Value::from("x")].into();
/// assert_eq!(a.len(), 2);
/// assert_eq!(a[1].as_str(), Some("x"));
/// let v = Value::Array(a);
/// assert_eq!(v.to_string(), r#"[1,"x"]"#);
/// assert_eq!(v, Value::from(vec![Value::from(1), Value::from("x")]));
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Array(Box<[Value]>);

impl Array {
    /// An empty array.
    pub fn new() -> Array {
        Array::default()
    }

    /// The items as a slice.
    pub fn as_slice(&self) -> &[Value] {
        &self.0
    }

    /// The items as a `Vec` (no copy).
    pub fn into_vec(self) -> Vec<Value> {
        self.0.into_vec()
    }

    /// Appends an item (a reallocation: build big arrays with `collect()` or from a `Vec`).
    pub fn push(&mut self, item: impl Into<Value>) {
        let mut items = std::mem::take(&mut self.0).into_vec();
        items.push(item.into());
        self.0 = items.into_boxed_slice();
    }
}

impl Deref for Array {
    type Target = [Value];
    fn deref(&self) -> &[Value] {
        &self.0
    }
}

impl DerefMut for Array {
    fn deref_mut(&mut self) -> &mut [Value] {
        &mut self.0
    }
}

impl fmt::Debug for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl From<Vec<Value>> for Array {
    fn from(items: Vec<Value>) -> Array {
        Array(items.into_boxed_slice())
    }
}

impl From<Array> for Vec<Value> {
    fn from(a: Array) -> Vec<Value> {
        a.into_vec()
    }
}

impl<V: Into<Value>> FromIterator<V> for Array {
    fn from_iter<I: IntoIterator<Item = V>>(iter: I) -> Array {
        Array(iter.into_iter().map(Into::into).collect())
    }
}

impl IntoIterator for Array {
    type Item = Value;
    type IntoIter = std::vec::IntoIter<Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a Array {
    type Item = &'a Value;
    type IntoIter = std::slice::Iter<'a, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a mut Array {
    type Item = &'a mut Value;
    type IntoIter = std::slice::IterMut<'a, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl PartialEq<[Value]> for Array {
    fn eq(&self, other: &[Value]) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<Vec<Value>> for Array {
    fn eq(&self, other: &Vec<Value>) -> bool {
        *self.0 == **other
    }
}

impl Serialize for Array {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0.iter() {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for Array {
    /// A JSON array.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Array, D::Error> {
        match Value::deserialize(d)? {
            Value::Array(a) => Ok(a),
            other => Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Other(other.kind()),
                &"an array",
            )),
        }
    }
}
