//! `uptime`, `version`, `ps` and statistics.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::de;
use super::{MetricNaming, NodeScrape, StatKinds, exposition};
use crate::Value;

/// `"3 [sec]"` → 3 s.
pub(super) fn parse_up_time(s: &str) -> Option<Duration> {
    s.trim()
        .trim_end_matches("[sec]")
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

/// `uptime`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawUptime")]
#[non_exhaustive]
pub struct Uptime {
    /// The server's clock, as it prints it (`Thu Nov 26 11:06:18 2026`).
    pub now: String,
    /// When it started, same format.
    pub up_since: String,
    /// How long it has been up.
    pub up_time: Duration,
}

#[derive(Deserialize)]
struct RawUptime {
    #[serde(rename = "Now")]
    now: String,
    #[serde(rename = "Up since")]
    up_since: String,
    #[serde(rename = "Up time", deserialize_with = "de::string_like")]
    up_time: String,
}

impl TryFrom<RawUptime> for Uptime {
    type Error = String;
    fn try_from(r: RawUptime) -> std::result::Result<Self, String> {
        let up_time =
            parse_up_time(&r.up_time).ok_or_else(|| format!("bad \"Up time\" {:?}", r.up_time))?;
        Ok(Uptime {
            now: r.now,
            up_since: r.up_since,
            up_time,
        })
    }
}

/// `version`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Version {
    /// `OpenSIPS (3.5.9 (x86_64/linux))`.
    #[serde(rename = "Server")]
    pub server: String,
}

impl Version {
    /// The release number, e.g. `3.5.9`.
    pub fn release(&self) -> Option<&str> {
        let inner = self.server.split_once('(')?.1;
        inner.split_whitespace().next()
    }
}

/// A process of `ps` or `log_level`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Process {
    /// The MI process id (`ps` only).
    #[serde(rename = "ID", default, deserialize_with = "de::opt_u32_like")]
    pub id: Option<u32>,
    /// The system pid.
    #[serde(rename = "PID", deserialize_with = "de::u32_like")]
    pub pid: u32,
    /// What it does (`attendant`, `MI FIFO`, `SIP receiver udp:127.0.0.1:5060 `).
    #[serde(rename = "Type", default)]
    pub kind: String,
    /// Its log level (`log_level` only).
    #[serde(rename = "Log level", default, deserialize_with = "de::opt_i32_like")]
    pub log_level: Option<i32>,
}

#[derive(Deserialize)]
pub(super) struct Processes {
    #[serde(rename = "Processes", default)]
    pub(super) list: Vec<Process>,
}

/// Legacy `Process::  ID=0 PID=… Type=…` nodes → `{"Processes":[…]}`.
pub(super) fn normalize_processes(v: Value) -> Value {
    if v.get("Processes").is_some() {
        return v;
    }
    let list: Vec<Value> = v
        .get_all("Process")
        .map(|p| super::as_v3(p.clone(), &["ID", "PID", "Log level"]))
        .collect();
    Value::Object(vec![("Processes".into(), Value::Array(list.into()))].into())
}

/// Statistics by full name (`group:name` → value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics(BTreeMap<String, i64>);

impl Statistics {
    /// A statistic by its full `group:name`.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.0.get(name).copied()
    }
    /// Every statistic, sorted by name.
    pub fn iter(&self) -> StatisticsIter<'_> {
        StatisticsIter(self.0.iter())
    }
    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// `true` if none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// These statistics of one server in the Prometheus text exposition format, named as
    /// the OpenSIPS `prometheus` module does by default (`opensips_group_name`): the same
    /// text as [`exposition`] with [`MetricNaming::default`] and no node label (use those
    /// for several nodes, another prefix or group mode).
    pub fn to_prometheus(&self, kinds: &StatKinds) -> String {
        exposition(
            &MetricNaming::default(),
            [NodeScrape::up(None, self, kinds)],
        )
    }
}

/// Statistics from `(name, value)` pairs (a later duplicate name wins), e.g. to render
/// numbers gathered elsewhere with [`exposition`](super::exposition) or
/// [`Statistics::to_prometheus`]:
///
/// ```
/// use opensips_mi::helpers::Statistics;
/// let stats: Statistics = [("core:rcv_requests", 42), ("dialog:active_dialogs", 3)].into_iter().collect();
/// assert_eq!(stats.get("core:rcv_requests"), Some(42));
/// assert_eq!(stats.len(), 2);
/// ```
impl<K: Into<String>> FromIterator<(K, i64)> for Statistics {
    fn from_iter<I: IntoIterator<Item = (K, i64)>>(iter: I) -> Self {
        Statistics(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl<K: Into<String>> Extend<(K, i64)> for Statistics {
    fn extend<I: IntoIterator<Item = (K, i64)>>(&mut self, iter: I) {
        self.0.extend(iter.into_iter().map(|(k, v)| (k.into(), v)));
    }
}

/// Every statistic by reference, sorted by name (as [`Statistics::iter`]).
impl<'a> IntoIterator for &'a Statistics {
    type Item = (&'a str, i64);
    type IntoIter = StatisticsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Every statistic by value, sorted by name.
impl IntoIterator for Statistics {
    type Item = (String, i64);
    type IntoIter = StatisticsIntoIter;
    fn into_iter(self) -> Self::IntoIter {
        StatisticsIntoIter(self.0.into_iter())
    }
}

/// The statistics of a [`Statistics`] by reference, `(name, value)` sorted by name.
#[derive(Clone, Debug)]
pub struct StatisticsIter<'a>(std::collections::btree_map::Iter<'a, String, i64>);

impl<'a> Iterator for StatisticsIter<'a> {
    type Item = (&'a str, i64);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.as_str(), *v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for StatisticsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k.as_str(), *v))
    }
}

impl ExactSizeIterator for StatisticsIter<'_> {}

impl std::iter::FusedIterator for StatisticsIter<'_> {}

/// The statistics of a [`Statistics`] by value, `(name, value)` sorted by name.
#[derive(Debug)]
pub struct StatisticsIntoIter(std::collections::btree_map::IntoIter<String, i64>);

impl Iterator for StatisticsIntoIter {
    type Item = (String, i64);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for StatisticsIntoIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for StatisticsIntoIter {}

impl std::iter::FusedIterator for StatisticsIntoIter {}

/// Legacy ≤ 1.11.2 unnamed `group:name = value` lines → an object.
pub(super) fn normalize_statistics(v: Value) -> Value {
    match v {
        Value::Array(lines) => Value::Object(
            lines
                .iter()
                .filter_map(|l| l.as_str()?.split_once(" = "))
                .map(|(k, v)| (k.trim().to_owned(), Value::from(v.trim())))
                .collect(),
        ),
        other => other,
    }
}

/// What a selector asks for: `all`, a group (`dialog:`), a full name (`core:rcv_requests`),
/// or a bare name (`rcv_requests`, in any group).
pub(super) fn selected(selectors: &[String], full: &str) -> bool {
    let (group, name) = full.split_once(':').unwrap_or(("", full));
    selectors.iter().any(|s| {
        s == "all"
            || s.strip_suffix(':').is_some_and(|g| g == group)
            || s == full
            || (!s.contains(':') && s == name)
    })
}
