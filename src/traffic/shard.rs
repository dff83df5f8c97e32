//! Sharded load: one scenario's traffic split between N generators (`run --shard I/N`), so
//! that the N shards together send exactly what one generator would, and their reports add up.
//!
//! The split is by arrival, not by time or number: shard I takes the arrivals k of every open
//! phase with k mod N = I (the same seeded schedule on every shard, so the union is the
//! single run's schedule, arrival for arrival), the virtual users u of every closed phase with
//! u mod N = I, and I's share of a message limit. Recipients are split the same way: a shard's
//! local recipient j of a segment is the segment's recipient j·N + I, so shards never write to
//! the same user; each shard has 1/N of the audience, of the hot users and of the rate, so the
//! messages per user, the pair rate and the unique users add up as in one run. A shard's k-th
//! message is the run's message k·N + I: numbers go round-robin and `{seq}` counts over the
//! whole run, as in one generator.

use serde::{Deserialize, Serialize};

/// The environment variable giving N when `--shard` is absent; the index comes from
/// [`INDEX_ENV`], which a Kubernetes Indexed Job sets in every pod.
pub const COUNT_ENV: &str = "WABASIM_SHARDS";
/// The pod's index in a Kubernetes Indexed Job.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// Part `index` of `count` (0 ≤ index < count): a shard of a run's load, or a partition of a
/// world's portfolios (`serve --partition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Upper bound on N: far beyond any real deployment, low enough that a typo (`0/20000000`)
/// is caught instead of a shard sending almost nothing.
pub const MAX_SHARDS: u32 = 10_000;

impl Shard {
    /// The whole load: shard 0 of 1.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "the number of parts must be between 1 and {MAX_SHARDS} (got {count})"
            ));
        }
        if index >= count {
            return Err(format!(
                "index {index} is out of range: {count} parts are numbered 0 to {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?}: write I/N, e.g. 0/4 (part 0 of 4)");
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let i: u32 = i.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n).map_err(|e| format!("{text:?}: {e}"))
    }

    /// The shard a run takes: `--shard` when given; otherwise, when [`COUNT_ENV`] is set, its
    /// value with the index from [`INDEX_ENV`]; otherwise the whole load. `index_env` alone is
    /// an error: a pod of an Indexed Job that does not say how many shards there are would
    /// send the whole load N times over.
    pub fn resolve(
        flag: Option<&str>,
        index_env: Option<&str>,
        count_env: Option<&str>,
    ) -> Result<Shard, String> {
        if let Some(f) = flag {
            return Shard::parse(f).map_err(|e| format!("--shard: {e}"));
        }
        match (index_env, count_env) {
            (_, Some(n)) => {
                let n: u32 = n.trim().parse().map_err(|_| {
                    format!("{COUNT_ENV}={n:?}: not a number of shards (a whole number ≥ 1)")
                })?;
                let Some(i) = index_env else {
                    return Err(format!(
                        "{COUNT_ENV}={n} but {INDEX_ENV} is not set: set it (Kubernetes Indexed Jobs do) or pass --shard I/N"
                    ));
                };
                let i: u32 = i.trim().parse().map_err(|_| {
                    format!("{INDEX_ENV}={i:?}: not a shard index (a whole number ≥ 0)")
                })?;
                Shard::new(i, n).map_err(|e| format!("{INDEX_ENV}={i}, {COUNT_ENV}={n}: {e}"))
            }
            (Some(i), None) => Err(format!(
                "{INDEX_ENV}={i} is set (a Kubernetes Indexed Job) but {COUNT_ENV} is not: set it to the job's completions, or pass --shard I/N (--shard 0/1 for the whole load)"
            )),
            (None, None) => Ok(Shard::WHOLE),
        }
    }

    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// Whether item `k` (an arrival, a virtual user) is this shard's.
    pub fn owns(self, k: u64) -> bool {
        k % u64::from(self.count) == u64::from(self.index)
    }

    /// How many of the items `0..total` are this shard's.
    pub fn share(self, total: u64) -> u64 {
        let (n, i) = (u64::from(self.count), u64::from(self.index));
        total / n + u64::from(total % n > i)
    }

    /// The run-wide index of this shard's local item `local`.
    pub fn global(self, local: u64) -> u64 {
        local
            .saturating_mul(u64::from(self.count))
            .saturating_add(u64::from(self.index))
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses a start time (`run --start-at`): Unix seconds (`1767225600`, `1767225600.5`) or
/// RFC 3339 (`2026-12-04T15:00:00Z`, `2026-12-04T16:00:00.250+01:00`). Returns Unix ms.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = |why: &str| {
        format!(
            "{text:?}: {why}; write Unix seconds (1767225600) or RFC 3339 (2026-12-04T15:00:00Z)"
        )
    };
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = t.parse().map_err(|_| bad("not a number"))?;
        return Ok((secs * 1000.0).round() as u64);
    }
    let b = t.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        t.get(from..from + len)
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("not a date and time"))
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad("not a date and time"));
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return Err(bad("a field is out of range"));
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(bad("no digits after the decimal point"));
        }
        let frac = &t[start..i.min(start + 3)];
        millis = frac.parse::<i64>().unwrap_or(0) * 10i64.pow(3 - frac.len() as u32);
    }
    let offset_s = match &t[i..] {
        "Z" | "z" => 0,
        o if o.len() == 6 && matches!(&o[..1], "+" | "-") && &o[3..4] == ":" => {
            let sign = if &o[..1] == "-" { -1 } else { 1 };
            sign * (num(i + 1, 2)? * 3600 + num(i + 4, 2)? * 60)
        }
        _ => return Err(bad("no time zone (end with Z or ±HH:MM)")),
    };
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    u64::try_from(secs * 1000 + millis).map_err(|_| bad("before 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_with_the_reason() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        assert_eq!(Shard::parse(" 0 / 1 "), Ok(Shard::WHOLE));
        for (bad, why) in [
            ("4/4", "out of range"),
            ("0/0", "between 1 and"),
            ("1", "write I/N"),
            ("-1/2", "write I/N"),
            ("a/2", "write I/N"),
            ("0/99999", "between 1 and"),
        ] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn resolves_from_the_flag_then_the_environment() {
        let s = |i, n| Shard { index: i, count: n };
        assert_eq!(Shard::resolve(None, None, None), Ok(Shard::WHOLE));
        assert_eq!(
            Shard::resolve(Some("2/3"), Some("0"), Some("9")),
            Ok(s(2, 3))
        );
        assert_eq!(Shard::resolve(None, Some("2"), Some("3")), Ok(s(2, 3)));
        let e = Shard::resolve(None, Some("2"), None).unwrap_err();
        assert!(e.contains("WABASIM_SHARDS is not"), "{e}");
        let e = Shard::resolve(None, None, Some("3")).unwrap_err();
        assert!(e.contains("JOB_COMPLETION_INDEX is not set"), "{e}");
        let e = Shard::resolve(None, Some("x"), Some("3")).unwrap_err();
        assert!(e.contains("JOB_COMPLETION_INDEX=\"x\""), "{e}");
        let e = Shard::resolve(None, Some("3"), Some("3")).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        let e = Shard::resolve(None, Some("0"), Some("three")).unwrap_err();
        assert!(e.contains("WABASIM_SHARDS=\"three\""), "{e}");
        let e = Shard::resolve(Some("3"), None, None).unwrap_err();
        assert!(e.starts_with("--shard:"), "{e}");
    }

    #[test]
    fn start_times_parse() {
        assert_eq!(parse_time("1767225600"), Ok(1_767_225_600_000));
        assert_eq!(parse_time("1767225600.25"), Ok(1_767_225_600_250));
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Ok(1_767_225_600_000));
        assert_eq!(
            parse_time("2026-01-01t01:00:00.5+01:00"),
            Ok(1_767_225_600_500)
        );
        assert_eq!(
            parse_time("2025-12-31T19:00:00-05:00"),
            Ok(1_767_225_600_000)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2000-02-29T12:00:00Z"), Ok(951_825_600_000));
        for (bad, why) in [
            ("tomorrow", "not a date and time"),
            ("2026-01-01T00:00:00", "not a date and time"),
            ("2026-01-01T00:00:00+0100", "no time zone"),
            ("2026-13-01T00:00:00Z", "out of range"),
            ("2026-01-01T00:00:00.Z", "no digits"),
            ("1.2.3", "not a number"),
        ] {
            let e = parse_time(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn shares_partition_the_items() {
        for n in 1..6u32 {
            for total in 0..20u64 {
                let shards: Vec<Shard> = (0..n).map(|i| Shard::new(i, n).unwrap()).collect();
                let sum: u64 = shards.iter().map(|s| s.share(total)).sum();
                assert_eq!(sum, total);
                for s in &shards {
                    let owned = (0..total).filter(|&k| s.owns(k)).count() as u64;
                    assert_eq!(owned, s.share(total));
                    for local in 0..s.share(total) {
                        assert!(s.owns(s.global(local)) && s.global(local) < total);
                    }
                }
            }
        }
    }
}
