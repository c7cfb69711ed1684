//! Lenient field deserializers: OpenSIPS 3.x sends numbers, the legacy MI sends the same
//! values as text, and a few fields are numbers in one case and strings in another.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

struct NumberLike<T>(std::marker::PhantomData<T>);

macro_rules! number_like {
    ($name:ident, $opt:ident, $t:ty) => {
        /// A number, or a string holding one (`""` is an error).
        pub(crate) fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
            d.deserialize_any(NumberLike::<$t>(std::marker::PhantomData))
        }

        /// Like the plain variant; `null`, `""` and `.` are `None`.
        #[allow(dead_code)]
        pub(crate) fn $opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$t>, D::Error> {
            struct Opt;
            impl<'de> Visitor<'de> for Opt {
                type Value = Option<$t>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a number, a numeric string or nothing")
                }
                fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(None)
                }
                fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(None)
                }
                fn visit_some<D2: Deserializer<'de>>(
                    self,
                    d: D2,
                ) -> Result<Self::Value, D2::Error> {
                    $opt(d)
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                    if v.trim().is_empty() || v.trim() == "." {
                        return Ok(None);
                    }
                    NumberLike::<$t>(std::marker::PhantomData)
                        .visit_str(v)
                        .map(Some)
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                    NumberLike::<$t>(std::marker::PhantomData)
                        .visit_u64(v)
                        .map(Some)
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                    NumberLike::<$t>(std::marker::PhantomData)
                        .visit_i64(v)
                        .map(Some)
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                    NumberLike::<$t>(std::marker::PhantomData)
                        .visit_f64(v)
                        .map(Some)
                }
            }
            d.deserialize_any(Opt)
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

/// Like [`string_like`]; `null`, `""` and `.` are `None`.
pub(crate) fn opt_string_like<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = string_like(d)?;
    Ok((!s.is_empty() && s != ".").then_some(s))
}
