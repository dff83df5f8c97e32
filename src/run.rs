//! `wabasim run`: a scenario's traffic driven over real HTTP, against the embedded mock server
//! (the default, on an ephemeral loopback port) or any Cloud-API-shaped server (`--target`).
//!
//! This is an I/O edge: it reads the scenario, starts the webhook receiver and the embedded
//! server, runs the load generator, and reads the engine's counters into the report.

use crate::app::{EXIT_RUNTIME, EXIT_USAGE};
use crate::clock::ClockMode;
use crate::load::cli::{finish, start_receiver, RunArgs};
use crate::load::report::{exit_code, ServerNumber, ServerSide};
use crate::load::runner::{run, RunOptions};
use crate::load::spec::WebhookSpec;
use crate::load::LoadPlan;
use crate::scenario::Scenario;
use crate::serve::{start, Running, ServePlan, WebhookOverrides};
use crate::simulate::collect::enum_text;
use std::time::Duration;

/// Runs `wabasim run` and returns the process exit code (see docs/load.md).
pub fn main(args: RunArgs) -> i32 {
    let (scenario, plan) = match prepare(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return EXIT_RUNTIME;
        }
    };
    rt.block_on(execute(scenario, plan, args, crate::load::cli::ctrl_c()))
}

/// Reads the scenario and resolves its traffic into a plan. With the embedded server and no
/// `[traffic.webhooks]`, a receiver is added so the report always shows what the webhooks did.
pub fn prepare(args: &RunArgs) -> Result<(Scenario, LoadPlan), String> {
    let mut scenario = Scenario::load(&args.scenario).map_err(|e| e.to_string())?;
    let file = args.scenario.display().to_string();
    let traffic = scenario.traffic.as_ref().ok_or_else(|| {
        format!("{file}: no [traffic] table, nothing to run (see docs/load.md for its format)")
    })?;
    let mut plan = LoadPlan::build(
        traffic,
        scenario.thresholds.as_ref(),
        scenario.plan_context(),
    )
    .map_err(|e| format!("{file}: {e}"))?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if let Some(tok) = &args.token {
        if tok.trim().is_empty() {
            return Err("--token: must not be empty".into());
        }
    }
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
    Ok((scenario, plan))
}

/// Everything after parsing: receiver, embedded server (unless `--target`), the run, the
/// server side of the report, summary, JSON, exit code.
pub async fn execute(
    mut scenario: Scenario,
    plan: LoadPlan,
    args: RunArgs,
    shutdown: impl std::future::Future,
) -> i32 {
    // `prepare` put `--seed` into the scenario: one seed for the traffic and the audience.
    let seed = scenario.seed;
    let receiver = match start_receiver(&plan).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code::RUN_ERROR;
        }
    };
    let world_token = scenario
        .world()
        .businesses
        .first()
        .and_then(|b| b.tokens.first().cloned())
        .unwrap_or_default();
    // The embedded server, if any, and the URL and token to drive.
    let (base_url, token, embedded, stop_server) = match &args.target {
        Some(url) => (
            url.clone(),
            args.token.clone().unwrap_or(world_token),
            None,
            None,
        ),
        None => {
            if let Some(tok) = &args.token {
                if scenario.businesses.is_empty() {
                    scenario.businesses = scenario.world().businesses;
                }
                if let Some(b) = scenario.businesses.first_mut() {
                    b.tokens = vec![tok.clone()];
                }
            }
            let token = args.token.clone().unwrap_or(world_token);
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
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: cannot bind the embedded server on 127.0.0.1: {e}");
                    return exit_code::RUN_ERROR;
                }
            };
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let running = match start(serve_plan, listener, async move {
                let _ = rx.await;
            })
            .await
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: embedded server: {e}");
                    return exit_code::RUN_ERROR;
                }
            };
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
            (
                format!("http://{}", running.addr),
                token,
                Some(running),
                Some(tx),
            )
        }
    };
    let target = args.target_for(&base_url, &token);
    let opts = RunOptions {
        quiet: args.quiet,
        seed,
        duration_cap: args.duration.map(|d| Duration::from_micros(d.0)),
        receiver,
        webhook_settle: None,
    };
    let mut report = match run(&plan, &target, &opts, shutdown).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code::RUN_ERROR;
        }
    };
    if let Some(running) = &embedded {
        report.server = Some(server_side(running));
    }
    if let Some(tx) = stop_server {
        let _ = tx.send(());
    }
    finish(&report, args.out.as_deref())
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
        })
        .collect();
    let webhook_outbox = serde_json::to_value(running.state.outbox.stats())
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    ServerSide {
        numbers,
        webhook_outbox,
        cost: Some(running.state.engine.cost_summary()),
    }
}
