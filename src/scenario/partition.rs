//! Which `serve --partition I/N` instance owns each business portfolio: by a stable hash of the
//! business id, or by an explicit list (`--partition-file FILE`). `serve` keeps its partition's
//! portfolios and `partition-map` writes the router's map from the same [`Partitioning`], so
//! the instances and the router cannot disagree.
//!
//! The file has one line per partition: its index, a colon, and its business portfolio ids
//! (separated by spaces or commas). `#` starts a comment.
//!
//! ```text
//! # the big client alone on partition 0, the others on 1
//! 0: 200000000000001
//! 1: 200000000000002, 200000000000003
//! ```
//!
//! Every business of the scenario must be listed exactly once, and every partition must own
//! at least one: a portfolio listed twice would be served twice (two sets of limits for one
//! portfolio), and a missing one by nobody.

use super::{partition_of, Scenario};
use std::collections::BTreeMap;
use std::path::Path;

/// How portfolios are assigned to partitions.
#[derive(Clone, Debug, PartialEq)]
pub enum Partitioning {
    /// [`partition_of`]: FNV-1a of the business id's decimal text, modulo `count`.
    Hash { count: u32 },
    /// From a partition file: business id → partition.
    Listed {
        count: u32,
        owners: BTreeMap<String, u32>,
    },
}

impl Partitioning {
    /// How many partitions.
    pub fn count(&self) -> u32 {
        match self {
            Partitioning::Hash { count } | Partitioning::Listed { count, .. } => *count,
        }
    }

    /// The partition owning `business_id`; `None` for a business a partition file does not
    /// list (which [`Partitioning::from_file`] refuses for the scenario it was read against).
    pub fn owner(&self, business_id: &str) -> Option<u32> {
        match self {
            Partitioning::Hash { count } => Some(partition_of(business_id, *count)),
            Partitioning::Listed { owners, .. } => owners.get(business_id).copied(),
        }
    }

    /// Reads a partition file (the module's format) for `scenario`'s world. `flag` names the
    /// option in messages. Errors name the flag, the file and the line.
    pub fn from_file(flag: &str, path: &Path, scenario: &Scenario) -> Result<Partitioning, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
        Partitioning::parse(&text, scenario).map_err(|e| format!("{flag} {}{e}", path.display()))
    }

    /// Parses a partition file's text; errors start with `:LINE: ` or `: ` (whole file), to
    /// follow the file's name.
    pub fn parse(text: &str, scenario: &Scenario) -> Result<Partitioning, String> {
        let businesses: Vec<String> = scenario
            .world()
            .businesses
            .iter()
            .map(|b| b.id.to_string())
            .collect();
        let mut owners: BTreeMap<String, (u32, usize)> = BTreeMap::new();
        let mut partitions: BTreeMap<u32, usize> = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let (index, ids) = content.split_once(':').ok_or_else(|| {
                format!(":{line}: '{content}' is not 'INDEX: BUSINESS_ID ...' (e.g. '0: 200000000000001')")
            })?;
            let index: u32 = index.trim().parse().map_err(|_| {
                format!(
                    ":{line}: '{}' is not a partition index (0, 1, ...)",
                    index.trim()
                )
            })?;
            if index >= crate::traffic::shard::MAX_SHARDS {
                return Err(format!(
                    ":{line}: partition {index}: at most {} partitions",
                    crate::traffic::shard::MAX_SHARDS
                ));
            }
            if let Some(first) = partitions.insert(index, line) {
                return Err(format!(
                    ":{line}: partition {index} is listed twice (also line {first}): list all its portfolios on one line"
                ));
            }
            for id in ids.split([',', ' ', '\t']).filter(|s| !s.is_empty()) {
                if !businesses.iter().any(|b| b == id) {
                    return Err(format!(
                        ":{line}: {id} is not a business portfolio of the scenario (its businesses: {})",
                        businesses.join(", ")
                    ));
                }
                if let Some((other, at)) = owners.insert(id.to_string(), (index, line)) {
                    return Err(format!(
                        ":{line}: business {id} is listed for partition {index} and already for partition {other} (line {at}): a portfolio is served by one partition"
                    ));
                }
            }
        }
        let count = match partitions.keys().next_back() {
            Some(last) => last + 1,
            None => {
                return Err(
                    ": lists no partition (one line per partition: 'INDEX: BUSINESS_ID ...')"
                        .into(),
                )
            }
        };
        if let Some(gap) = (0..count).find(|i| !partitions.contains_key(i)) {
            return Err(format!(
                ": partition {gap} is missing (the file lists partitions up to {}; number them from 0 without gaps)",
                count - 1
            ));
        }
        for (index, line) in &partitions {
            if !owners.values().any(|(p, _)| p == index) {
                return Err(format!(
                    ":{line}: partition {index} owns no business portfolio: an instance with none would serve nothing"
                ));
            }
        }
        let missing: Vec<&str> = businesses
            .iter()
            .filter(|b| !owners.contains_key(*b))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                ": business {} of the scenario is in no partition: list every business once",
                missing.join(", ")
            ));
        }
        Ok(Partitioning::Listed {
            count,
            owners: owners.into_iter().map(|(id, (p, _))| (id, p)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Scenario {
        let mut text = String::from("seed = 1\n");
        for i in 1..=3 {
            text.push_str(&format!(
                "[[businesses]]\nid = \"20000000000000{i}\"\nname = \"B{i}\"\ntokens = [\"t{i}\"]\n[[businesses.wabas]]\nid = \"20100000000000{i}\"\n[[businesses.wabas.phone_numbers]]\nid = \"20200000000000{i}\"\ndisplay_phone_number = \"+62 812-0000-00{i}0\"\nverified_name = \"B{i}\"\n"
            ));
        }
        Scenario::parse(&text, "three.toml").unwrap()
    }

    #[test]
    fn a_listed_assignment_overrides_the_hash() {
        let s = three();
        let p = Partitioning::parse(
            "# comment\n\n1: 200000000000001\n0: 200000000000002, 200000000000003 # the rest\n",
            &s,
        )
        .unwrap();
        assert_eq!(p.count(), 2);
        assert_eq!(p.owner("200000000000001"), Some(1));
        assert_eq!(p.owner("200000000000002"), Some(0));
        assert_eq!(p.owner("200000000000003"), Some(0));
        assert_eq!(p.owner("999"), None);
        // The hash puts the first business on 0: the list decided.
        assert_eq!(partition_of("200000000000001", 2), 0);
        let h = Partitioning::Hash { count: 2 };
        assert_eq!(h.owner("200000000000001"), Some(0));
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let s = three();
        let all = "200000000000001 200000000000002 200000000000003";
        let cases = [
            ("0 200000000000001\n", ":1: '0 200000000000001' is not 'INDEX: BUSINESS_ID"),
            ("x: 200000000000001\n", ":1: 'x' is not a partition index"),
            (
                "0: 200000000000001 200000000000002\n1: 200000000000002 200000000000003\n",
                ":2: business 200000000000002 is listed for partition 1 and already for partition 0 (line 1)",
            ),
            (
                "0: 200000000000001\n1: 200000000000002\n",
                ": business 200000000000003 of the scenario is in no partition",
            ),
            (
                &format!("0: {all}\n1:\n"),
                ":2: partition 1 owns no business portfolio",
            ),
            (
                &format!("0: {all} 123\n"),
                ":1: 123 is not a business portfolio of the scenario",
            ),
            (
                "0: 200000000000001\n2: 200000000000002 200000000000003\n",
                ": partition 1 is missing",
            ),
            (
                "0: 200000000000001\n0: 200000000000002 200000000000003\n",
                ":2: partition 0 is listed twice (also line 1)",
            ),
            ("# nothing\n", ": lists no partition"),
        ];
        for (text, want) in cases {
            let err = Partitioning::parse(text, &s).unwrap_err();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
        assert!(Partitioning::parse(&format!("0: {all}\n"), &s).is_ok());
    }
}
