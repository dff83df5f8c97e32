//! `wabasim partition-map`: the HAProxy map that routes each request to the `serve
//! --partition I/N` instance owning its portfolio: every business, WABA and phone number id,
//! and every access token, of the scenario's world, with the backend (`p0`, `p1`, …) of its
//! partition. `deploy/haproxy.cfg` looks the id in the path up here first, then the token.

use super::{say, Failure, Outcome, EXIT_OK};
use crate::scenario::partition::Partitioning;
use crate::scenario::Scenario;
use crate::traffic::shard::MAX_SHARDS;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `wabasim partition-map`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct PartitionMapArgs {
    /// The scenario the partitions serve (the default world without it).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// How many partitions (the N of `serve --partition I/N`), assigned by the hash.
    #[arg(long, required_unless_present = "partition_file")]
    pub partitions: Option<u32>,
    /// The partition file the instances were given (`serve --partition-file`): its portfolios
    /// go to its partitions, and N is its number of partitions.
    #[arg(long, value_name = "FILE")]
    pub partition_file: Option<PathBuf>,
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
    scenario.expand_world();
    if let (Some(t), Some(b)) = (&args.token, scenario.businesses.first_mut()) {
        b.tokens = vec![t.clone()];
    }
    let partitioning = match (&args.partition_file, args.partitions) {
        (Some(path), n) => {
            let p = Partitioning::from_file("--partition-file", path, &scenario)
                .map_err(Failure::Usage)?;
            if let Some(n) = n.filter(|n| *n != p.count()) {
                return Err(Failure::Usage(format!(
                    "--partitions {n}: --partition-file {} lists {} partitions",
                    path.display(),
                    p.count()
                )));
            }
            p
        }
        (None, Some(n)) if n == 0 || n > MAX_SHARDS => {
            return Err(Failure::Usage(format!(
                "--partitions: between 1 and {MAX_SHARDS} (got {n})"
            )))
        }
        (None, Some(n)) => Partitioning::Hash { count: n },
        (None, None) => {
            return Err(Failure::Usage(
                "--partitions N or --partition-file FILE is needed".into(),
            ))
        }
    };
    let name = args
        .scenario
        .as_ref()
        .map_or("the default world".to_string(), |p| p.display().to_string());
    let text = map_text(&scenario, &partitioning, &name);
    match &args.out {
        Some(p) => super::write_file(p, text.as_bytes())?,
        None => say(format_args!("{text}")),
    }
    Ok(EXIT_OK)
}

/// The map's text: one `KEY BACKEND` line per id and token (HAProxy's map format).
pub fn map_text(scenario: &Scenario, partitioning: &Partitioning, name: &str) -> String {
    let how = match partitioning {
        Partitioning::Hash { .. } => "by the hash of the business ids",
        Partitioning::Listed { .. } => "as listed in the partition file",
    };
    let mut out = format!(
        "# wabasim partition-map: {name}, {} partitions {how} (id or token -> HAProxy backend)\n",
        partitioning.count()
    );
    for b in &scenario.world().businesses {
        let id = b.id.to_string();
        // Every business has an owner: a partition file missing one was refused on reading.
        let Some(owner) = partitioning.owner(&id) else {
            continue;
        };
        let backend = format!("p{owner}");
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
