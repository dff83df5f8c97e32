//! `wabasim run`: a scenario's traffic driven over real HTTP, against the embedded mock server
//! (the default, on an ephemeral loopback port) or any Cloud-API-shaped server (`--target`).
//!
//! This is an I/O edge: it reads the scenario, starts the webhook receiver and the embedded
//! server, runs the load generator, and reads the engine's counters into the report.

use super::serve::{start, Running, ServePlan, WebhookOverrides};
use super::{say, Failure, Outcome};
use crate::clock::ClockMode;
use crate::load::live::LiveSamples;
use crate::load::receiver::Receiver;
use crate::load::report::{
    render_summary, Report, ScenarioRef, ServerBusiness, ServerNumber, ServerSide,
};
use crate::load::runner::{run, RunOptions, Target};
use crate::scenario::Scenario;
use crate::server::ui::LiveFeed;
use crate::simulate::collect::enum_text;
use crate::traffic::plan::LoadPlan;
use crate::traffic::shard::{self, Shard};
use crate::traffic::spec::{Dur, WebhookSpec};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `wabasim run`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct RunArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Base URL of a running Cloud API server (e.g. http://127.0.0.1:8080). Without it the
    /// embedded mock server is started on loopback.
    #[arg(long)]
    pub target: Option<String>,
    /// Access token of the scenario's first business (as `serve --token` sets it): sent with
    /// the requests of its numbers. Other businesses' numbers use their own scenario tokens.
    #[arg(long)]
    pub token: Option<String>,
    /// With `--target`: a TOML file of `ID = "TOKEN"` lines mapping phone number, WABA or
    /// business ids to the token their requests carry (most specific wins; docs/load.md).
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
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
    /// Write JUnit XML for CI: one test case per threshold (docs/load.md, "CI").
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary for a CI job page (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long, value_name = "FILE")]
    pub summary_md: Option<PathBuf>,
    /// No live progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Send shard I's share of the load of N generators (I/N, e.g. 0/4; docs/scale-out.md).
    /// Default: `JOB_COMPLETION_INDEX` and `WABASIM_SHARDS` when `WABASIM_SHARDS` is set
    /// (Kubernetes Indexed Jobs), else the whole load. Needs `--target` when N > 1.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Wait until this instant before starting, so shards start together without a
    /// coordinator: Unix seconds or RFC 3339 (2026-12-04T15:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
    /// Serve the live dashboard while the run lasts (on the embedded server; its URL is
    /// printed): rates, latency, codes, webhooks, numbers, templates, message inspector.
    #[arg(long)]
    pub dashboard: bool,
    /// Serve the generator's own Prometheus metrics at http://ADDR/metrics while the run
    /// lasts (e.g. 127.0.0.1:9464; port 0 picks one, printed): requests by class and code,
    /// rates, latency of the last second. Works with `--target` too.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

fn parse_dur(s: &str) -> Result<Dur, String> {
    Dur::parse(s)
}

impl RunArgs {
    /// The target at `base_url`: `token` for the control API, `tokens` per business number.
    pub fn target_for(
        &self,
        base_url: &str,
        token: &str,
        tokens: BTreeMap<String, String>,
    ) -> Target {
        Target {
            base_url: base_url.to_string(),
            token: token.to_string(),
            api_version: self.api_version.clone(),
            tokens,
        }
    }
}

/// A scenario read and resolved for `run`: its traffic plan and the token of every number.
pub struct Prepared {
    pub scenario: Scenario,
    pub plan: LoadPlan,
    /// Phone number id → the token its requests carry ([`super::tokens`]).
    pub tokens: BTreeMap<String, String>,
    /// The scenario as the report names it (for `merge`).
    pub scenario_ref: ScenarioRef,
    /// When to start, Unix ms (`--start-at`).
    pub start_at: Option<u64>,
}

/// A `--start-at` further ahead than this is refused as a likely typo.
const MAX_START_WAIT_MS: u64 = 24 * 3600 * 1000;

fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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

/// Resolves at the first stop signal counted by `signals`.
async fn first_signal(mut signals: tokio::sync::watch::Receiver<u32>) {
    let _ = signals.wait_for(|n| *n >= 1).await;
}

/// Everything after parsing: run, print the summary, write the JSON report, evaluate
/// thresholds. Returns the process exit code ([`crate::load::report::exit_code`]). `receiver` is the one from
/// [`start_receiver`] (pass `None` to let this function start it).
pub async fn execute_plan(
    plan: &LoadPlan,
    target: &Target,
    args: &RunArgs,
    receiver: Option<Arc<Receiver>>,
    shutdown: impl Future,
) -> i32 {
    super::exit_code(run_plan(plan, target, args, receiver, shutdown).await)
}

async fn run_plan(
    plan: &LoadPlan,
    target: &Target,
    args: &RunArgs,
    receiver: Option<Arc<Receiver>>,
    shutdown: impl Future,
) -> Outcome {
    let receiver = match receiver {
        Some(r) => Some(r),
        None => start_receiver(plan).await.map_err(Failure::Runtime)?,
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
        signals: None,
        live: None,
    };
    let report = run(plan, target, &opts, shutdown)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    write_report(&report, args)
}

/// Prints the summary, writes the JSON report and the CI files `args` asks for, and returns
/// the process exit code.
pub fn finish(report: &Report, args: &RunArgs) -> i32 {
    super::exit_code(write_report(report, args))
}

fn write_report(report: &Report, args: &RunArgs) -> Outcome {
    write_outputs(
        report,
        args.out.as_deref(),
        args.junit.as_deref(),
        args.summary_md.as_deref(),
    )
}

/// Prints the summary, writes the JSON report to `out` and the CI files where asked, and gives
/// the report's exit code (`run` and `merge`).
pub fn write_outputs(
    report: &Report,
    out: Option<&Path>,
    junit: Option<&Path>,
    summary_md: Option<&Path>,
) -> Outcome {
    let summary = render_summary(report);
    say(format_args!("{summary}\n"));
    if let Some(path) = out {
        let json = serde_json::to_vec_pretty(report)
            .map_err(|e| Failure::Runtime(format!("cannot serialise the report: {e}")))?;
        super::write_file(path, &json)?;
        say(format_args!("report written to {}\n", path.display()));
    }
    super::report::write_ci(report, &summary, junit, summary_md)?;
    Ok(report.exit_code())
}

/// Runs `wabasim run` and returns its outcome (exit codes in docs/load.md): a bad scenario or
/// flag is a usage failure, a runtime that cannot start a runtime failure, and otherwise the
/// run's own verdict.
pub fn main(args: RunArgs) -> Outcome {
    let prepared = prepare(&args).map_err(Failure::Usage)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))?;
    Ok(rt.block_on(async {
        // SIGINT or SIGTERM: stop, drain for `grace`, write the partial report (exit 130); a
        // second signal cuts the drain.
        let signals = super::stop_signals();
        let shutdown = first_signal(signals.clone());
        super::exit_code(run_scenario(prepared, args, shutdown, Some(signals)).await)
    }))
}

/// Reads the scenario and resolves its traffic into a plan and every number's token. With the
/// embedded server and no `[traffic.webhooks]`, a receiver is added so the report always shows
/// what the webhooks did.
pub fn prepare(args: &RunArgs) -> Result<Prepared, String> {
    let env = |k: &str| std::env::var(k).ok();
    let shard = Shard::resolve(
        args.shard.as_deref(),
        env(shard::INDEX_ENV).as_deref(),
        env(shard::COUNT_ENV).as_deref(),
    )?;
    if !shard.is_whole() && args.target.is_none() {
        return Err(format!(
            "shard {shard} needs --target: the shards must drive one server (or one set of partitions behind a router); each shard's own embedded server would see only its share of every number's traffic"
        ));
    }
    let start_at = match &args.start_at {
        Some(t) => {
            let at = shard::parse_time(t).map_err(|e| format!("--start-at: {e}"))?;
            if at > unix_ms_now() + MAX_START_WAIT_MS {
                return Err(format!(
                    "--start-at {t:?} is more than 24 hours ahead: a typo? (the run would wait until then)"
                ));
            }
            Some(at)
        }
        None => None,
    };
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| format!("{}: {e}", args.scenario.display()))?;
    let file = args.scenario.display().to_string();
    let mut scenario = Scenario::parse(&text, &file).map_err(|e| e.to_string())?;
    let scenario_ref = ScenarioRef {
        file: file.clone(),
        fingerprint: crate::scenario::fingerprint(&text).unwrap_or_default(),
    };
    let traffic = scenario
        .traffic
        .as_ref()
        .ok_or_else(|| format!("{file}: no [traffic] table to run (docs/load.md)"))?;
    let mut plan = LoadPlan::build(
        traffic,
        scenario.thresholds.as_ref(),
        scenario.plan_context(),
    )
    .map_err(|e| format!("{file}: {e}"))?
    .sharded(shard)
    .map_err(|e| format!("{file}: shard {shard}: {e}"))?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if args.dashboard && args.target.is_some() {
        return Err("--dashboard needs the embedded server (drop --target); a `wabasim serve` target shows its own dashboard at /_sim/ui".into());
    }
    if let Some(tok) = &args.token {
        if tok.trim().is_empty() {
            return Err("--token: must not be empty".into());
        }
        // `--token` is the first business's token, whichever server is driven: the embedded
        // one is built from this scenario, so it accepts it.
        scenario.expand_world();
        if let Some(b) = scenario.businesses.first_mut() {
            b.tokens = vec![tok.clone()];
        }
    }
    let file =
        match (&args.tokens, &args.target) {
            (Some(_), None) => return Err(
                "--tokens needs --target: the embedded server accepts the scenario's own tokens"
                    .into(),
            ),
            (Some(path), Some(_)) => {
                Some((path.display().to_string(), super::tokens::read_file(path)?))
            }
            (None, _) => None,
        };
    let tokens = super::tokens::resolve(
        &scenario.world(),
        &plan,
        None,
        file.as_ref().map(|(name, map)| (name.as_str(), map)),
    )?;
    if args.target.is_none() && plan.webhooks.is_none() {
        plan.webhooks = Some(WebhookSpec {
            listen: "127.0.0.1:0".into(),
            app_secret: scenario
                .webhooks
                .app_secret
                .clone()
                .unwrap_or_else(|| "wabasim-app-secret".into()),
            verify_token: scenario
                .webhooks
                .verify_token
                .clone()
                .unwrap_or_else(|| "wabasim-verify-token".into()),
            track: 100_000,
        });
    }
    Ok(Prepared {
        scenario,
        plan,
        tokens,
        scenario_ref,
        start_at,
    })
}

/// Everything after parsing: receiver, embedded server (unless `--target`), the run, the
/// server side of the report, summary, JSON, exit code.
pub async fn execute(prepared: Prepared, args: RunArgs, shutdown: impl Future) -> i32 {
    super::exit_code(run_scenario(prepared, args, shutdown, None).await)
}

async fn run_scenario(
    prepared: Prepared,
    args: RunArgs,
    shutdown: impl Future,
    signals: Option<tokio::sync::watch::Receiver<u32>>,
) -> Outcome {
    let Prepared {
        scenario,
        plan,
        tokens,
        scenario_ref,
        start_at,
    } = prepared;
    // `prepare` put `--seed` into the scenario: one seed for the traffic and the audience.
    let seed = scenario.seed;
    let receiver = start_receiver(&plan).await.map_err(Failure::Runtime)?;
    let world_token = scenario
        .world()
        .businesses
        .first()
        .and_then(|b| b.tokens.first().cloned())
        .unwrap_or_default();
    // The embedded server, if any, and the URL and token to drive.
    let (base_url, embedded, stop_server) = match &args.target {
        Some(url) => (url.clone(), None, None),
        None => {
            let overrides = match (&receiver, &plan.webhooks) {
                (Some(r), Some(spec)) => WebhookOverrides {
                    url: Some(r.url()),
                    app_secret: Some(spec.app_secret.clone()),
                    verify_token: Some(spec.verify_token.clone()),
                    api_version: None,
                },
                _ => WebhookOverrides::default(),
            };
            let serve_plan = ServePlan::from_scenario(scenario, ClockMode::Wall, 1.0, overrides);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| {
                    Failure::Runtime(format!("cannot bind the embedded server on 127.0.0.1: {e}"))
                })?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let running = start(serve_plan, listener, async move {
                let _ = rx.await;
            })
            .await
            .map_err(|e| Failure::Runtime(format!("embedded server: {e}")))?;
            if !args.quiet {
                eprintln!(
                    "wabasim: embedded mock server on http://{} (webhooks to {})",
                    running.addr,
                    receiver
                        .as_ref()
                        .map(|r| r.url())
                        .unwrap_or_else(|| "nowhere".into())
                );
            }
            (format!("http://{}", running.addr), Some(running), Some(tx))
        }
    };
    let target = args.target_for(&base_url, &world_token, tokens);
    if let Some(at) = start_at {
        let now = unix_ms_now();
        if at > now {
            if !args.quiet {
                eprintln!(
                    "wabasim: shard {} waiting {:.1} s for --start-at",
                    plan.shard,
                    (at - now) as f64 / 1000.0
                );
            }
            let wait = tokio::time::sleep(Duration::from_millis(at - now));
            match &signals {
                Some(sig) => {
                    tokio::select! {
                        _ = wait => {}
                        _ = first_signal(sig.clone()) => {
                            eprintln!("wabasim: interrupted while waiting for --start-at: nothing was sent");
                            return Ok(crate::load::report::exit_code::INTERRUPTED);
                        }
                    }
                }
                None => wait.await,
            }
        } else if now - at > 1000 {
            eprintln!(
                "warning: shard {} starts {:.1} s after --start-at: its phases run that much later than the other shards'",
                plan.shard,
                (now - at) as f64 / 1000.0
            );
        }
    }
    // Live samples feed the dashboard and the generator's metrics endpoint.
    let live =
        (args.dashboard || args.metrics_listen.is_some()).then(|| Arc::new(LiveSamples::default()));
    // `prepare` refused `--dashboard` with `--target`: here the embedded server serves it.
    if let (Some(running), true, Some(live)) = (&embedded, args.dashboard, &live) {
        running.state.ui.attach(Arc::new(LoadFeed(live.clone())));
        eprintln!("wabasim: dashboard on http://{}/_sim/ui", running.addr);
    }
    let metrics_task = match (args.metrics_listen, &live) {
        (Some(addr), Some(live)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| Failure::Runtime(format!("--metrics-listen {addr}: {e}")))?;
            let bound = listener
                .local_addr()
                .map_err(|e| Failure::Runtime(format!("--metrics-listen {addr}: {e}")))?;
            eprintln!("wabasim: generator metrics on http://{bound}/metrics");
            Some(tokio::spawn(crate::load::prometheus::serve(
                listener,
                live.clone(),
            )))
        }
        _ => None,
    };
    let opts = RunOptions {
        quiet: args.quiet,
        seed,
        duration_cap: args.duration.map(|d| Duration::from_micros(d.0)),
        receiver,
        webhook_settle: None,
        signals,
        live,
    };
    let mut report = run(&plan, &target, &opts, shutdown)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    if let Some(running) = &embedded {
        report.server = Some(server_side(running));
    }
    report.scenario = Some(scenario_ref);
    report.shard = (!plan.shard.is_whole()).then_some(plan.shard);
    if let Some(tx) = stop_server {
        let _ = tx.send(());
    }
    if let Some(task) = metrics_task {
        task.abort();
    }
    write_report(&report, &args)
}

/// The run's live samples, as the dashboard of the embedded server reads them.
struct LoadFeed(Arc<LiveSamples>);

impl LiveFeed for LoadFeed {
    fn since(&self, since: u64) -> (Vec<serde_json::Value>, u64) {
        let (samples, next) = self.0.since(since);
        let values = samples
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            .collect();
        (values, next)
    }
}

/// Reads the embedded engine's counters once the traffic has stopped.
pub fn server_side(running: &Running) -> ServerSide {
    let snap = running.state.engine.snapshot();
    let numbers = snap
        .numbers
        .iter()
        .map(|n| ServerNumber {
            id: n.id.to_string(),
            quality_rating: enum_text(&n.quality_rating),
            status: enum_text(&n.status),
            messaging_limit: enum_text(&n.messaging_limit),
            accepted: n.counters.accepted,
            rejected: n
                .counters
                .rejected
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            delivered: n.counters.delivered,
            read: n.counters.read,
            failed: n
                .counters
                .failed
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            inbound: n.counters.inbound,
            held: n.counters.held,
            released: n.counters.released,
            dropped: n.counters.dropped,
        })
        .collect();
    let webhook_outbox = serde_json::to_value(running.state.outbox.stats())
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let engine = &running.state.engine;
    let totals = engine.business_totals();
    let businesses = if totals.len() < 2 {
        Vec::new()
    } else {
        totals
            .into_iter()
            .map(|t| ServerBusiness {
                id: t.standing.id.to_string(),
                name: t.standing.name,
                numbers: t.numbers,
                accepted: t.accepted,
                refused: t.refused,
                delivered: t.delivered,
                failed_later: t.failed_later,
                inbound: t.inbound,
                cost: t.cost.by_currency,
            })
            .collect()
    };
    ServerSide {
        numbers,
        webhook_outbox,
        cost: Some(engine.cost_summary()),
        businesses,
    }
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
