//! `wabasim simulate`: a scenario's traffic in virtual time, written as `report.json` and
//! `report.html` (the simulation itself is [`crate::simulate`]; the page is [`crate::render`]).

use super::{say, Failure, Outcome, EXIT_OK};
use crate::clock::MICROS_PER_HOUR;
use crate::scenario::Scenario;
use crate::simulate::report::render_summary;
use crate::simulate::{simulate, SimConfig, SimReport};
use crate::traffic::LoadPlan;

/// Arguments of `wabasim simulate`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Scenario file (TOML): the world and `[traffic]`, as for `run`.
    pub scenario: std::path::PathBuf,
    /// Simulated days to run (traffic is cut there). Default: the traffic's length + 1 day.
    #[arg(long)]
    pub days: Option<f64>,
    /// Seed of every random draw (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Directory for `report.json` and `report.html` (created if missing).
    #[arg(long, default_value = "wabasim-out")]
    pub out: std::path::PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `wabasim simulate`: a bad scenario or flag is a usage failure, a report that cannot be
/// written a runtime failure.
pub fn main(args: SimArgs) -> Outcome {
    let (scenario, plan, cfg) = prepare(&args).map_err(Failure::Usage)?;
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} simulated {msg} [{bar:30}] {percent}%  {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    };
    let report = simulate(&scenario, &plan, &cfg, &mut |done, total| {
        if let Some(t) = total {
            bar.set_length(t / MICROS_PER_HOUR);
        }
        bar.set_position(done / MICROS_PER_HOUR);
        bar.set_message(format!("{} h", done / MICROS_PER_HOUR));
    });
    bar.finish_and_clear();
    let report = report.map_err(Failure::Usage)?;
    say(format_args!("{}", render_summary(&report)));
    let (json, html) = write_outputs(&report, &args.out).map_err(Failure::Runtime)?;
    say(format_args!(
        "report: {}  {}\n",
        json.display(),
        html.display()
    ));
    Ok(EXIT_OK)
}

/// Reads and checks the scenario, resolves its traffic and the seed.
pub fn prepare(args: &SimArgs) -> Result<(Scenario, LoadPlan, SimConfig), String> {
    let scenario = Scenario::load(&args.scenario).map_err(|e| e.to_string())?;
    let file = args.scenario.display().to_string();
    let traffic = scenario
        .traffic
        .as_ref()
        .ok_or_else(|| format!("{file}: no [traffic] table to simulate (docs/load.md)"))?;
    let plan = LoadPlan::build(
        traffic,
        scenario.thresholds.as_ref(),
        scenario.plan_context(),
    )
    .map_err(|e| format!("{file}: {e}"))?;
    if let Some(d) = args.days {
        if !(d > 0.0 && d <= 3660.0) {
            return Err(format!("--days: {d} is not between 0 and 3660"));
        }
    }
    let cfg = SimConfig {
        days: args.days,
        seed: args.seed.unwrap_or(scenario.seed),
    };
    Ok((scenario, plan, cfg))
}

/// Writes `report.json` (pretty, byte-identical for the same scenario and seed) and
/// `report.html` into `dir`.
pub fn write_outputs(
    report: &SimReport,
    dir: &std::path::Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json_path = dir.join("report.json");
    let html_path = dir.join("report.html");
    let json = serde_json::to_vec_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, json).map_err(|e| format!("{}: {e}", json_path.display()))?;
    std::fs::write(&html_path, crate::render::simulation_html(report))
        .map_err(|e| format!("{}: {e}", html_path.display()))?;
    Ok((json_path, html_path))
}
