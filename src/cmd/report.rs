//! `wabasim report`: a saved JSON report (of `run` or `simulate`) rendered as a self-contained
//! HTML page, and a `run` report as the files CI systems read (JUnit XML, Markdown summary).

use super::{say, Failure, Outcome, EXIT_OK};
use crate::load::ci;
use crate::load::report::{render_summary, Report};
use std::path::Path;

/// What `wabasim report` writes; at least one is given.
#[derive(clap::Args, Debug, Clone, PartialEq)]
#[command(group(clap::ArgGroup::new("outputs").required(true).multiple(true)))]
pub struct ReportArgs {
    /// The JSON report.
    pub report: std::path::PathBuf,
    /// Write a self-contained HTML page (run or simulate report).
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub html: Option<std::path::PathBuf>,
    /// Write JUnit XML, one test case per threshold (run report).
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub junit: Option<std::path::PathBuf>,
    /// Write a Markdown summary for a CI job page (run report).
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub summary_md: Option<std::path::PathBuf>,
}

/// Reads the report and writes what `args` asks for, printing each path. An unreadable or
/// unknown report (or a simulation report asked for CI files, which has no thresholds) is a
/// usage failure; a file that cannot be written is a runtime failure.
pub fn main(args: &ReportArgs) -> Outcome {
    let path = &args.report;
    let json =
        std::fs::read(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    if let Some(html) = &args.html {
        let page = crate::render::html_from_json(&json)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        write(html, page.as_bytes())?;
    }
    if args.junit.is_some() || args.summary_md.is_some() {
        let bad = |why: String| {
            Failure::Usage(format!(
                "{}: --junit and --summary-md read a `run` report: {why}",
                path.display()
            ))
        };
        let v: serde_json::Value =
            serde_json::from_slice(&json).map_err(|e| bad(format!("not JSON: {e}")))?;
        if v.get("kind").and_then(|k| k.as_str()) == Some("simulation") {
            return Err(bad(
                "this is a simulation report, which has no thresholds".into()
            ));
        }
        let report: Report = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
        write_ci(
            &report,
            &render_summary(&report),
            args.junit.as_deref(),
            args.summary_md.as_deref(),
        )?;
    }
    Ok(EXIT_OK)
}

/// Writes the JUnit XML and the Markdown summary of a run report where asked. `summary` is the
/// terminal summary, kept in the JUnit suite's `system-out`.
pub fn write_ci(
    report: &Report,
    summary: &str,
    junit: Option<&Path>,
    summary_md: Option<&Path>,
) -> Outcome {
    if let Some(p) = junit {
        write(p, ci::junit(report, summary).as_bytes())?;
    }
    if let Some(p) = summary_md {
        write(p, ci::markdown(report).as_bytes())?;
    }
    Ok(EXIT_OK)
}

fn write(path: &Path, bytes: &[u8]) -> Outcome {
    super::write_file(path, bytes)?;
    say(format_args!("{}\n", path.display()));
    Ok(EXIT_OK)
}
