//! `wabasim partition-map`: the HAProxy map that routes each request to the `serve
//! --partition I/N` instance owning its portfolio: every business, WABA and phone number id,
//! and every access token, of the scenario's world, with the backend (`p0`, `p1`, …) of its
//! partition. `deploy/haproxy.cfg` looks the id in the path up here first, then the token.

use super::{say, Failure, Outcome, EXIT_OK};
use crate::scenario::{partition_of, Scenario};
use crate::traffic::shard::MAX_SHARDS;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `wabasim partition-map`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct PartitionMapArgs {
    /// The scenario the partitions serve (the default world without it).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// How many partitions (the N of `serve --partition I/N`).
    #[arg(long)]
    pub partitions: u32,
    /// The first business's token, as given to `serve --token`.
    #[arg(long)]
    pub token: Option<String>,
    /// Write the map to this file (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Writes the map; a bad scenario or count is a usage failure.
pub fn main(args: &PartitionMapArgs) -> Outcome {
    let mut scenario = match &args.scenario {
        Some(p) => Scenario::load(p).map_err(|e| Failure::Usage(e.to_string()))?,
        None => Scenario::default_world(),
    };
    if args.partitions == 0 || args.partitions > MAX_SHARDS {
        return Err(Failure::Usage(format!(
            "--partitions: between 1 and {MAX_SHARDS} (got {})",
            args.partitions
        )));
    }
    scenario.expand_world();
    if let (Some(t), Some(b)) = (&args.token, scenario.businesses.first_mut()) {
        b.tokens = vec![t.clone()];
    }
    let name = args
        .scenario
        .as_ref()
        .map_or("the default world".to_string(), |p| p.display().to_string());
    let text = map_text(&scenario, args.partitions, &name);
    match &args.out {
        Some(p) => super::write_file(p, text.as_bytes())?,
        None => say(format_args!("{text}")),
    }
    Ok(EXIT_OK)
}

/// The map's text: one `KEY BACKEND` line per id and token (HAProxy's map format).
pub fn map_text(scenario: &Scenario, partitions: u32, name: &str) -> String {
    let mut out = format!(
        "# wabasim partition-map: {name}, {partitions} partitions (id or token -> HAProxy backend)\n"
    );
    for b in &scenario.world().businesses {
        let id = b.id.to_string();
        let backend = format!("p{}", partition_of(&id, partitions));
        let _ = writeln!(out, "{id} {backend}");
        for w in &b.wabas {
            let _ = writeln!(out, "{} {backend}", w.id);
            for n in &w.phone_numbers {
                let _ = writeln!(out, "{} {backend}", n.id);
            }
        }
        for t in &b.tokens {
            let _ = writeln!(out, "{t} {backend}");
        }
    }
    out
}
