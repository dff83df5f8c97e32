//! The traffic model shared by `run` (real HTTP) and `simulate` (virtual time): what to send,
//! when, to whom, and what a sender does with each answer. Pure data and pure functions, below
//! both doors, so the two replay the same plan the same way and neither borrows from the other.
//!
//! - [`spec`]: serde types of the `[traffic]` and `[thresholds]` scenario tables, with defaults.
//! - [`plan`]: the spec validated and resolved against the world (numbers, audience, templates).
//! - [`schedule`]: arrival schedules (open: rate, ramps, spikes; closed: users and think time) as
//!   pure functions of time.
//! - [`rhythm`]: daily rhythms: the open-model rate by local hour and weekday (fixed UTC offsets).
//! - [`policy`]: the BSP sender policy under test: outcome classification, retry and backoff,
//!   per-number pacing.
//! - [`pattern`]: texts with `{seq}`, `{wa_id}` and `{phase}` placeholders.
//! - [`conversations`]: the support desk: who waits for an answer on which number, and
//!   whether their window is open.
//! - [`pick`]: the per-message choice (number, recipient, content) as domain data, with
//!   `compose` writing the content.
//! - [`shard`]: one scenario's traffic split between N generators (`run --shard I/N`).
//! - [`thresholds`]: the `metric[phase] op value` grammar of `[thresholds] checks`.
mod compose;
pub mod conversations;
pub mod pattern;
pub mod pick;
pub mod plan;
pub mod policy;
pub mod rhythm;
pub mod schedule;
pub mod shard;
pub mod spec;
pub mod thresholds;

pub use plan::{LoadPlan, PlanContext, PlanError, RecipientPool, Segment};
