//! dialog: `dlg_list` and `dlg_list_ctx`.

use std::sync::LazyLock;

use serde::Deserialize;

use super::de;
use crate::value::Key;
use crate::{Array, Map, Value};

/// The state of a dialog, with its number kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DialogState {
    /// 1: created, no reply yet.
    Unconfirmed,
    /// 2: provisional reply.
    Early,
    /// 3: answered, no ACK yet.
    ConfirmedNoAck,
    /// 4: established.
    Confirmed,
    /// 5: ended.
    Deleted,
    /// Any other number.
    Other(i64),
}

impl DialogState {
    /// The number OpenSIPS uses.
    pub fn code(self) -> i64 {
        match self {
            DialogState::Unconfirmed => 1,
            DialogState::Early => 2,
            DialogState::ConfirmedNoAck => 3,
            DialogState::Confirmed => 4,
            DialogState::Deleted => 5,
            DialogState::Other(n) => n,
        }
    }
}

impl From<i64> for DialogState {
    fn from(n: i64) -> Self {
        match n {
            1 => DialogState::Unconfirmed,
            2 => DialogState::Early,
            3 => DialogState::ConfirmedNoAck,
            4 => DialogState::Confirmed,
            5 => DialogState::Deleted,
            n => DialogState::Other(n),
        }
    }
}

impl<'de> Deserialize<'de> for DialogState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        de::i64_like(d).map(DialogState::from)
    }
}

/// The callee side of a dialog.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Callee {
    /// To tag.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_tag: Option<String>,
    /// Contact.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_contact: Option<String>,
    /// The caller's CSeq seen on this leg.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_cseq: Option<String>,
    /// Route set.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_route_set: Option<String>,
    /// Local socket.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_bind_addr: Option<String>,
    /// SDP.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_sdp: Option<String>,
}

/// A dialog of `dlg_list`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Dialog {
    /// Dialog id (`h_entry.h_id` in 3.x, a 64-bit number in 2.x).
    #[serde(rename = "ID", deserialize_with = "de::string_like")]
    pub id: String,
    /// Database id (3.x).
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub db_id: Option<String>,
    /// State, with the raw number.
    pub state: DialogState,
    /// Script flags.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub user_flags: Option<String>,
    /// Start (UNIX time).
    #[serde(default, deserialize_with = "de::u64_like")]
    pub timestart: u64,
    /// End of lifetime (UNIX time; 0 once ended).
    #[serde(default, deserialize_with = "de::u64_like")]
    pub timeout: u64,
    /// Call-ID.
    #[serde(default)]
    pub callid: String,
    /// From URI.
    #[serde(default)]
    pub from_uri: String,
    /// To URI.
    #[serde(default)]
    pub to_uri: String,
    /// From tag.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_tag: Option<String>,
    /// Caller's Contact.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_contact: Option<String>,
    /// Callee CSeq.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub callee_cseq: Option<String>,
    /// Caller's route set.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_route_set: Option<String>,
    /// Caller's socket.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_bind_addr: Option<String>,
    /// Caller's SDP.
    #[serde(default, deserialize_with = "de::opt_string_like")]
    pub caller_sdp: Option<String>,
    /// The callee legs.
    #[serde(rename = "CALLEES", default)]
    pub callees: Vec<Callee>,
    /// `dlg_list_ctx`: profiles and variables.
    #[serde(default)]
    pub context: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct Dialogs {
    #[serde(rename = "Dialogs", default)]
    pub(super) list: Vec<Dialog>,
    #[serde(rename = "Dialog", default)]
    pub(super) one: Option<Dialog>,
}

/// A legacy `dialog::  ID=…` node → the 3.x object, moving the node's strings.
pub(super) fn legacy_dialog(node: Value) -> Value {
    let members = match node {
        Value::Object(members) => members,
        _ => Map::new(),
    };
    // the keys this adds, shared by every dialog
    static ID: LazyLock<Key> = LazyLock::new(|| "ID".into());
    static PROFILES: LazyLock<Key> = LazyLock::new(|| "profiles".into());
    let members = members.into_members();
    // the first of ID, dialog_id, hash (in that order of preference) is the ID
    let id_at = ["ID", "dialog_id", "hash"]
        .iter()
        .find_map(|key| members.iter().position(|(k, _)| k.is(key)));
    let dropped = |k: &Key| k.is("value") || k.is("ID") || k.is("dialog_id") || k.is("hash");
    // exactly as many members as the object keeps: no reallocation when it is boxed
    let kept = members.iter().filter(|(k, _)| !dropped(k)).count();
    let mut o = Vec::with_capacity(kept + 1);
    o.push((ID.clone(), Value::Null));
    for (at, (k, v)) in members.into_iter().enumerate() {
        if dropped(&k) {
            if id_at == Some(at) {
                if let Some((_, id)) = o.first_mut() {
                    *id = v;
                }
            }
            continue;
        }
        if k.is("CALLEES") {
            let callees = match v {
                Value::Object(m) => {
                    let mut callees = m.into_members();
                    callees.retain(|(k, _)| k.is("callee"));
                    callees
                        .into_iter()
                        .map(|(_, c)| super::as_v3(c, &[]))
                        .collect()
                }
                _ => Array::new(),
            };
            o.push((k, Value::Array(callees)));
        } else if k.is("context") {
            let profiles = match v {
                Value::Object(m) => m
                    .into_members()
                    .into_iter()
                    .find(|(k, _)| &**k == "profiles"),
                _ => None,
            };
            let profiles = match profiles {
                Some((_, Value::Object(p))) => p
                    .into_members()
                    .into_iter()
                    .filter(|(k, _)| &**k != "value")
                    .map(|member| Value::Object(Map::from_members(vec![member])))
                    .collect(),
                _ => Array::new(),
            };
            o.push((
                k,
                Value::Object(Map::from_members(vec![(
                    PROFILES.clone(),
                    Value::Array(profiles),
                )])),
            ));
        } else {
            o.push((k, v));
        }
    }
    super::as_v3(
        Value::Object(Map::from_members(o)),
        &["state", "timestart", "timeout"],
    )
}

pub(super) fn normalize_dialogs(v: Value) -> Value {
    if v.get("Dialogs").is_some() || v.get("Dialog").is_some() {
        return v;
    }
    let list: Vec<Value> = match v {
        Value::Object(members) => members
            .into_iter()
            .filter(|(k, _)| k == "dialog")
            .map(|(_, d)| legacy_dialog(d))
            .collect(),
        _ => Vec::new(),
    };
    Value::Object(vec![("Dialogs".into(), Value::Array(list.into()))].into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first version (cloning), as the reference.
    fn reference(node: &Value) -> Value {
        let mut o = Vec::new();
        let id = node
            .get("ID")
            .or_else(|| node.get("dialog_id"))
            .or_else(|| node.get("hash"))
            .cloned();
        o.push(("ID".to_owned(), id.unwrap_or_default()));
        for (k, v) in node.as_object().unwrap_or_default() {
            match k {
                "value" | "ID" | "dialog_id" | "hash" => {}
                "CALLEES" => o.push((
                    k.to_owned(),
                    Value::Array(
                        v.get_all("callee")
                            .map(|c| super::super::as_v3(c.clone(), &[]))
                            .collect(),
                    ),
                )),
                "context" => {
                    let profiles = v
                        .get("profiles")
                        .and_then(Value::as_object)
                        .unwrap_or_default()
                        .iter()
                        .filter(|(k, _)| *k != "value")
                        .map(|(k, v)| Value::Object([(k, v.clone())].into()))
                        .collect();
                    o.push((
                        k.to_owned(),
                        Value::Object(vec![("profiles".into(), Value::Array(profiles))].into()),
                    ));
                }
                _ => o.push((k.to_owned(), v.clone())),
            }
        }
        super::super::as_v3(Value::Object(o.into()), &["state", "timestart", "timeout"])
    }

    #[test]
    fn moving_gives_what_cloning_gave() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/2x/fifo");
        let mut n = 0;
        for name in ["14_dlg_list", "15_dlg_list_ctx"] {
            let bytes = std::fs::read(dir.join(format!("{name}.reply.txt"))).unwrap();
            let v = crate::legacy::decode_reply(&bytes).unwrap().value;
            for d in v.get_all("dialog") {
                assert_eq!(legacy_dialog(d.clone()), reference(d), "{name}");
                n += 1;
            }
        }
        assert!(n >= 4);
        let odd = crate::legacy::decode_reply(
            b"200 OK\ndialog:: leaf\ndialog::  hash=1:2 dialog_id=3\n\tID:: 9\n\tCALLEES:: x\n\tcontext:: \n\t\tprofiles:: p\n\tcontext:: \n\t\tprofiles:: \n\t\t\tvalue:: v\n\t\t\ta:: 1\n\t\tprofiles:: \n\t\t\tb:: 2\n\tstate:: 4\n\tstate:: x\n",
        )
        .unwrap()
        .value;
        for d in odd.get_all("dialog") {
            assert_eq!(legacy_dialog(d.clone()), reference(d));
        }
    }
}
