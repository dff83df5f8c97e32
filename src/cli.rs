//! The command line: flags parsed into plain values here, turned into running servers in
//! [`crate::serve`]. Public so tests can build options with `Cli::parse_from([...])`.

use crate::clock::ClockMode;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "wabasim",
    version,
    about = "Load-testing simulator of the WhatsApp Business Platform"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the mock WhatsApp Cloud API server.
    Serve(ServeArgs),
    /// Estimate what messages cost under a pricing model (quick form or a plan file).
    Cost(crate::pricing::cli::CostArgs),
    /// Run a scenario's traffic over HTTP (embedded mock server unless --target) and report.
    Run(crate::load::cli::RunArgs),
    /// Run a scenario's traffic in virtual time (days in seconds) and write JSON + HTML reports.
    Simulate(crate::simulate::SimArgs),
    /// Render a saved report (of `run` or `simulate`) as a self-contained HTML page.
    Report {
        /// The JSON report.
        report: PathBuf,
        /// Where to write the HTML page.
        #[arg(long)]
        html: PathBuf,
    },
    /// Print the JSON Schema of the scenario format (for editors).
    Schema,
    /// Check a scenario file and report the first problem with file, line and field.
    Validate {
        /// The scenario file.
        scenario: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
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
    /// Allow non-loopback clients to use /_sim and /metrics.
    #[arg(long)]
    pub control_from_any: bool,
    /// Override the HTTP status of an error code, e.g. `--http-status 130429=400` (repeatable).
    #[arg(long, value_parser = parse_status_override)]
    pub http_status: Vec<(u32, u16)>,
    /// Graph version of webhook payloads (v24+ omits `conversation` outside free entry points).
    #[arg(long)]
    pub webhook_api_version: Option<String>,
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
