//! `wabasim webhooks-load`: signed, Meta-shaped webhooks sent to a BSP's receiver at the
//! volume a messaging load produces, its latency judged against Meta's targets
//! ([`crate::load::webhook_load`]).

use super::{say, Failure, Outcome};
use crate::load::webhook_load::{run, WebhookLoad};
use crate::traffic::spec::Dur;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `wabasim webhooks-load`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct WebhooksLoadArgs {
    /// The receiver's URL (http://host:port/path).
    #[arg(long)]
    pub url: String,
    /// The app secret the receiver checks `X-Hub-Signature-256` with.
    #[arg(long)]
    pub app_secret: String,
    /// Outgoing messages per second: each gives three status webhooks (sent, delivered, read).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Inbound user messages per second: one webhook each.
    #[arg(long, default_value_t = 0.0)]
    pub inbound_rate: f64,
    /// How long messages are produced (their last statuses follow within a second).
    #[arg(long, default_value = "30s")]
    pub duration: String,
    /// Deliveries in flight at once, as Meta delivers concurrently.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Probability that a webhook is delivered twice (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub duplicates: f64,
    /// Probability that a message's read status comes before its delivered (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub out_of_order: f64,
    /// Longest wait for the receiver's answer.
    #[arg(long, default_value = "10s")]
    pub timeout: String,
    /// Graph version of the payloads.
    #[arg(long, default_value = "v23.0")]
    pub api_version: String,
    /// Seed of the duplicate and order draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn share(name: &str, v: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("--{name}: a probability between 0 and 1 (got {v})"))
    }
}

/// Validates the flags into a load.
pub fn plan(a: &WebhooksLoadArgs) -> Result<WebhookLoad, String> {
    let rate_ok = |r: f64| r.is_finite() && (0.0..=100_000.0).contains(&r);
    if !rate_ok(a.rate) || !rate_ok(a.inbound_rate) || a.rate + a.inbound_rate <= 0.0 {
        return Err(format!(
            "--rate {} and --inbound-rate {}: between 0 and 100000 per second, not both 0",
            a.rate, a.inbound_rate
        ));
    }
    let dur = |name: &str, s: &str| -> Result<Duration, String> {
        let d = Dur::parse(s).map_err(|e| format!("--{name}: {e}"))?;
        if d.0 == 0 {
            return Err(format!("--{name}: must be longer than 0"));
        }
        Ok(Duration::from_micros(d.0))
    };
    if a.concurrency == 0 || a.concurrency > 10_000 {
        return Err(format!(
            "--concurrency: between 1 and 10000 (got {})",
            a.concurrency
        ));
    }
    if a.app_secret.is_empty() {
        return Err("--app-secret: must not be empty".into());
    }
    Ok(WebhookLoad {
        url: a.url.clone(),
        app_secret: a.app_secret.clone(),
        rate: a.rate,
        inbound_rate: a.inbound_rate,
        duration: dur("duration", &a.duration)?,
        concurrency: a.concurrency,
        duplicates: share("duplicates", a.duplicates)?,
        out_of_order: share("out-of-order", a.out_of_order)?,
        timeout: dur("timeout", &a.timeout)?,
        api_version: a.api_version.clone(),
        seed: a.seed,
    })
}

/// Runs it: 0 Meta's targets met, 1 missed, 2 bad flags, 3 receiver unreachable or report
/// not writable, 130 interrupted.
pub fn main(args: &WebhooksLoadArgs) -> Outcome {
    let load = plan(args).map_err(Failure::Usage)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the runtime: {e}")))?;
    let report = rt.block_on(async {
        let mut signals = super::stop_signals();
        run(&load, async move {
            let _ = signals.wait_for(|n| *n >= 1).await;
        })
        .await
    });
    let report = report.map_err(Failure::Runtime)?;
    say(format_args!("{}", report.summary()));
    if let Some(path) = &args.out {
        let json = serde_json::to_vec_pretty(&report)
            .map_err(|e| Failure::Runtime(format!("cannot serialise the report: {e}")))?;
        super::write_file(path, &json)?;
    }
    Ok(report.exit_code())
}
