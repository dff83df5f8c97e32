//! `wabasim merge`: one report from the reports of runs driven in parallel (the shards of
//! `run --shard I/N`, or whole runs on several machines), judged by the scenario's thresholds
//! on the merged counts and histograms, with the exit codes of `run`.
//!
//! This is an I/O edge: it reads the reports, refuses to mix what does not add up (schema
//! versions, scenarios, seeds, an incomplete or duplicated set of shards), merges with
//! [`crate::load::report::merge`] (histograms add exactly), evaluates, prints and writes.

use super::{say, Failure, Outcome};
use crate::load::report::{evaluate, merge, Report, SCHEMA_VERSION};
use crate::scenario::Scenario;
use crate::traffic::plan::LoadPlan;
use crate::traffic::thresholds::{parse_check, Check};
use std::path::{Path, PathBuf};

/// Arguments of `wabasim merge`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct MergeArgs {
    /// The JSON reports of `run` to merge (every shard of a sharded run).
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Judge the merged report by this scenario's `[thresholds]` (it must be the scenario the
    /// reports ran, apart from its thresholds). Default: the checks recorded in the reports.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Write the merged JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also render the merged report as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write JUnit XML of the merged report's thresholds, for CI (as `run --junit`).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary of the merged report for a CI job page.
    #[arg(long, value_name = "FILE")]
    pub summary_md: Option<PathBuf>,
}

/// Runs `wabasim merge`: 2 when a report cannot be read or the reports do not belong
/// together, 3 when the output cannot be written, otherwise the merged run's verdict (0, 1,
/// 4 or 130, as `run`).
pub fn main(args: &MergeArgs) -> Outcome {
    let reports = read_reports(&args.reports).map_err(Failure::Usage)?;
    let checks = match &args.scenario {
        Some(path) => scenario_checks(path, &reports).map_err(Failure::Usage)?,
        None => recorded_checks(&reports).map_err(Failure::Usage)?,
    };
    let merged = merge_checked(&reports, &checks).map_err(Failure::Usage)?;
    super::run::write_outputs(
        &merged,
        args.out.as_deref(),
        args.junit.as_deref(),
        args.summary_md.as_deref(),
    )?;
    if let Some(html) = &args.html {
        let page = crate::render::run_html(&merged);
        super::write_file(html, page.as_bytes())?;
        say(format_args!("HTML report written to {}\n", html.display()));
    }
    Ok(merged.exit_code())
}

/// Reads each report; the file name leads any error. The schema version is checked before the
/// rest, so a report of another version says so instead of naming a field it lacks.
pub fn read_reports(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Report)>, String> {
    paths
        .iter()
        .map(|p| {
            let name = p.display();
            let bytes = std::fs::read(p).map_err(|e| format!("{name}: {e}"))?;
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| format!("{name}: not a JSON report: {e}"))?;
            if v.get("kind").and_then(|k| k.as_str()) == Some("simulation") {
                return Err(format!(
                    "{name}: a `simulate` report; merge adds up reports of `run`"
                ));
            }
            match v.get("schema_version").and_then(|s| s.as_u64()) {
                Some(n) if n == u64::from(SCHEMA_VERSION) => {}
                Some(n) => {
                    return Err(format!(
                        "{name}: report schema_version {n}, this build reads {SCHEMA_VERSION}: merge reports written by the same wabasim version"
                    ))
                }
                None => return Err(format!("{name}: no schema_version: not a `run` report")),
            }
            let r: Report =
                serde_json::from_value(v).map_err(|e| format!("{name}: not a `run` report: {e}"))?;
            Ok((p.clone(), r))
        })
        .collect()
}

/// Refuses reports that do not add up to one run: different scenarios or seeds, sharded and
/// whole runs mixed, shards of different splits, a shard twice or missing. Then merges and
/// evaluates `checks` on the merged report.
pub fn merge_checked(reports: &[(PathBuf, Report)], checks: &[Check]) -> Result<Report, String> {
    let Some((first_path, first)) = reports.first() else {
        return Err("no report to merge".into());
    };
    let fp = |r: &Report| r.scenario.as_ref().map(|s| s.fingerprint.clone());
    for (path, r) in &reports[1..] {
        if fp(r) != fp(first) {
            let show = |r: &Report| match &r.scenario {
                Some(s) => format!("scenario {} (fingerprint {})", s.file, s.fingerprint),
                None => "no recorded scenario".into(),
            };
            return Err(format!(
                "{}: {} but {}: {}: reports of different scenarios cannot be merged",
                path.display(),
                show(r),
                first_path.display(),
                show(first)
            ));
        }
        if r.seed != first.seed {
            return Err(format!(
                "{}: seed {} but {}: seed {}: runs of different seeds do not add up to one run",
                path.display(),
                r.seed,
                first_path.display(),
                first.seed
            ));
        }
    }
    check_shards(reports)?;
    let list: Vec<Report> = reports.iter().map(|(_, r)| r.clone()).collect();
    let mut merged = merge(&list)?;
    merged.thresholds = evaluate(checks, &merged);
    Ok(merged)
}

/// Either no report is a shard (whole runs in parallel), or they are exactly the shards
/// 0..N of one split.
fn check_shards(reports: &[(PathBuf, Report)]) -> Result<(), String> {
    let sharded: Vec<_> = reports.iter().filter(|(_, r)| r.shard.is_some()).collect();
    if sharded.is_empty() {
        return Ok(());
    }
    if let Some((path, _)) = reports.iter().find(|(_, r)| r.shard.is_none()) {
        return Err(format!(
            "{}: a whole run, while {} is shard {}: shards and whole runs cannot be merged together",
            path.display(),
            sharded[0].0.display(),
            sharded[0].1.shard.map(|s| s.to_string()).unwrap_or_default()
        ));
    }
    let count = sharded[0].1.shard.map_or(1, |s| s.count);
    let mut seen: Vec<Option<&Path>> = vec![None; count as usize];
    for (path, r) in &sharded {
        let Some(s) = r.shard else { continue };
        if s.count != count {
            return Err(format!(
                "{}: shard {s}, while {} is one of {count} shards: shards of different splits cannot be merged",
                path.display(),
                sharded[0].0.display()
            ));
        }
        match seen.get_mut(s.index as usize) {
            Some(Some(other)) => {
                return Err(format!(
                    "{}: shard {s} again (also {}): each shard must be merged once",
                    path.display(),
                    other.display()
                ))
            }
            Some(slot) => *slot = Some(path.as_path()),
            None => return Err(format!("{}: shard {s} is out of range", path.display())),
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_none())
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "shard {} missing: a merge of part of the shards would judge part of the load",
            missing.join(", ")
        ));
    }
    Ok(())
}

/// The checks of `path`'s `[thresholds]`, once its traffic is known to be the reports'.
fn scenario_checks(path: &Path, reports: &[(PathBuf, Report)]) -> Result<Vec<Check>, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let scenario = Scenario::parse(&text, &name).map_err(|e| e.to_string())?;
    let fingerprint = crate::scenario::fingerprint(&text);
    for (p, r) in reports {
        let theirs = r.scenario.as_ref().map(|s| s.fingerprint.clone());
        if theirs.is_some() && theirs != fingerprint {
            return Err(format!(
                "{name}: fingerprint {} but {} ran fingerprint {}: the scenario differs from the one the reports ran (apart from [thresholds])",
                fingerprint.unwrap_or_default(),
                p.display(),
                theirs.unwrap_or_default()
            ));
        }
    }
    let traffic = scenario
        .traffic
        .as_ref()
        .ok_or_else(|| format!("{name}: no [traffic] table: not the scenario of a run"))?;
    let plan = LoadPlan::build(
        traffic,
        scenario.thresholds.as_ref(),
        scenario.plan_context(),
    )
    .map_err(|e| format!("{name}: {e}"))?;
    Ok(plan.checks)
}

/// The checks recorded in the reports (each evaluated them); they must agree.
fn recorded_checks(reports: &[(PathBuf, Report)]) -> Result<Vec<Check>, String> {
    let texts = |r: &Report| {
        r.thresholds
            .iter()
            .map(|t| t.check.clone())
            .collect::<Vec<_>>()
    };
    let Some((first_path, first)) = reports.first() else {
        return Ok(Vec::new());
    };
    for (p, r) in &reports[1..] {
        if texts(r) != texts(first) {
            return Err(format!(
                "{}: thresholds {:?} but {}: {:?}; pass --scenario to judge by one set",
                p.display(),
                texts(r),
                first_path.display(),
                texts(first)
            ));
        }
    }
    texts(first)
        .iter()
        .map(|t| parse_check(t).map_err(|e| format!("{}: thresholds: {e}", first_path.display())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::report::{ScenarioRef, Shard};

    fn report(shard: Option<(u32, u32)>, fingerprint: &str, seed: u64) -> Report {
        use crate::load::metrics::PhaseMetrics;
        use crate::load::report::{PhaseReport, LATENCY_NOTE};
        use crate::traffic::policy::Outcome;
        let mut m = PhaseMetrics::default();
        for i in 0..10 {
            m.record_sent(i * 1_000);
            m.record_request(Outcome::Ok, 2_000 + i * 100, i * 1_000);
        }
        m.active_us = 1_000_000;
        let mut r = Report {
            schema_version: SCHEMA_VERSION,
            tool: "wabasim test".into(),
            started_unix_ms: 0,
            elapsed_ms: 1000.0,
            partial: false,
            stop_reason: "completed".into(),
            seed: 1,
            sources: 1,
            latency_note: LATENCY_NOTE.into(),
            phases: vec![PhaseReport::from_metrics("steady", "open", &m)],
            streams: Vec::new(),
            total: PhaseReport::from_metrics("total", "open", &m),
            webhooks: None,
            thresholds: vec![],
            abandoned_in_flight: 0,
            server: None,
            conversations: None,
            scenario: None,
            shard: None,
        };
        r.shard = shard.map(|(index, count)| Shard { index, count });
        r.scenario = Some(ScenarioRef {
            file: "s.toml".into(),
            fingerprint: fingerprint.into(),
        });
        r.seed = seed;
        r
    }

    fn named(rs: Vec<Report>) -> Vec<(PathBuf, Report)> {
        rs.into_iter()
            .enumerate()
            .map(|(i, r)| (PathBuf::from(format!("r{i}.json")), r))
            .collect()
    }

    #[test]
    fn refuses_what_does_not_add_up_naming_the_file() {
        let ok = named(vec![
            report(Some((0, 2)), "a", 1),
            report(Some((1, 2)), "a", 1),
        ]);
        let m = merge_checked(&ok, &[]).unwrap();
        assert_eq!(m.sources, 2);
        assert_eq!(m.shard, None);
        assert_eq!(m.total.requests.total, 2 * ok[0].1.total.requests.total);
        let cases = [
            (
                vec![report(Some((0, 2)), "a", 1), report(Some((1, 2)), "b", 1)],
                "r1.json: scenario s.toml (fingerprint b) but r0.json",
            ),
            (
                vec![report(Some((0, 2)), "a", 1), report(Some((1, 2)), "a", 2)],
                "r1.json: seed 2 but r0.json: seed 1",
            ),
            (
                vec![report(Some((0, 2)), "a", 1), report(None, "a", 1)],
                "r1.json: a whole run",
            ),
            (
                vec![report(Some((0, 2)), "a", 1), report(Some((1, 3)), "a", 1)],
                "r1.json: shard 1/3",
            ),
            (
                vec![report(Some((0, 2)), "a", 1), report(Some((0, 2)), "a", 1)],
                "r1.json: shard 0/2 again (also r0.json)",
            ),
            (
                vec![report(Some((0, 3)), "a", 1), report(Some((2, 3)), "a", 1)],
                "shard 1/3 missing",
            ),
        ];
        for (rs, want) in cases {
            let e = merge_checked(&named(rs), &[]).unwrap_err();
            assert!(e.contains(want), "want {want:?} in {e:?}");
        }
        // Whole runs in parallel merge.
        let whole = named(vec![report(None, "a", 1), report(None, "a", 1)]);
        assert_eq!(merge_checked(&whole, &[]).unwrap().sources, 2);
    }

    #[test]
    fn thresholds_are_judged_on_the_merged_report() {
        let rs = named(vec![
            report(Some((0, 2)), "a", 1),
            report(Some((1, 2)), "a", 1),
        ]);
        let one = rs[0].1.total.requests.total as f64;
        let check = |t: &str| parse_check(t).unwrap();
        // Each shard alone has `one` requests; merged, twice as many.
        let m = merge_checked(&rs, &[check(&format!("requests > {one}"))]).unwrap();
        assert!(m.thresholds[0].passed, "{:?}", m.thresholds);
        assert_eq!(m.thresholds[0].actual, Some(2.0 * one));
        assert_eq!(m.exit_code(), 0);
        let m = merge_checked(&rs, &[check(&format!("requests <= {one}"))]).unwrap();
        assert!(!m.thresholds[0].passed);
        assert_eq!(
            m.exit_code(),
            crate::load::report::exit_code::THRESHOLDS_FAILED
        );
    }
}
