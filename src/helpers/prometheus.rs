//! Statistics in the Prometheus text exposition format, for node_exporter's textfile
//! collector or a push gateway.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Statistics;

/// How a statistic behaves, from `list_statistics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatKind {
    /// `incremental`: only grows (until a reset): a Prometheus counter.
    Counter,
    /// `non-incremental`: goes up and down: a Prometheus gauge.
    Gauge,
}

/// Statistic kinds by full `group:name`, as [`MiCommands::list_statistics`] gives them.
///
/// Empty (the [`Default`]) for a server without `list_statistics` (1.x): [`exposition`]
/// then uses [`fallback_kind`]. Kinds gathered elsewhere collect from `(name, kind)` pairs:
///
/// ```
/// use opensips_mi::helpers::{StatKind, StatKinds};
/// let kinds: StatKinds = [("core:rcv_requests", StatKind::Counter)].into_iter().collect();
/// assert_eq!(kinds.get("core:rcv_requests"), Some(StatKind::Counter));
/// assert_eq!(kinds.get("dialog:active_dialogs"), None);
/// assert_eq!(kinds.len(), 1);
/// ```
///
/// [`MiCommands::list_statistics`]: crate::MiCommands::list_statistics
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatKinds(BTreeMap<String, StatKind>);

impl StatKinds {
    /// The kind of a statistic by its full `group:name`.
    pub fn get(&self, name: &str) -> Option<StatKind> {
        self.0.get(name).copied()
    }
    /// Every statistic's kind, sorted by name.
    pub fn iter(&self) -> StatKindsIter<'_> {
        StatKindsIter(self.0.iter())
    }
    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// `true` if none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Kinds from `(name, kind)` pairs (a later duplicate name wins).
impl<K: Into<String>> FromIterator<(K, StatKind)> for StatKinds {
    fn from_iter<I: IntoIterator<Item = (K, StatKind)>>(iter: I) -> Self {
        StatKinds(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl<K: Into<String>> Extend<(K, StatKind)> for StatKinds {
    fn extend<I: IntoIterator<Item = (K, StatKind)>>(&mut self, iter: I) {
        self.0.extend(iter.into_iter().map(|(k, v)| (k.into(), v)));
    }
}

/// Every statistic's kind by reference, sorted by name (as [`StatKinds::iter`]).
impl<'a> IntoIterator for &'a StatKinds {
    type Item = (&'a str, StatKind);
    type IntoIter = StatKindsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The kinds of a [`StatKinds`], `(name, kind)` sorted by name.
#[derive(Clone, Debug)]
pub struct StatKindsIter<'a>(std::collections::btree_map::Iter<'a, String, StatKind>);

impl<'a> Iterator for StatKindsIter<'a> {
    type Item = (&'a str, StatKind);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.as_str(), *v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for StatKindsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k.as_str(), *v))
    }
}

impl ExactSizeIterator for StatKindsIter<'_> {}

impl std::iter::FusedIterator for StatKindsIter<'_> {}

/// Where a statistic's group goes in its metric, as the OpenSIPS `prometheus` module's
/// `group_mode` parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupMode {
    /// `0`: no group (`opensips_rcv_requests`). Two groups with a statistic of the same
    /// name (which the module would print twice) get the group label instead, so that the
    /// output stays valid.
    None,
    /// `1`: the group in the name (`opensips_core_rcv_requests`), as `--output prometheus`
    /// and VoIPGRID's `opensips_exporter` name them.
    #[default]
    Name,
    /// `2`: the group as a label (`opensips_rcv_requests{group="core"}`).
    Label,
}

impl std::str::FromStr for GroupMode {
    type Err = crate::Error;
    /// `0`, `1` or `2`, as in the module's configuration.
    fn from_str(s: &str) -> crate::Result<GroupMode> {
        match s.trim() {
            "0" => Ok(GroupMode::None),
            "1" => Ok(GroupMode::Name),
            "2" => Ok(GroupMode::Label),
            other => Err(crate::Error::invalid_config(format!(
                "group mode {other:?}: 0 (no group), 1 (group in the name) or 2 (group label)"
            ))),
        }
    }
}

/// How statistics become Prometheus metrics: the naming of the OpenSIPS `prometheus`
/// module (3.x and later), so that a dashboard built on its `/metrics` reads the same
/// series from any generation.
///
/// A metric is `<prefix>_<stat>` (group mode 0), `<prefix>_<group>_<stat>` (1, the
/// default here) or `<prefix>_<stat>{<group_label>="<group>"}` (2), every character of the
/// statistic outside `[a-zA-Z0-9_]` replaced by `_`, as the module does (it keeps `:`,
/// reserved for recording rules by Prometheus: here it becomes `_` too, which only touches
/// 1.x's per-listener `load:udp:127.0.0.1:5060-load`). The group is the text before the
/// first `:` of `group:name`.
///
/// ```
/// use opensips_mi::helpers::{GroupMode, MetricNaming};
/// let n = MetricNaming::default();
/// assert_eq!(n.name("core:rcv_requests"), "opensips_core_rcv_requests");
/// assert_eq!(n.name("load:udp:127.0.0.1:5068-load"), "opensips_load_udp_127_0_0_1_5068_load");
/// let n = MetricNaming::new("sbc", GroupMode::Label, "module")?;
/// assert_eq!(n.name("core:rcv_requests"), "sbc_rcv_requests");
/// # Ok::<(), opensips_mi::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricNaming {
    prefix: String,
    group_mode: GroupMode,
    group_label: String,
}

impl Default for MetricNaming {
    /// Prefix `opensips`, the group in the name, group label `group`.
    fn default() -> Self {
        MetricNaming {
            prefix: "opensips".into(),
            group_mode: GroupMode::Name,
            group_label: "group".into(),
        }
    }
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

impl MetricNaming {
    /// A naming: `prefix` may be empty (names then start with `_`, as the module's), else
    /// it must be a metric name itself; `group_label` is the label of group mode 2 (and of
    /// the collisions of mode 0), a label name other than `node`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) for a prefix or label that
    /// Prometheus would not accept.
    pub fn new(
        prefix: &str,
        group_mode: GroupMode,
        group_label: &str,
    ) -> crate::Result<MetricNaming> {
        let prefix_ok = prefix.is_empty()
            || (prefix.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !prefix_ok {
            return Err(crate::Error::invalid_config(format!(
                "metric prefix {prefix:?}: letters, digits and '_', not starting with a digit"
            )));
        }
        if !is_label_name(group_label) || group_label == "node" {
            return Err(crate::Error::invalid_config(format!(
                "group label {group_label:?}: a label name (letters, digits, '_'), not `node`"
            )));
        }
        Ok(MetricNaming {
            prefix: prefix.to_owned(),
            group_mode,
            group_label: group_label.to_owned(),
        })
    }

    /// The group mode.
    pub fn group_mode(&self) -> GroupMode {
        self.group_mode
    }

    /// The metric name of a statistic's full `group:name` (without the group label).
    pub fn name(&self, full: &str) -> String {
        let (group, stat) = split_group(full);
        let mut out = String::with_capacity(self.prefix.len() + full.len() + 2);
        out.push_str(&self.prefix);
        out.push('_');
        if self.group_mode == GroupMode::Name && !group.is_empty() {
            push_sanitized(&mut out, group);
            out.push('_');
        }
        push_sanitized(&mut out, stat);
        out
    }
}

/// `group:name` split at the first `:` (1.x names may hold more).
fn split_group(full: &str) -> (&str, &str) {
    full.split_once(':').unwrap_or(("", full))
}

fn push_sanitized(out: &mut String, s: &str) {
    out.extend(s.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
}

/// Statistics known to go up and down, by group or by `group:name`, for servers without
/// `list_statistics` (1.x). From what 2.4 to 4.0 answer to it.
const GAUGE_GROUPS: &[&str] = &["shmem", "pkmem", "load", "net"];
const GAUGE_STATS: &[&str] = &[
    "core:timestamp",
    "tm:inuse_transactions",
    "usrloc:registered_users",
    "registrar:max_expires",
    "registrar:max_contacts",
    "registrar:default_expire",
    "dialog:active_dialogs",
    "dialog:early_dialogs",
];

/// The kind of a statistic when the server cannot tell (OpenSIPS 1.x has no
/// `list_statistics`): a gauge for the statistics that 2.4 to 4.0 declare
/// `non-incremental` — the `shmem`, `pkmem`, `load` and `net` groups,
/// `core:timestamp`, `tm:inuse_transactions`, `dialog:active_dialogs` and
/// `early_dialogs`, `usrloc:registered_users` and the per-domain `usrloc:<domain>-users` /
/// `-contacts`, `registrar:max_expires`, `max_contacts` and `default_expire` — and a
/// counter for every other one, as OpenSIPS itself declares a statistic incremental
/// unless told otherwise.
///
/// ```
/// use opensips_mi::helpers::{StatKind, fallback_kind};
/// assert_eq!(fallback_kind("core:rcv_requests"), StatKind::Counter);
/// assert_eq!(fallback_kind("dialog:active_dialogs"), StatKind::Gauge);
/// assert_eq!(fallback_kind("usrloc:location-contacts"), StatKind::Gauge);
/// assert_eq!(fallback_kind("load:udp:127.0.0.1:5068-load"), StatKind::Gauge);
/// ```
pub fn fallback_kind(full: &str) -> StatKind {
    let (group, stat) = split_group(full);
    let per_domain = group == "usrloc" && (stat.ends_with("-users") || stat.ends_with("-contacts"));
    if GAUGE_GROUPS.contains(&group) || GAUGE_STATS.contains(&full) || per_domain {
        StatKind::Gauge
    } else {
        StatKind::Counter
    }
}

/// One node's part of an [`exposition`]: its statistics, or that it could not be asked.
#[derive(Clone, Debug)]
#[must_use]
pub struct NodeScrape<'a> {
    node: Option<&'a str>,
    stats: Option<(&'a Statistics, &'a StatKinds)>,
    duration: Option<std::time::Duration>,
}

impl<'a> NodeScrape<'a> {
    /// A node that answered. `kinds` may be empty (no `list_statistics`): a statistic it
    /// does not list gets [`fallback_kind`]. `node` labels its samples (`None` for a single
    /// node).
    pub fn up(node: Option<&'a str>, stats: &'a Statistics, kinds: &'a StatKinds) -> Self {
        NodeScrape {
            node,
            stats: Some((stats, kinds)),
            duration: None,
        }
    }

    /// A node that could not be asked: `opensips_up 0`, no statistics.
    pub fn down(node: Option<&'a str>) -> Self {
        NodeScrape {
            node,
            stats: None,
            duration: None,
        }
    }

    /// How long asking it took: `opensips_scrape_duration_seconds`.
    pub fn duration(mut self, d: std::time::Duration) -> Self {
        self.duration = Some(d);
        self
    }
}

#[derive(Default)]
struct Family {
    kind: Option<StatKind>,
    help: String,
    groups: std::collections::BTreeSet<String>,
    /// (node, group, value)
    samples: Vec<(Option<String>, String, i64)>,
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// The text exposition of several nodes' statistics, named by `naming`, as an exporter
/// serves it: `opensips_up` (1 or 0) and, when measured,
/// `opensips_scrape_duration_seconds` per node, then one family per statistic with
/// `# HELP` and `# TYPE` (the node's `list_statistics`, else [`fallback_kind`]), each
/// sample labelled with its node when one is given. Families are sorted by name; within a
/// family the nodes keep the order given. The output always parses: a name that two
/// statistics of one node map to keeps the first.
///
/// ```
/// use opensips_mi::helpers::{MetricNaming, NodeScrape, StatKinds, Statistics, exposition};
/// let stats = Statistics::from_iter([("dialog:active_dialogs", 3)]);
/// let no_kinds = StatKinds::default(); // a 1.x server: no list_statistics
/// let text = exposition(
///     &MetricNaming::default(),
///     [NodeScrape::up(Some("edge1"), &stats, &no_kinds), NodeScrape::down(Some("edge2"))],
/// );
/// assert!(text.contains("opensips_up{node=\"edge1\"} 1\nopensips_up{node=\"edge2\"} 0\n"));
/// assert!(text.contains("# TYPE opensips_dialog_active_dialogs gauge\n\
///                        opensips_dialog_active_dialogs{node=\"edge1\"} 3\n"));
/// ```
pub fn exposition<'a>(
    naming: &MetricNaming,
    nodes: impl IntoIterator<Item = NodeScrape<'a>>,
) -> String {
    let nodes: Vec<NodeScrape<'a>> = nodes.into_iter().collect();
    let mut out = String::new();
    out.push_str(
        "# HELP opensips_up Whether the node's statistics could be read over its MI (1) or not (0).\n\
         # TYPE opensips_up gauge\n",
    );
    for n in &nodes {
        let node: Vec<(&str, &str)> = n.node.map(|v| ("node", v)).into_iter().collect();
        let _ = writeln!(
            out,
            "opensips_up{} {}",
            labels(&node),
            u8::from(n.stats.is_some())
        );
    }
    if nodes.iter().any(|n| n.duration.is_some()) {
        out.push_str(
            "# HELP opensips_scrape_duration_seconds How long reading the node's statistics took.\n\
             # TYPE opensips_scrape_duration_seconds gauge\n",
        );
        for n in &nodes {
            if let Some(d) = n.duration {
                let node: Vec<(&str, &str)> = n.node.map(|v| ("node", v)).into_iter().collect();
                let _ = writeln!(
                    out,
                    "opensips_scrape_duration_seconds{} {:.6}",
                    labels(&node),
                    d.as_secs_f64()
                );
            }
        }
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for n in &nodes {
        let Some((stats, kinds)) = n.stats else {
            continue;
        };
        for (full, value) in stats {
            let name = naming.name(full);
            let (group, _) = split_group(full);
            let family = families.entry(name).or_default();
            let node = n.node.map(str::to_owned);
            // the same series twice (two names of one node that sanitize alike): keep the first
            if family.samples.iter().any(|(nd, g, _)| {
                *nd == node && (g == group || naming.group_mode == GroupMode::Name)
            }) {
                continue;
            }
            if family.kind.is_none() {
                family.kind = Some(kinds.get(full).unwrap_or_else(|| fallback_kind(full)));
                family.help = full.to_owned();
            }
            family.groups.insert(group.to_owned());
            family.samples.push((node, group.to_owned(), value));
        }
    }
    for (name, family) in families {
        let kind = match family.kind {
            Some(StatKind::Gauge) => "gauge",
            _ => "counter",
        };
        let with_group = match naming.group_mode {
            GroupMode::Label => true,
            GroupMode::None => family.groups.len() > 1,
            GroupMode::Name => false,
        };
        let help = if naming.group_mode == GroupMode::Name || family.groups.len() <= 1 {
            family.help.clone()
        } else {
            split_group(&family.help).1.to_owned()
        };
        let _ = writeln!(
            out,
            "# HELP {name} OpenSIPS statistic {}",
            escape_help(&help)
        );
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (node, group, value) in &family.samples {
            let mut pairs: Vec<(&str, &str)> = Vec::new();
            if let Some(n) = node {
                pairs.push(("node", n));
            }
            if with_group {
                pairs.push((naming.group_label.as_str(), group));
            }
            let _ = writeln!(out, "{name}{} {value}", labels(&pairs));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        let n = MetricNaming::default();
        assert_eq!(n.name("core:rcv_requests"), "opensips_core_rcv_requests");
        assert_eq!(n.name("shmem:used-size.x"), "opensips_shmem_used_size_x");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
