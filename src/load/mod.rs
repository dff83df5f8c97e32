//! The scenario-driven load generator.
//!
//! Layout, from pure to I/O:
//! - [`spec`]: serde types of the `[traffic]` and `[thresholds]` scenario tables, with defaults.
//! - [`plan`]: the spec validated and resolved against the world (numbers, audience, templates).
//! - [`schedule`]: arrival schedules (open: rate, ramps, spikes; closed: users and think time) as
//!   pure functions of time.
//! - [`policy`]: the BSP sender policy under test: outcome classification, retry and backoff,
//!   per-number pacing. Pure.
//! - [`metrics`]: HDR histograms and bounded counters, mergeable.
//! - [`report`]: the versioned report model, merge, thresholds, exit codes, terminal summary.
//! - [`receiver`]: the embedded webhook receiver (hyper server on loopback).
//! - [`http`]: the minimal HTTP/1.1 client connection used on the hot path.
//! - [`runner`]: the async driver: fixed pool of keep-alive connections, schedules, retries,
//!   live progress, graceful stop.
//!
//! See `docs/load.md` for the user-facing reference.
pub mod http;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod receiver;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod spec;

pub use plan::{LoadPlan, PlanContext, PlanError, RecipientPool, Segment};
pub use report::{exit_code, Report};

pub use runner::{run, LoadError, RunOptions, Target};
