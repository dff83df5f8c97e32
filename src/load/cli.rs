//! `wabasim run`: command-line arguments and the end-to-end execution the binary calls once it
//! has a validated plan and a target.
//!
//! The lead's `main` parses [`RunArgs`], loads the scenario into a [`LoadPlan`] (world part +
//! [`crate::load::spec::Traffic`]), decides the target (embedded mock or `--target`), then calls
//! [`execute`] and exits with the code it returns.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::load::plan::LoadPlan;
use crate::load::receiver::Receiver;
use crate::load::report::{exit_code, render_summary, Report};
use crate::load::runner::{run, RunOptions, Target};
use crate::load::spec::Dur;

/// Arguments of `wabasim run`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct RunArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Base URL of a running Cloud API server (e.g. http://127.0.0.1:8080). Without it the
    /// embedded mock server is started on loopback.
    #[arg(long)]
    pub target: Option<String>,
    /// Access token sent as `Authorization: Bearer <token>`. Default: the first token of the
    /// scenario's first business (which the embedded server accepts).
    #[arg(long)]
    pub token: Option<String>,
    /// Graph API version in request paths.
    #[arg(long, default_value = "v23.0")]
    pub api_version: String,
    /// Cap on the whole run (e.g. 30s, 5m), cutting phases short.
    #[arg(long, value_parser = parse_dur)]
    pub duration: Option<Dur>,
    /// Seed for every random choice (mix, recipients, jitter, Poisson arrivals, and the
    /// embedded server's audience). Default: the scenario's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the JSON report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No live progress line.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_dur(s: &str) -> Result<Dur, String> {
    Dur::parse(s)
}

impl RunArgs {
    /// The target at `base_url` with `token` (the caller resolves the default token).
    pub fn target_for(&self, base_url: &str, token: &str) -> Target {
        Target {
            base_url: base_url.to_string(),
            token: token.to_string(),
            api_version: self.api_version.clone(),
        }
    }
}

/// Starts the embedded webhook receiver when the plan asks for one. Call this before starting an
/// embedded mock server, so its webhook callback can be set to [`Receiver::url`].
pub async fn start_receiver(plan: &LoadPlan) -> Result<Option<Arc<Receiver>>, String> {
    match &plan.webhooks {
        Some(spec) => Receiver::start(spec)
            .await
            .map(|r| Some(Arc::new(r)))
            .map_err(|e| format!("webhook receiver on {}: {e}", spec.listen)),
        None => Ok(None),
    }
}

/// Resolves when Ctrl-C is pressed (never, if the signal cannot be installed).
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Everything after parsing: run, print the summary, write the JSON report, evaluate
/// thresholds. Returns the process exit code ([`exit_code`]). `receiver` is the one from
/// [`start_receiver`] (pass `None` to let this function start it).
pub async fn execute(
    plan: &LoadPlan,
    target: &Target,
    args: &RunArgs,
    receiver: Option<Arc<Receiver>>,
    shutdown: impl Future,
) -> i32 {
    let receiver = match receiver {
        Some(r) => Some(r),
        None => match start_receiver(plan).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return exit_code::RUN_ERROR;
            }
        },
    };
    if let (Some(r), false) = (&receiver, args.quiet) {
        eprintln!("webhook receiver listening on {}", r.url());
    }
    let opts = RunOptions {
        quiet: args.quiet,
        seed: args.seed.unwrap_or(1),
        duration_cap: args.duration.map(|d| Duration::from_micros(d.0)),
        receiver,
        webhook_settle: None,
    };
    let report = match run(plan, target, &opts, shutdown).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code::RUN_ERROR;
        }
    };
    finish(&report, args.out.as_deref())
}

/// Prints the summary, writes the JSON, and picks the exit code.
pub fn finish(report: &Report, out: Option<&Path>) -> i32 {
    crate::app::say(format_args!("{}\n", render_summary(report)));
    if let Some(path) = out {
        let json = match serde_json::to_vec_pretty(report) {
            Ok(j) => j,
            Err(e) => {
                eprintln!("error: cannot serialise the report: {e}");
                return exit_code::RUN_ERROR;
            }
        };
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return exit_code::RUN_ERROR;
        }
        crate::app::say(format_args!("report written to {}\n", path.display()));
    }
    report.exit_code()
}

/// `wabasim report merge`: reads JSON reports and merges them (see [`crate::load::report::merge`]).
pub fn merge_files(paths: &[PathBuf]) -> Result<Report, String> {
    let mut reports = Vec::with_capacity(paths.len());
    for p in paths {
        let text = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let r: Report =
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        reports.push(r);
    }
    crate::load::report::merge(&reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn args_parse() {
        let c = Cli::parse_from([
            "x",
            "s.toml",
            "--target",
            "http://127.0.0.1:1",
            "--duration",
            "30s",
            "--seed",
            "7",
            "--quiet",
        ]);
        assert_eq!(c.run.duration, Some(Dur::from_secs(30)));
        assert_eq!(c.run.seed, Some(7));
        assert!(c.run.quiet);
        assert_eq!(c.run.api_version, "v23.0");
        assert!(Cli::try_parse_from(["x", "s.toml", "--duration", "3 weeks"]).is_err());
    }
}
