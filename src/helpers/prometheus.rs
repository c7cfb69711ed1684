//! Statistics in the Prometheus text exposition format, for node_exporter's textfile
//! collector or a push gateway.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Statistics;

/// How a statistic behaves, from `list_statistics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatKind {
    /// `incremental`: only grows (until a reset): a Prometheus counter.
    Counter,
    /// `non-incremental`: goes up and down: a Prometheus gauge.
    Gauge,
}

/// Statistic kinds by full `group:name`, as [`MiCommands::list_statistics`] gives them.
///
/// [`MiCommands::list_statistics`]: crate::MiCommands::list_statistics
pub type StatKinds = BTreeMap<String, StatKind>;

/// The Prometheus metric name of `group:name`: `opensips_group_name`, every character
/// outside `[a-zA-Z0-9_]` replaced by `_`.
pub fn metric_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len() + 9);
    out.push_str("opensips_");
    for c in full.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    out
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The text exposition of the statistics of several nodes: one family per statistic
/// (`# TYPE` counter, gauge, or untyped when the kind is unknown), each sample labelled
/// with its node when one is given. Families are sorted by name; within a family the
/// nodes keep the order given.
///
/// ```
/// use opensips_mi::helpers::{StatKind, StatKinds, Statistics, prometheus_text};
/// let mut stats = Statistics::default();
/// stats.0.insert("core:rcv_requests".into(), 42);
/// let kinds = StatKinds::from([("core:rcv_requests".to_owned(), StatKind::Counter)]);
/// assert_eq!(
///     prometheus_text([(Some("udp://10.0.0.1:8809"), &stats, &kinds)]),
///     "# TYPE opensips_core_rcv_requests counter\n\
///      opensips_core_rcv_requests{node=\"udp://10.0.0.1:8809\"} 42\n"
/// );
/// ```
pub fn prometheus_text<'a>(
    nodes: impl IntoIterator<Item = (Option<&'a str>, &'a Statistics, &'a StatKinds)>,
) -> String {
    // metric name -> (kind, samples)
    let mut families: BTreeMap<String, (Option<StatKind>, Vec<String>)> = BTreeMap::new();
    for (node, stats, kinds) in nodes {
        let labels = node
            .map(|n| format!("{{node=\"{}\"}}", escape_label(n)))
            .unwrap_or_default();
        for (full, value) in &stats.0 {
            let name = metric_name(full);
            let family = families.entry(name.clone()).or_default();
            family.0 = family.0.or_else(|| kinds.get(full).copied());
            family.1.push(format!("{name}{labels} {value}\n"));
        }
    }
    let mut out = String::new();
    for (name, (kind, samples)) in families {
        let kind = match kind {
            Some(StatKind::Counter) => "counter",
            Some(StatKind::Gauge) => "gauge",
            None => "untyped",
        };
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in samples {
            out.push_str(&s);
        }
    }
    out
}

impl Statistics {
    /// These statistics in the Prometheus text exposition format (see
    /// [`prometheus_text`] for several nodes).
    pub fn to_prometheus(&self, kinds: &StatKinds) -> String {
        prometheus_text([(None, self, kinds)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        assert_eq!(
            metric_name("core:rcv_requests"),
            "opensips_core_rcv_requests"
        );
        assert_eq!(
            metric_name("shmem:used-size.x"),
            "opensips_shmem_used_size_x"
        );
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
