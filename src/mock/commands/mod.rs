//! The mock's JSON-RPC engine: request validation, recipe matching and the built-in
//! commands, with the reply shapes and error texts of real OpenSIPS 3.5.9 / 4.0.1.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod clock;
mod core;
mod registrar;
mod state;

pub(crate) use self::clock::*;
use self::core::*;
use self::registrar::*;
pub(crate) use self::state::*;
use super::{Flavor, Handler, UacReply, UacRequest};
use crate::{Params, ServerError, Value};

/// A parameter's type in a recipe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Ty {
    Str,
    Int,
    Array,
}

/// A built-in command: 3.x flat name, 4.0 canonical name, recipes, and its handler.
pub(crate) struct Builtin {
    pub(crate) flat: &'static str,
    pub(crate) canonical: &'static str,
    pub(crate) recipes: &'static [&'static [(&'static str, Ty)]],
    pub(crate) named_only: bool,
    pub(crate) run: fn(&mut State, &Args) -> Outcome,
}

/// What a handler produced.
pub(crate) enum Outcome {
    Done(Result<Value, ServerError>),
    /// An async command (t_uac_dlg): the reply comes after `delay`.
    Async {
        delay: Duration,
        result: Result<Value, ServerError>,
    },
}

impl From<Result<Value, ServerError>> for Outcome {
    fn from(r: Result<Value, ServerError>) -> Self {
        Outcome::Done(r)
    }
}

/// Bound parameters of one call.
pub(crate) struct Args(BTreeMap<&'static str, Value>);

impl Args {
    fn str(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| match v {
            Value::String(s) => s.to_string(),
            other => other.as_i64().map(|i| i.to_string()).unwrap_or_default(),
        })
    }
    fn int(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(|v| match v {
            Value::Float(f) => Some(*f as i64),
            other => other.as_i64(),
        })
    }
    fn array(&self, name: &str) -> Vec<String> {
        self.0
            .get(name)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

const S: Ty = Ty::Str;
const I: Ty = Ty::Int;
const A: Ty = Ty::Array;

const fn b(
    flat: &'static str,
    canonical: &'static str,
    recipes: &'static [&'static [(&'static str, Ty)]],
    named_only: bool,
    run: fn(&mut State, &Args) -> Outcome,
) -> Builtin {
    Builtin {
        flat,
        canonical,
        recipes,
        named_only,
        run,
    }
}

/// In 4.0.1's registration order (it decides the order of `-32001` candidates). The core
/// pseudo-modules `tcp`, `status_report`, `evi`, `blacklists` and the `cluster_sync`
/// commands are here mostly for their names; their answers are simple approximations.
#[rustfmt::skip]
pub(crate) static BUILTINS: &[Builtin] = &[
    b("get_statistics", "statistics:get", &[&[("statistics", A)]], false, get_statistics),
    b("list_statistics", "statistics:list", &[&[], &[("statistics", A)]], false, list_statistics),
    b("reset_statistics", "statistics:reset", &[&[("statistics", A)]], false, reset_statistics),
    b("reset_all_statistics", "statistics:reset_all", &[&[]], false, reset_all_statistics),
    b("uptime", "core:uptime", &[&[]], false, uptime),
    b("version", "core:version", &[&[], &[("revision", S)]], false, version),
    b("pwd", "core:pwd", &[&[]], false, pwd),
    b("arg", "core:arg", &[&[]], false, arg),
    b("which", "core:which", &[&[], &[("command", S)]], false, which),
    b("ps", "core:ps", &[&[]], false, ps),
    b("log_level", "core:log_level", &[&[], &[("level", I)], &[("level", I), ("pid", I)]], false, log_level),
    b("help", "core:help", &[&[("mi_cmd", S)]], false, help),
    b("list_tcp_conns", "tcp:list", &[&[]], false, list_tcp_conns),
    b("cache_store", "cache:store", &[&[("system", S), ("attr", S), ("value", S)], &[("system", S), ("attr", S), ("value", S), ("expire", I)]], false, cache_store),
    b("cache_fetch", "cache:fetch", &[&[("system", S), ("attr", S)]], false, cache_fetch),
    b("cache_remove", "cache:remove", &[&[("system", S), ("attr", S)]], false, cache_remove),
    b("sr_get_status", "status_report:get", &[&[("group", S)], &[("group", S), ("identifier", S)]], false, sr_get_status),
    b("events_list", "evi:list", &[&[]], false, events_list),
    b("event_subscribe", "evi:subscribe", &[&[("event", S), ("socket", S)], &[("event", S), ("socket", S), ("expire", I)]], false, event_subscribe),
    b("subscribers_list", "evi:subscribers", &[&[], &[("event", S)], &[("event", S), ("socket", S)]], false, subscribers_list),
    b("list_blacklists", "blacklists:list", &[&[]], false, list_blacklists),
    b("t_uac_dlg", "tm:uac_dlg", &[
        &[("method", S), ("ruri", S), ("headers", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("next_hop", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("socket", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("body", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("next_hop", S), ("socket", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("next_hop", S), ("body", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("socket", S), ("body", S)],
        &[("method", S), ("ruri", S), ("headers", S), ("next_hop", S), ("socket", S), ("body", S)],
    ], true, t_uac_dlg),
    b("ul_rm", "usrloc:rm", &[&[("table_name", S), ("aor", S)]], false, ul_rm),
    b("ul_rm_contact", "usrloc:rm_contact", &[&[("table_name", S), ("aor", S), ("contact", S)]], false, ul_rm_contact),
    b("ul_dump", "usrloc:dump", &[&[], &[("brief", I)]], false, ul_dump),
    b("ul_add", "usrloc:add", &[&[("table_name", S), ("aor", S), ("contact", S), ("expires", I), ("q", S), ("flags", I), ("cflags", I), ("methods", I)]], false, ul_add),
    b("ul_show_contact", "usrloc:show_contact", &[&[("table_name", S), ("aor", S)]], false, ul_show_contact),
    b("ul_cluster_sync", "usrloc:cluster_sync", &[&[]], false, no_clustering),
    b("dlg_list", "dialog:list", DLG_LIST_RECIPES, true, dlg_list),
    b("dlg_list_ctx", "dialog:list_ctx", DLG_LIST_RECIPES, true, dlg_list_ctx),
    b("dlg_end_dlg", "dialog:end_dlg", &[&[("dialog_id", S)], &[("dialog_id", S), ("extra_hdrs", S)]], false, dlg_end_dlg),
    b("dlg_cluster_sync", "dialog:cluster_sync", &[&[]], false, no_clustering),
    b("profile_get_size", "dialog:profile_get_size", &[&[("profile", S)], &[("profile", S), ("value", S)]], false, profile_get_size),
    b("list_all_profiles", "dialog:list_all_profiles", &[&[]], false, list_all_profiles),
];

const DLG_LIST_RECIPES: &[&[(&str, Ty)]] = &[
    &[],
    &[("callid", S)],
    &[("callid", S), ("from_tag", S)],
    &[("index", I), ("counter", I)],
];

/// Resolves a method name the way the server's flavor does.
pub(crate) enum Resolved<'a> {
    Builtin(&'a Builtin),
    Custom(Handler),
    NotFound,
    Ambiguous(Vec<&'static str>),
}

pub(crate) fn resolve<'a>(state: &State, method: &str) -> Resolved<'a> {
    if let Some((_, h)) = state.handlers.iter().find(|(n, _)| n == method) {
        return Resolved::Custom(h.clone());
    }
    if let Some(b) = BUILTINS.iter().find(|b| b.flat == method) {
        return Resolved::Builtin(b);
    }
    if state.flavor == Flavor::V4 {
        if let Some(b) = BUILTINS.iter().find(|b| b.canonical == method) {
            return Resolved::Builtin(b);
        }
        if !method.contains(':') {
            let hits: Vec<&Builtin> = BUILTINS
                .iter()
                .filter(|b| b.canonical.split_once(':').map(|(_, l)| l) == Some(method))
                .collect();
            match hits.len() {
                0 => {}
                1 => return Resolved::Builtin(hits[0]),
                _ => return Resolved::Ambiguous(hits.iter().map(|b| b.canonical).collect()),
            }
        }
    }
    Resolved::NotFound
}

fn invalid_params(data: impl Into<String>) -> ServerError {
    ServerError::new(-32602, "Invalid params").with_data(data.into())
}

/// Matches `params` against the recipes and checks types (`mi/mi.c`, `mi/item.c`, 3.4+).
pub(crate) fn bind(b: &Builtin, params: &Params) -> Result<Args, ServerError> {
    let recipe: &[(&'static str, Ty)] = match params {
        Params::None => b
            .recipes
            .iter()
            .find(|r| r.is_empty())
            .copied()
            .ok_or_else(|| invalid_params("Too few or too many parameters"))?,
        Params::Positional(v) if v.is_empty() => {
            b.recipes
                .iter()
                .find(|r| r.is_empty())
                .copied()
                .ok_or_else(|| invalid_params("Too few or too many parameters"))?
        }
        Params::Named(v) if v.is_empty() => b
            .recipes
            .iter()
            .find(|r| r.is_empty())
            .copied()
            .ok_or_else(|| invalid_params("Too few or too many parameters"))?,
        Params::Positional(v) => {
            if b.named_only {
                return Err(invalid_params("Command only supports named parameters"));
            }
            let hits: Vec<_> = b.recipes.iter().filter(|r| r.len() == v.len()).collect();
            match hits.len() {
                0 => return Err(invalid_params("Too few or too many parameters")),
                1 => hits[0],
                _ => {
                    return Err(invalid_params(
                        "Ambiguous call, use named parameters instead",
                    ));
                }
            }
        }
        Params::Named(v) => {
            let same_count: Vec<_> = b.recipes.iter().filter(|r| r.len() == v.len()).collect();
            if same_count.is_empty() {
                return Err(invalid_params("Too few or too many parameters"));
            }
            same_count
                .into_iter()
                .find(|r| r.iter().all(|(name, _)| v.iter().any(|(k, _)| k == name)))
                .ok_or_else(|| invalid_params("Named parameters do not match"))?
        }
    };
    let mut args = BTreeMap::new();
    for (i, (name, ty)) in recipe.iter().enumerate() {
        let Some(v) = params.get(i, name) else {
            continue;
        };
        let ok = match (ty, v) {
            (Ty::Str, Value::String(_) | Value::Int(_) | Value::Float(_)) => true,
            (Ty::Int, Value::Int(_) | Value::Float(_)) => true,
            (Ty::Int, Value::String(s)) => s.trim().parse::<i64>().is_ok(),
            (Ty::Array, Value::Array(a)) if a.is_empty() => {
                return Err(invalid_params(format!("Empty array in parameter '{name}'")));
            }
            (Ty::Array, Value::Array(a)) => a
                .iter()
                .all(|e| matches!(e, Value::String(_) | Value::Int(_) | Value::Float(_))),
            _ => false,
        };
        if !ok {
            return Err(invalid_params(format!("Bad type for parameter '{name}'")));
        }
        args.insert(*name, v.clone());
    }
    Ok(Args(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats() {
        assert_eq!(ctime(1_795_691_178), "Thu Nov 26 11:06:18 2026");
        assert_eq!(datetime(1_795_691_176), "2026-11-26 11:06:16");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn recipe_matching_like_the_server() {
        let b = BUILTINS
            .iter()
            .find(|b| b.flat == "get_statistics")
            .unwrap();
        let e = bind(b, &Params::None).err().unwrap();
        assert_eq!(e.data, Some(Value::from("Too few or too many parameters")));
        let e = bind(b, &Params::named([("statistics", "x")]))
            .err()
            .unwrap();
        assert_eq!(
            e.data,
            Some(Value::from("Bad type for parameter 'statistics'"))
        );
        assert!(bind(b, &Params::positional([["dialog:"]])).is_ok());
        let t = BUILTINS.iter().find(|b| b.flat == "t_uac_dlg").unwrap();
        let e = bind(t, &Params::positional(["a", "b", "c"])).err().unwrap();
        assert_eq!(
            e.data,
            Some(Value::from("Command only supports named parameters"))
        );
        let u = BUILTINS
            .iter()
            .find(|b| b.flat == "ul_show_contact")
            .unwrap();
        let e = bind(u, &Params::named([("table", "location"), ("aor", "alice")]))
            .err()
            .unwrap();
        assert_eq!(e.data, Some(Value::from("Named parameters do not match")));
        let d = BUILTINS.iter().find(|b| b.flat == "ul_dump").unwrap();
        let e = bind(d, &Params::named([("brief", "yes")])).err().unwrap();
        assert_eq!(e.data, Some(Value::from("Bad type for parameter 'brief'")));
    }

    #[test]
    fn group_name_selects_nothing() {
        let s = State::new(Flavor::V3);
        assert!(s.select_stats(&["core:rcv_requests".into()]).is_empty());
        assert_eq!(
            s.select_stats(&["rcv_requests".into()])[0].0,
            "core:rcv_requests"
        );
        assert!(s.select_stats(&["dialog:".into()]).len() > 5);
    }
}
