//! The scenario-driven load generator.
//!
//! It drives a plan from [`crate::traffic`] (spec, plan, schedules, sender policy: the model it
//! shares with `simulate`) over real HTTP. Layout, from pure to I/O:
//! - [`metrics`]: HDR histograms and bounded counters, mergeable.
//! - [`report`]: the versioned report model, merge, thresholds, exit codes, terminal summary.
//! - [`receiver`]: the embedded webhook receiver (hyper server on loopback).
//! - [`wire`]: the Graph request bodies, written from the traffic model's picks.
//! - [`http`]: the minimal HTTP/1.1 client connection used on the hot path.
//! - [`runner`]: the async driver: fixed pool of keep-alive connections, schedules, retries,
//!   live progress, graceful stop.
//!
//! See `docs/load.md` for the user-facing reference.
pub mod ci;
pub mod http;
pub mod metrics;
pub mod receiver;
pub mod report;
pub mod runner;
pub mod wire;

pub use report::{exit_code, Report};

pub use runner::{run, LoadError, RunOptions, Target};
