//! Command verification: send a command only if the server has it.

use crate::{Cmd, Connection, ConnectionLike, Error, Params, Result};

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `names` to `name` (comparing 4.0 `module:command` names by their local
/// part too), if close enough to be a likely typo.
pub(crate) fn suggest(name: &str, names: &[String]) -> Option<String> {
    let name_l = name.to_ascii_lowercase();
    names
        .iter()
        .map(|n| {
            let local = n.split_once(':').map_or(n.as_str(), |(_, l)| l);
            let d = distance(&name_l, &n.to_ascii_lowercase())
                .min(distance(&name_l, &local.to_ascii_lowercase()));
            (d, n)
        })
        .filter(|(d, _)| *d <= (name.chars().count() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.clone())
}

/// Whether `conn`'s server has the MI command `name`, asked now (no cache): on 3.x/4.x
/// `which` for that command, which understands 4.0 `module:command` names and the old
/// names kept as aliases; on 1.x/2.x (and a server without that recipe) the name is looked
/// up in the `which` list ([`ConnectionLike::command_names`]).
pub(crate) fn ask_exists<C: ConnectionLike + ?Sized>(conn: &C, name: &str) -> Result<bool> {
    if conn.wire_protocol()? == crate::Protocol::Legacy {
        return Ok(conn.command_names()?.iter().any(|n| n == name));
    }
    let probe = Cmd::with_params("which", Params::named([("command", name)]));
    match conn.execute(&probe) {
        Ok(_) => Ok(true),
        Err(Error::Command(e)) if e.code == 404 => Ok(false),
        // a server without the `which command` recipe: use the list
        Err(Error::Rpc(_)) => Ok(conn.command_names()?.iter().any(|n| n == name)),
        Err(e) => Err(e),
    }
}

/// `Ok` if `conn`'s server has the command `name` ([`ConnectionLike::command_exists`]),
/// else [`Error::UnknownCommand`] with a did-you-mean suggestion. The check of
/// [`Cmd::verified`] on every [`ConnectionLike`], and [`Connection::verify`].
pub(crate) fn check<C: ConnectionLike + ?Sized>(conn: &C, name: &str) -> Result<()> {
    if conn.command_exists(name)? {
        return Ok(());
    }
    // A listing that fails (timeout, not running) is that error, not "unknown".
    let mut names = conn.command_names()?;
    // 4.0 lists only `module:command`: suggest from the old names kept as aliases too.
    if names.iter().any(|n| n.contains(':')) {
        let aliases = crate::helpers::aliases::V4_ALIASES
            .iter()
            .filter(|(_, canonical)| names.iter().any(|n| n == canonical))
            .map(|(alias, _)| (*alias).to_owned())
            .collect::<Vec<_>>();
        names.extend(aliases);
    }
    let suggestion = suggest(name, &names);
    Err(Error::UnknownCommand {
        name: name.to_owned(),
        suggestion,
    })
}

impl Connection {
    /// Checks that the server has the MI command `name`, once per connection (the answer
    /// is cached). On 3.x/4.x it asks `which` for that command, which understands 4.0
    /// `module:command` names and the old names kept as aliases; on 1.x/2.x it looks the
    /// name up in the `which` list.
    ///
    /// ```
    /// # #[cfg(feature = "mock")] {
    /// use opensips_mi::{Connection, Error};
    /// let server = opensips_mi::mock::MockServer::start()?;
    /// let conn = Connection::open(&server.udp_url().unwrap())?;
    /// conn.verify("ul_dump")?;
    /// match conn.verify("ul_dupm") {
    ///     Err(Error::UnknownCommand { suggestion, .. }) => assert_eq!(suggestion.as_deref(), Some("ul_dump")),
    ///     other => panic!("{other:?}"),
    /// }
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownCommand`] with a did-you-mean suggestion; transport errors.
    pub fn verify(&self, name: &str) -> Result<()> {
        check(self, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let names: Vec<String> = [
            "ul_dump",
            "ul_show_contact",
            "usrloc:dump",
            "statistics:get",
            "uptime",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(suggest("ul_dupm", &names).as_deref(), Some("ul_dump"));
        assert_eq!(suggest("uptim", &names).as_deref(), Some("uptime"));
        assert_eq!(
            suggest("statistics:gett", &names).as_deref(),
            Some("statistics:get")
        );
        assert_eq!(suggest("completely_different", &names), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
