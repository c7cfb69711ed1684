//! Lenient field deserializers: OpenSIPS 3.x sends numbers, the legacy MI sends the same
//! values as text, and a few fields are numbers in one case and strings in another.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

#[derive(Clone, Copy)]
struct NumberLike<T>(std::marker::PhantomData<T>);

macro_rules! number_like {
    ($name:ident, $opt:ident, $t:ty) => {
        /// A number, or a string holding one (`""` is an error).
        pub(crate) fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
            d.deserialize_any(NumberLike::<$t>(std::marker::PhantomData))
        }

        /// Like the plain variant, but lenient: `null`, `""`, `.` and anything that is
        /// not a number in range (2.4 XML-RPC writes an empty attribute as the text
        /// `value`) are `None`; one odd optional field never fails a whole reply.
        #[allow(dead_code)]
        pub(crate) fn $opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$t>, D::Error> {
            let read = NumberLike::<$t>(std::marker::PhantomData);
            lenient(d, |s| match s {
                Scalar::U(v) => read.visit_u64::<de::value::Error>(v).ok(),
                Scalar::I(v) => read.visit_i64::<de::value::Error>(v).ok(),
                Scalar::F(v) => read.visit_f64::<de::value::Error>(v).ok(),
                Scalar::S(v) => read.visit_str::<de::value::Error>(v).ok(),
                _ => None,
            })
        }

        impl<'de> Visitor<'de> for NumberLike<$t> {
            type Value = $t;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a numeric string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<$t, E> {
                <$t>::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<$t, E> {
                <$t>::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<$t, E> {
                if v.fract() != 0.0 || !v.is_finite() {
                    return Err(E::custom(format!("{v} is not an integer")));
                }
                self.visit_i64(v as i64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<$t, E> {
                let t = v.trim();
                // 1.x prints some numbers in hex (flags=0x0, methods=0x1F7F)
                let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                    Some(hex) => i128::from_str_radix(hex, 16).ok(),
                    None => t.parse::<i128>().ok(),
                };
                parsed
                    .and_then(|n| <$t>::try_from(n).ok())
                    .ok_or_else(|| E::custom(format!("{v:?} is not a number")))
            }
        }
    };
}

number_like!(u64_like, opt_u64_like, u64);
number_like!(i64_like, opt_i64_like, i64);
number_like!(u32_like, opt_u32_like, u32);
number_like!(i32_like, opt_i32_like, i32);

/// A string, or a number written as text (ids: `"ID"` is a string in 3.x, a number in some
/// replies).
pub(crate) fn string_like<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct S;
    impl Visitor<'_> for S {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(if v.fract() == 0.0 && v.abs() < 9.0e15 {
                (v as i64).to_string()
            } else {
                v.to_string()
            })
        }
        fn visit_unit<E: de::Error>(self) -> Result<String, E> {
            Ok(String::new())
        }
    }
    d.deserialize_any(S)
}

/// Like [`string_like`], but lenient: `null`, `""` and `.` are `None`, and so is a value
/// that is no text at all (an object, a list, a boolean).
pub(crate) fn opt_string_like<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    lenient(d, |s| match s {
        Scalar::S(v) => Some(v.to_owned()),
        Scalar::U(v) => Some(v.to_string()),
        Scalar::I(v) => Some(v.to_string()),
        Scalar::F(v) => string_like(serde::de::value::F64Deserializer::<de::value::Error>::new(
            v,
        ))
        .ok(),
        _ => None,
    })
}

/// Any value, reduced to what an optional scalar field can use (text is borrowed).
pub(crate) enum Scalar<'a> {
    U(u64),
    I(i64),
    F(f64),
    S(&'a str),
    /// A boolean, an object, a list, bytes: not a scalar these fields take.
    Other,
}

/// Hands each kind of value to `read` in place; `null`, `""` and `.` are `None`.
struct Lenient<F>(F);

impl<'de, T, F: FnOnce(Scalar<'_>) -> Option<T>> Visitor<'de> for Lenient<F> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<T>, E> {
        Ok((self.0)(Scalar::Other))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        Ok((self.0)(Scalar::U(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        Ok((self.0)(Scalar::I(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<T>, E> {
        Ok((self.0)(Scalar::F(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        let t = v.trim();
        Ok(if t.is_empty() || t == "." {
            None
        } else {
            (self.0)(Scalar::S(v))
        })
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Option<T>, E> {
        Ok((self.0)(Scalar::Other))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok((self.0)(Scalar::Other))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok((self.0)(Scalar::Other))
    }
}

/// Reads any value and keeps what `read` makes of it: an optional field that cannot be
/// read is `None` instead of failing the whole reply. Only malformed input is an error.
pub(crate) fn lenient<'de, D: Deserializer<'de>, T>(
    d: D,
    read: impl FnOnce(Scalar<'_>) -> Option<T>,
) -> Result<Option<T>, D::Error> {
    d.deserialize_any(Lenient(read))
}

/// A list kept at exactly its length: a reply's lists are read once and kept, and most
/// hold one element (an AOR's contacts), where a growing `Vec` would keep room for four.
pub(crate) fn exact_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    struct Exact<T>(std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for Exact<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let Some(first) = seq.next_element()? else {
                return Ok(Vec::new());
            };
            let Some(second) = seq.next_element()? else {
                return Ok(vec![first]);
            };
            let mut all = vec![first, second];
            all.reserve(seq.size_hint().unwrap_or(2).min(4096));
            while let Some(next) = seq.next_element()? {
                all.push(next);
            }
            all.shrink_to_fit();
            Ok(all)
        }
    }
    d.deserialize_seq(Exact(std::marker::PhantomData))
}
