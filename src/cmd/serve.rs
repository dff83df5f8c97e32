//! `wabasim serve`: from flags and scenario to a running mock server. The startup pieces
//! ([`ServePlan`], [`start`]) are also what `run` uses for its embedded server.

use super::{say, Failure, Outcome, EXIT_OK};
use crate::clock::{Clock, ClockMode, SimTime};
use crate::scenario::partition::Partitioning;
use crate::scenario::Scenario;
use crate::server::errors::StatusTable;
use crate::server::{self, durable, AppState, ControlAccess, ServerConfig};
use crate::webhooks::{self, WebhookConfig};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The fastest scaled clock: beyond it a day of wall time would run simulated time past what
/// the clock can count, and every deadline would pass at once.
pub const MAX_TIME_SCALE: f64 = 1_000_000.0;

/// Shortest control token accepted: long enough not to be guessed over the network.
pub const MIN_CONTROL_TOKEN: usize = 16;

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// World (and settings) from this scenario file; the documented default world without it.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Where to POST webhooks (http:// only). The verification handshake runs at start.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// App secret used to sign webhooks (X-Hub-Signature-256).
    #[arg(long)]
    pub app_secret: Option<String>,
    /// Verify token sent in the webhook verification handshake.
    #[arg(long)]
    pub verify_token: Option<String>,
    /// Access token of the (first business of the) world, replacing the scenario's tokens.
    #[arg(long)]
    pub token: Option<String>,
    /// `wall` (real time, optionally scaled) or `manual` (advanced by POST /_sim/clock/advance).
    #[arg(long, value_enum, default_value = "wall")]
    pub clock: ClockMode,
    /// Speed-up of the wall clock: 3600 = one simulated hour per second.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Seed of the audience's random draws (overrides the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Allow non-loopback clients to use /_sim and /metrics, with the control token.
    #[arg(long)]
    pub control_from_any: bool,
    /// The token remote clients must send (`Authorization: Bearer T`) to use /_sim and
    /// /metrics; required by --control-from-any.
    #[arg(long)]
    pub control_token: Option<String>,
    /// Override the HTTP status of an error code, e.g. `--http-status 130429=400` (repeatable).
    #[arg(long, value_parser = parse_status_override)]
    pub http_status: Vec<(u32, u16)>,
    /// Graph version of webhook payloads (v24+ omits `conversation` outside free entry points).
    #[arg(long)]
    pub webhook_api_version: Option<String>,
    /// Longest wait for a complete request head, idle keep-alive included; then the
    /// connection is closed (e.g. 60s, 500ms).
    #[arg(long, value_parser = parse_timeout, default_value = "60s")]
    pub header_timeout: Duration,
    /// Connections served at once; one more gets a 503 (Graph code 2) and is closed. Lowered
    /// to fit the process's descriptor limit (raised to the hard limit at start).
    #[arg(long, default_value_t = server::conn::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Requests handled at once; more get a 503 (Graph code 2) until the server catches up.
    #[arg(long, default_value_t = server::conn::DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// WABA management calls (GET /{waba-id}, its phone_numbers and message_templates) per
    /// hour per WABA, Meta's limit; past it 80007. 0 turns the limit and the
    /// X-Business-Use-Case-Usage header off. Default: the scenario's, else 5000.
    #[arg(long)]
    pub waba_calls_per_hour: Option<u32>,
    /// Graph calls per hour of the app (every authorised call); past it code 4 (HTTP 429).
    /// Also the base of the `whatsapp` entries of X-Business-Use-Case-Usage and of
    /// X-App-Usage. 0 turns all three off. Default: the scenario's, else 3600000.
    #[arg(long)]
    pub app_calls_per_hour: Option<u32>,
    /// On SIGINT or SIGTERM, how long pending webhooks may still be delivered before the
    /// server exits (a second signal exits at once).
    #[arg(long, value_parser = parse_timeout, default_value = "10s")]
    pub grace: Duration,
    /// Largest media upload in bytes (the upload route's body limit; Meta's per-type maxima
    /// apply below it). Default 100 MiB, the largest of them (documents).
    #[arg(long, default_value_t = server::media::MediaLimits::default().max_upload_bytes)]
    pub max_media_bytes: usize,
    /// Bytes of uploaded media kept in all; past it uploads get 503 (Graph code 2).
    #[arg(long, default_value_t = server::media::MediaLimits::default().max_store_bytes)]
    pub media_store_bytes: usize,
    /// Uploaded media kept in all; past it uploads get 503 (Graph code 2).
    #[arg(long, default_value_t = server::media::MediaLimits::default().max_entries)]
    pub media_store_entries: usize,
    /// How a send by an unknown, deleted or expired media id fails: `async` (200, then a
    /// failed status with 131053, as Meta reports media failures) or `sync` (400, 100/33).
    #[arg(long, value_enum, default_value = "async")]
    pub media_id_errors: server::media::MediaIdErrors,
    /// Serve only partition I of N of the scenario's business portfolios (I/N, e.g. 0/2):
    /// those whose id hashes to I (FNV-1a of the id, modulo N; docs/scale-out.md). Requests
    /// for the others get Graph's errors for unknown tokens and ids; a router
    /// (deploy/haproxy.cfg) sends each request to its partition.
    #[arg(long, value_name = "I/N")]
    pub partition: Option<String>,
    /// With --partition I/N: the portfolios of each partition listed in FILE instead of the
    /// hash, one line per partition (`0: BUSINESS_ID ...`; docs/scale-out.md). Give
    /// `partition-map` the same file.
    #[arg(long, value_name = "FILE")]
    pub partition_file: Option<PathBuf>,
    /// Keep the world (templates, statuses, quality, limits, ledger, clock, …) and the
    /// webhook outbox in DIR: a restart with the same DIR, scenario and flags continues where
    /// the server stopped, and re-sends the webhook events not yet delivered. Without it the
    /// state lives in memory only and is gone when the server stops.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = crate::traffic::spec::Dur::parse(s)?;
    if d.0 == 0 || d.0 > 3_600 * crate::clock::MICROS_PER_SEC {
        return Err(format!("{s}: must be above 0 and at most 1h"));
    }
    Ok(Duration::from_micros(d.0))
}

fn parse_status_override(s: &str) -> Result<(u32, u16), String> {
    let (c, st) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not CODE=STATUS (e.g. 130429=400)"))?;
    let code: u32 = c
        .trim()
        .parse()
        .map_err(|_| format!("'{c}' is not an error code"))?;
    if crate::engine::errors::ErrorCode::from_code(code).is_none() {
        return Err(format!("{code} is not an error code wabasim knows"));
    }
    let status: u16 = st
        .trim()
        .parse()
        .map_err(|_| format!("'{st}' is not an HTTP status"))?;
    if !(100..=599).contains(&status) {
        return Err(format!("{status} is not an HTTP status"));
    }
    Ok((code, status))
}

/// `wabasim serve`: starts the server, prints the banner, serves until Ctrl-C. Bad flags or
/// scenario are usage failures; a server that cannot start is a runtime failure.
pub fn main(args: ServeArgs) -> Outcome {
    let plan = ServePlan::from_args(&args).map_err(Failure::Usage)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| Failure::Runtime(format!("--listen {}: {e}", args.listen)))?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let webhook = plan.webhooks.url.clone();
        let mut signals = super::stop_signals();
        let mut running = start(plan, listener, async move {
            let _ = rx.await;
        })
        .await
        .map_err(Failure::Runtime)?;
        say(format_args!("{}", banner(&running, &webhook)));
        let _ = signals.wait_for(|n| *n >= 1).await;
        // Stop accepting; give the webhooks in the outbox `--grace` to go out; a second signal
        // stops at once.
        let _ = tx.send(());
        eprintln!(
            "wabasim: stopping: delivering pending webhooks for up to {:?} (a second signal stops at once)",
            args.grace
        );
        tokio::select! {
            _ = &mut running.dispatcher => {}
            _ = tokio::time::sleep(args.grace) => running.dispatcher.abort(),
            _ = signals.wait_for(|n| *n >= 2) => running.dispatcher.abort(),
        }
        let stats = running.state.outbox.stats();
        eprintln!("wabasim: stopped; webhooks:\n  {}", stats.summary());
        let lost = stats.pending();
        match running.state.state_dir.get() {
            Some(dir) => {
                if let Err(e) = dir.sync() {
                    eprintln!("wabasim: --state-dir {}: {e}", dir.dir().display());
                }
                eprintln!(
                    "wabasim: state kept in {}: {lost} webhook events not yet delivered go out after a restart with the same --state-dir",
                    dir.dir().display()
                );
            }
            None if lost > 0 => eprintln!(
                "wabasim: {lost} webhook events were not delivered (queued, in flight or waiting for a retry) and are lost: the server keeps its state in memory only (see --state-dir)"
            ),
            None => {}
        }
        Ok(EXIT_OK)
    })
}

/// Everything needed to start a server, resolved from the flags and the scenario.
pub struct ServePlan {
    pub scenario: Scenario,
    /// `--state-dir`: where the journal and the settle log live (see `server::durable`).
    pub state_dir: Option<PathBuf>,
    pub clock: Arc<Clock>,
    pub webhooks: WebhookConfig,
    pub server: ServerConfig,
}

impl ServePlan {
    /// Resolves flags over the scenario (flags win). Errors are messages for the user.
    pub fn from_args(args: &ServeArgs) -> Result<ServePlan, String> {
        let mut scenario = match &args.scenario {
            Some(p) => Scenario::load(p).map_err(|e| e.to_string())?,
            None => Scenario::default_world(),
        };
        scenario.expand_world();
        if let Some(seed) = args.seed {
            scenario.seed = seed;
        }
        if let Some(tok) = &args.token {
            if tok.trim().is_empty() {
                return Err("--token: must not be empty".into());
            }
            let b = scenario
                .businesses
                .first_mut()
                .ok_or("--token: the scenario has no business to give it to")?;
            b.tokens = vec![tok.clone()];
        }
        match (&args.partition, &args.partition_file) {
            (Some(text), file) => {
                let part = crate::traffic::shard::Shard::parse(text)
                    .map_err(|e| format!("--partition: {e}"))?;
                let partitioning = match file {
                    None => Partitioning::Hash { count: part.count },
                    Some(path) => {
                        let p = Partitioning::from_file("--partition-file", path, &scenario)?;
                        if p.count() != part.count {
                            return Err(format!(
                                "--partition {text}: --partition-file {} lists {} partitions, not {}",
                                path.display(),
                                p.count(),
                                part.count
                            ));
                        }
                        p
                    }
                };
                scenario
                    .keep_partition(part.index, &partitioning)
                    .map_err(|e| format!("--partition: {e}"))?;
            }
            (None, Some(_)) => {
                return Err(
                    "--partition-file needs --partition I/N: which of the file's partitions this instance serves"
                        .into(),
                )
            }
            (None, None) => {}
        }
        if !(args.time_scale > 0.0 && args.time_scale <= MAX_TIME_SCALE) {
            return Err(format!(
                "--time-scale: {} must be a number above 0 and at most {MAX_TIME_SCALE} (one wall second = 11.6 simulated days)",
                args.time_scale
            ));
        }
        let overrides = WebhookOverrides {
            url: args.webhook_url.clone(),
            app_secret: args.app_secret.clone(),
            verify_token: args.verify_token.clone(),
            api_version: args.webhook_api_version.clone(),
        };
        let mut plan = ServePlan::from_scenario(scenario, args.clock, args.time_scale, overrides);
        plan.server
            .status_table
            .extend(args.http_status.iter().copied());
        let token = args
            .control_token
            .clone()
            .or_else(|| plan.scenario.server.control_token.clone());
        if args.control_from_any || plan.scenario.server.control_from_any {
            match token {
                Some(t) if t.trim().len() >= MIN_CONTROL_TOKEN => {
                    plan.server.control_access = ControlAccess::Token(t.trim().to_string())
                }
                Some(_) => {
                    return Err(format!(
                        "--control-token: at least {MIN_CONTROL_TOKEN} characters (it guards the clock, faults and state from the network)"
                    ))
                }
                None => return Err(
                    "--control-from-any needs --control-token T (or [server] control_token): without it anyone who reaches the port could move the clock, inject faults and read the state"
                        .into(),
                ),
            }
        } else if args.control_token.is_some() {
            return Err("--control-token is only used with --control-from-any".into());
        }
        if args.max_connections == 0 || args.max_in_flight == 0 {
            return Err("--max-connections and --max-in-flight must be at least 1".into());
        }
        if let Some(n) = args.waba_calls_per_hour {
            plan.server.waba_calls_per_hour = n;
        }
        if let Some(n) = args.app_calls_per_hour {
            plan.server.app_calls_per_hour = n;
        }
        if args.max_media_bytes == 0 || args.media_store_bytes == 0 || args.media_store_entries == 0
        {
            return Err(
                "--max-media-bytes, --media-store-bytes and --media-store-entries must be at least 1"
                    .into(),
            );
        }
        plan.server.media_id_errors = args.media_id_errors;
        plan.state_dir = args.state_dir.clone();
        plan.server.media = server::media::MediaLimits {
            max_upload_bytes: args.max_media_bytes,
            max_store_bytes: args.media_store_bytes,
            max_entries: args.media_store_entries,
        };
        plan.server.limits = server::conn::Limits {
            header_timeout: args.header_timeout,
            max_connections: args.max_connections,
            max_in_flight: args.max_in_flight,
        };
        Ok(plan)
    }

    /// A plan from a scenario alone (what `run` uses for its embedded server): the scenario's
    /// `[webhooks]`, `[server]` and start time, with `overrides` winning over `[webhooks]`.
    pub fn from_scenario(
        scenario: Scenario,
        clock: ClockMode,
        time_scale: f64,
        overrides: WebhookOverrides,
    ) -> ServePlan {
        let start = scenario
            .start_unix
            .map(SimTime::from_secs)
            .unwrap_or_else(Clock::system_now);
        let clock = Arc::new(Clock::new(clock, start, time_scale));
        let w = &scenario.webhooks;
        let d = WebhookConfig::default();
        let webhooks = WebhookConfig {
            url: overrides.url.or_else(|| w.url.clone()),
            app_secret: overrides
                .app_secret
                .or_else(|| w.app_secret.clone())
                .unwrap_or_else(|| "wabasim-app-secret".into()),
            verify_token: overrides
                .verify_token
                .or_else(|| w.verify_token.clone())
                .unwrap_or_else(|| "wabasim-verify-token".into()),
            api_version: overrides
                .api_version
                .or_else(|| w.api_version.clone())
                .unwrap_or(d.api_version),
            batch_max: w.batch_max.unwrap_or(d.batch_max),
            max_in_flight: w.max_in_flight.unwrap_or(d.max_in_flight),
            retry_initial_s: w.retry_initial_s.unwrap_or(d.retry_initial_s),
            retry_max_s: w.retry_max_s.unwrap_or(d.retry_max_s),
            horizon_s: w.horizon_s.unwrap_or(d.horizon_s),
            timeout_ms: w.timeout_ms.unwrap_or(d.timeout_ms),
            max_pending: w.max_pending.unwrap_or(d.max_pending),
        };
        let server = ServerConfig {
            status_table: StatusTable::new(scenario.status_overrides()),
            max_body_bytes: scenario.server.max_body_bytes.unwrap_or(1 << 20),
            // Remote control needs a token: `from_args` checks it is there.
            control_access: match (
                &scenario.server.control_token,
                scenario.server.control_from_any,
            ) {
                (Some(t), true) => ControlAccess::Token(t.trim().to_string()),
                _ => ControlAccess::Loopback,
            },
            default_api_version: "v23.0".into(),
            limits: server::conn::Limits::default(),
            waba_calls_per_hour: scenario
                .server
                .waba_calls_per_hour
                .unwrap_or(server::usage::DEFAULT_CALLS_PER_HOUR),
            app_calls_per_hour: scenario
                .server
                .app_calls_per_hour
                .unwrap_or(server::usage::DEFAULT_APP_CALLS_PER_HOUR),
            media: server::media::MediaLimits::default(),
            media_id_errors: server::media::MediaIdErrors::default(),
        };
        ServePlan {
            scenario,
            state_dir: None,
            clock,
            webhooks,
            server,
        }
    }
}

/// Webhook settings given outside the scenario (flags, or the load generator's receiver).
#[derive(Clone, Debug, Default)]
pub struct WebhookOverrides {
    pub url: Option<String>,
    pub app_secret: Option<String>,
    pub verify_token: Option<String>,
    pub api_version: Option<String>,
}

/// A started server: its address and state, for banners and in-process use (`run`, tests).
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    /// The webhook dispatcher: after the shutdown it drains, and ends.
    pub dispatcher: tokio::task::JoinHandle<()>,
}

/// Builds the engine, checks the webhook endpoint, binds, and serves until `shutdown`.
/// `on_ready` gets the bound address before serving starts.
pub async fn start(
    plan: ServePlan,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, String> {
    // Flags may have changed the parsed scenario (seed, token): validate what is served.
    let world = plan
        .scenario
        .valid_world("scenario")
        .map_err(|e| e.to_string())?;
    plan.webhooks
        .validate()
        .map_err(|e| format!("webhooks: {e}"))?;
    let t0 = plan.clock.now();
    let durable = match &plan.state_dir {
        None => None,
        Some(dir) => {
            let header = durable::Header::new(world_fingerprint(&plan), plan.clock.mode(), t0);
            Some(durable::StateDir::open(dir, header)?)
        }
    };
    let (clock, built_at) = match &durable {
        Some((_, r)) if !r.fresh => (restored_clock(&plan.clock, r), SimTime(r.header.built_at)),
        _ => (plan.clock.clone(), t0),
    };
    let engine = server::SharedWorld::new(&world, built_at);
    if plan.webhooks.url.is_some() {
        webhooks::verify_endpoint(&plan.webhooks).await?;
    }
    // One shutdown signal for the HTTP server and the webhook dispatcher.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut rx2 = rx.clone();
    let mut rx1 = rx;
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let (dir, restored) = match durable {
        Some((d, r)) => (Some(Arc::new(d)), Some(r)),
        None => (None, None),
    };
    let settle = dir.clone().map(|d| d as Arc<dyn webhooks::SettleLog>);
    let (outbox, dispatcher) = webhooks::start_settling(
        plan.webhooks.clone(),
        clock.clone(),
        async move {
            let _ = rx2.wait_for(|v| *v).await;
        },
        settle,
    );
    let mut server_cfg = plan.server;
    server_cfg.limits.fit_descriptors();
    let state = AppState::new(Arc::new(engine), clock.clone(), outbox, server_cfg);
    state.subscriptions.init(world.world());
    if let (Some(dir), Some(r)) = (dir, restored) {
        state.restore(dir.clone(), &r.records)?;
        for note in &r.notes {
            eprintln!("wabasim: --state-dir {}: {note}", dir.dir().display());
        }
        if r.fresh {
            eprintln!(
                "wabasim: --state-dir {}: new journal (restart with the same dir and scenario to continue)",
                dir.dir().display()
            );
        } else {
            eprintln!(
                "wabasim: --state-dir {}: continued at {} UTC\n  {} journal records replayed, {} webhook events re-queued ({} delivered or settled before)",
                dir.dir().display(),
                crate::simulate::report::fmt_time(clock.now().unix_secs()),
                r.records.len(),
                state.outbox.stats().pushed,
                r.settled.len()
            );
        }
    }
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let _ = state.listen_addr.set(addr);
    tokio::spawn(server::run(listener, state.clone(), async move {
        let _ = rx1.wait_for(|v| *v).await;
    }));
    Ok(Running {
        addr,
        state,
        dispatcher,
    })
}

/// What a state directory must have been written for: the world as served (the scenario
/// after flags, without what only shapes delivery or traffic) and the settings that change
/// what the core decides.
fn world_fingerprint(plan: &ServePlan) -> String {
    let s = &plan.scenario;
    durable::fingerprint(&serde_json::json!({
        "seed": s.seed,
        "rules": s.rules,
        "policy": s.policy,
        "businesses": s.businesses,
        "generate": s.generate,
        "audience": s.audience,
        "pricing": s.pricing,
        "media_id_errors": format!("{:?}", plan.server.media_id_errors),
        "media": format!("{:?}", plan.server.media),
    }))
}

/// The clock of a restart: a manual clock starts where the first run's did and the replayed
/// advances bring it back; a wall clock continues from the latest instant the journal saw
/// (or the scenario's start, if later), so simulated time never goes back.
fn restored_clock(planned: &Clock, r: &durable::Restored) -> Arc<Clock> {
    let start = match planned.mode() {
        ClockMode::Manual => SimTime(r.header.clock_start),
        ClockMode::Wall => planned.now().max(r.last_now().unwrap_or_default()),
    };
    Arc::new(Clock::new(planned.mode(), start, planned.scale()))
}

/// The banner `serve` prints: base URL, token, ids and a ready-to-paste curl command.
pub fn banner(running: &Running, plan_webhook: &Option<String>) -> String {
    let snap = running.state.engine.snapshot();
    let base = format!("http://{}", running.addr);
    let mut s = String::new();
    use std::fmt::Write;
    let clock = &running.state.clock;
    let _ = writeln!(
        s,
        "wabasim: mock WhatsApp Cloud API listening on {base}  (clock: {:?}, time scale ×{})",
        clock.mode(),
        clock.scale()
    );
    for b in &snap.businesses {
        let _ = writeln!(
            s,
            "  business {} ({}, {}): token {}",
            b.id,
            b.name,
            b.country,
            b.tokens.join(", ")
        );
    }
    for n in &snap.numbers {
        let _ = writeln!(
            s,
            "  phone number id {}  {}  \"{}\"  WABA {}",
            n.id, n.display_phone_number, n.verified_name, n.waba_id
        );
    }
    let _ = writeln!(
        s,
        "  webhooks: {}",
        plan_webhook
            .as_deref()
            .unwrap_or("none (pass --webhook-url to receive them)")
    );
    let _ = writeln!(
        s,
        "  control API: {base}/_sim/state   metrics: {base}/metrics"
    );
    if let (Some(b), Some(n)) = (snap.businesses.first(), snap.numbers.first()) {
        let tok = b.tokens.first().cloned().unwrap_or_default();
        let to = running.state.engine.audience().member(1);
        let _ = writeln!(s, "Try:");
        let _ = writeln!(
            s,
            // Several lines (a shell continuation and a line break inside the JSON) so that it
            // pastes as one command and fits a 100-column terminal.
            "  curl -s -X POST {base}/v23.0/{}/messages \\\n    \
             -H 'Authorization: Bearer {tok}' -H 'Content-Type: application/json' \\\n    \
             -d '{{\"messaging_product\":\"whatsapp\",\"to\":\"{to}\",\"type\":\"template\",\n        \
             \"template\":{{\"name\":\"hello_world\",\"language\":{{\"code\":\"en_US\"}}}}}}'",
            n.id
        );
    }
    s
}
