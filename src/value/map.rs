//! [`Map`]: the members of a [`Value::Object`], and its iterators.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::Value;

/// An object key, 16 bytes: up to 14 bytes of text inline (no allocation), longer keys
/// shared: equal long keys of one decoded reply are one allocation (see [`Keys`]).
#[derive(Clone)]
pub(crate) struct Key(KeyRepr);

/// Keys of up to this many bytes are kept inline.
const INLINE_KEY: usize = 14;

#[derive(Clone)]
enum KeyRepr {
    Inline { len: u8, buf: [u8; INLINE_KEY] },
    Shared(Arc<Box<str>>),
}

impl Key {
    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        match &self.0 {
            KeyRepr::Shared(s) => s,
            // always whole UTF-8: the bytes were copied from a `str`
            KeyRepr::Inline { len, buf } => buf
                .get(..usize::from(*len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
        }
    }

    /// `true` if the text is `s` (without checking UTF-8 again).
    pub(crate) fn is(&self, s: &str) -> bool {
        match &self.0 {
            KeyRepr::Shared(k) => ***k == *s,
            KeyRepr::Inline { len, buf } => buf.get(..usize::from(*len)) == Some(s.as_bytes()),
        }
    }

    /// An inline key, if `k` fits.
    fn inline(k: &str) -> Option<Key> {
        let mut buf = [0; INLINE_KEY];
        buf.get_mut(..k.len())?.copy_from_slice(k.as_bytes());
        Some(Key(KeyRepr::Inline {
            len: u8::try_from(k.len()).ok()?,
            buf,
        }))
    }
}

impl From<&str> for Key {
    fn from(k: &str) -> Key {
        Key::inline(k).unwrap_or_else(|| Key(KeyRepr::Shared(Arc::new(k.into()))))
    }
}

impl std::ops::Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        match (&self.0, &other.0) {
            (KeyRepr::Shared(a), KeyRepr::Shared(b)) if Arc::ptr_eq(a, b) => true,
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The members of a [`Value::Object`]: `(key, value)` pairs in the server's order, repeated
/// keys kept (the legacy text protocol repeats node names, e.g. one `Process` per process).
///
/// Lookups ([`Map::get`], `map["key"]`) see the first member of that name;
/// [`Map::get_all`] sees every one. Two maps are equal when they hold equal members in the
/// same order.
///
/// The representation is private and compact: short keys are stored inline, longer keys of
/// a decoded reply are shared between the objects that repeat them, and a map holds no
/// spare capacity, so [`Map::push`] costs a
/// reallocation (build big maps with `collect()` or `Map::from(vec)`).
///
/// ```
/// use opensips_mi::{Map, Value};
///
/// let mut m: Map = [("b", 1), ("a", 2), ("b", 3)].into_iter().collect();
/// m.push("c", "x");
/// assert_eq!(m.len(), 4);
/// assert_eq!(m["b"], Value::Int(1));
/// assert_eq!(m.get_all("b").count(), 2);
/// assert_eq!(m.keys().collect::<Vec<_>>(), ["b", "a", "b", "c"]);
/// assert_eq!(Value::Object(m).to_string(), r#"{"b":1,"a":2,"b":3,"c":"x"}"#);
/// ```
#[derive(Clone, PartialEq, Default)]
pub struct Map {
    members: Box<[(Key, Value)]>,
}

static NULL: Value = Value::Null;

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// A map of members whose keys are already shared (the decoders).
    pub(crate) fn from_members(members: Vec<(Key, Value)>) -> Map {
        Map {
            members: members.into_boxed_slice(),
        }
    }

    /// The number of members (repeated keys counted each time).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// `true` without members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The value of the first member named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.members.iter().find(|(k, _)| k.is(key)).map(|(_, v)| v)
    }

    /// The value of the first member named `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.members
            .iter_mut()
            .find(|(k, _)| k.is(key))
            .map(|(_, v)| v)
    }

    /// The values of every member named `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl DoubleEndedIterator<Item = &'a Value> + 'a {
        self.members
            .iter()
            .filter(move |(k, _)| k.is(key))
            .map(|(_, v)| v)
    }

    /// `true` if a member is named `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The members in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.members.iter())
    }

    /// The members in order, values mutable.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut(self.members.iter_mut())
    }

    /// The keys in order (repeated keys each time).
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.members.iter().map(|(k, _)| &**k)
    }

    /// The values in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.members.iter().map(|(_, v)| v)
    }

    /// The first member, if any.
    pub fn first(&self) -> Option<(&str, &Value)> {
        self.members.first().map(|(k, v)| (&**k, v))
    }

    /// Appends a member, even if `key` is already there (as the legacy protocol does).
    pub fn push(&mut self, key: impl AsRef<str>, value: impl Into<Value>) {
        let mut members = std::mem::take(&mut self.members).into_vec();
        members.push((Key::from(key.as_ref()), value.into()));
        self.members = members.into_boxed_slice();
    }

    /// Sets the first member named `key` to `value` and returns its old value, or appends
    /// the member if there is none.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl Into<Value>) -> Option<Value> {
        match self.get_mut(key.as_ref()) {
            Some(v) => Some(std::mem::replace(v, value.into())),
            None => {
                self.push(key, value);
                None
            }
        }
    }

    /// Removes the first member named `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.members.iter().position(|(k, _)| k.is(key))?;
        let mut members = std::mem::take(&mut self.members).into_vec();
        let (_, v) = members.remove(i);
        self.members = members.into_boxed_slice();
        Some(v)
    }

    /// The members with their shared keys, for the crate's tree rewrites.
    pub(crate) fn into_members(self) -> Vec<(Key, Value)> {
        self.members.into_vec()
    }

    /// The members with their shared keys.
    pub(crate) fn members(&self) -> &[(Key, Value)] {
        &self.members
    }

    /// The members with their shared keys, values mutable (keys compared with
    /// [`Key::is`] need no UTF-8 check).
    pub(crate) fn members_mut(&mut self) -> &mut [(Key, Value)] {
        &mut self.members
    }

    /// [`Map::retain`] on the shared keys.
    pub(crate) fn retain_members(&mut self, mut keep: impl FnMut(&Key, &mut Value) -> bool) {
        let mut members = std::mem::take(&mut self.members).into_vec();
        members.retain_mut(|(k, v)| keep(k, v));
        self.members = members.into_boxed_slice();
    }

    /// Removes every member for which `keep` returns `false`, keeping the order of the rest.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Value) -> bool) {
        let mut members = std::mem::take(&mut self.members).into_vec();
        members.retain_mut(|(k, v)| keep(k, v));
        self.members = members.into_boxed_slice();
    }

    /// Test hook: the shared allocation of member `i`'s key (`None` when inline), to check
    /// that decoders share equal keys.
    #[cfg(test)]
    pub(crate) fn key_arc(&self, i: usize) -> Option<&Arc<Box<str>>> {
        match &self.members[i].0.0 {
            KeyRepr::Shared(a) => Some(a),
            KeyRepr::Inline { .. } => None,
        }
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Default for &Map {
    /// An empty map (for `value.as_object().unwrap_or_default()`).
    fn default() -> Self {
        static EMPTY: std::sync::LazyLock<Map> = std::sync::LazyLock::new(Map::new);
        &EMPTY
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;
    /// The first member named `key`; [`Value::Null`] when absent.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl<K: AsRef<str>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Map {
        Map::from_members(
            iter.into_iter()
                .map(|(k, v)| (Key::from(k.as_ref()), v.into()))
                .collect(),
        )
    }
}

impl From<Vec<(String, Value)>> for Map {
    fn from(members: Vec<(String, Value)>) -> Map {
        members.into_iter().collect()
    }
}

impl<const N: usize> From<[(&str, Value); N]> for Map {
    fn from(members: [(&str, Value); N]) -> Map {
        members.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a str, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = (&'a str, &'a mut Value);
    type IntoIter = IterMut<'a>;
    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        IntoIter(self.members.into_vec().into_iter())
    }
}

/// The members of a [`Map`] by reference, in order ([`Map::iter`]).
#[derive(Clone, Debug)]
pub struct Iter<'a>(std::slice::Iter<'a, (Key, Value)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (&**k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (&**k, v))
    }
}
impl ExactSizeIterator for Iter<'_> {}

/// The members of a [`Map`] with mutable values, in order ([`Map::iter_mut`]).
#[derive(Debug)]
pub struct IterMut<'a>(std::slice::IterMut<'a, (Key, Value)>);

impl<'a> Iterator for IterMut<'a> {
    type Item = (&'a str, &'a mut Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (&**k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
impl DoubleEndedIterator for IterMut<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (&**k, v))
    }
}
impl ExactSizeIterator for IterMut<'_> {}

/// The members of a [`Map`] by value, in order (`Map::into_iter`).
#[derive(Debug)]
pub struct IntoIter(std::vec::IntoIter<(Key, Value)>);

impl Iterator for IntoIter {
    type Item = (String, Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (String::from(&*k), v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}
impl DoubleEndedIterator for IntoIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (String::from(&*k), v))
    }
}
impl ExactSizeIterator for IntoIter {}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Map {
    /// A JSON object, keys in order, repeated keys kept.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(m) => Ok(m),
            other => Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Other(other.kind()),
                &"an object",
            )),
        }
    }
}

/// Shares equal long keys while one tree is built: every `"caller_route_set"` of a
/// 100 000-dialog `dlg_list` is one allocation (short keys are inline, nothing to share).
/// Bounded, so a reply of endless distinct keys costs no more than without it.
#[derive(Default)]
pub(crate) struct Keys {
    /// Made at the first long key: a reply of short keys only (most small replies) pays
    /// nothing for it.
    cache: Option<Box<KeyCache>>,
}

struct KeyCache {
    /// The last key seen per slot (by length and end bytes): a hit costs one comparison.
    recent: [Option<Key>; 64],
    seen: HashSet<Key, BuildHasherDefault<Fnv>>,
}

/// Keys longer than this are not shared (they are rarely repeated).
const MAX_SHARED_KEY: usize = 64;
/// At most this many distinct keys are remembered per tree.
const MAX_SHARED_KEYS: usize = 4096;

impl Keys {
    /// The shared key equal to `k`.
    pub(crate) fn key(&mut self, k: &str) -> Key {
        if let Some(key) = Key::inline(k) {
            return key;
        }
        let cache = self.cache.get_or_insert_with(|| {
            Box::new(KeyCache {
                recent: [const { None }; 64],
                seen: HashSet::default(),
            })
        });
        let bytes = k.as_bytes();
        let slot = match bytes {
            [] => 0,
            [first, .., last] => {
                (bytes.len() * 7 + usize::from(*first) * 3 + usize::from(*last)) % 64
            }
            [only] => (7 + usize::from(*only) * 4) % 64,
        };
        if let Some(recent) = &cache.recent[slot] {
            if recent.is(k) {
                return recent.clone();
            }
        }
        let key = match cache.seen.get(k) {
            Some(shared) => shared.clone(),
            None => {
                let key = Key::from(k);
                if k.len() <= MAX_SHARED_KEY && cache.seen.len() < MAX_SHARED_KEYS {
                    cache.seen.insert(key.clone());
                }
                key
            }
        };
        if k.len() <= MAX_SHARED_KEY {
            cache.recent[slot] = Some(key.clone());
        }
        key
    }
}

/// FNV-1a: short keys hash several times faster than with the default SipHash, and a tree's
/// keys come from one server (the table is bounded anyway).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}
