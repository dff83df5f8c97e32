//! `wabasim simulate`: the same engine and the same scenario as `run`, on a virtual clock.
//!
//! A discrete-event loop with four sources of events, always taking the earliest (ties broken
//! in a fixed order, so the run is a pure function of the scenario and the seed):
//! 1. the traffic: the scenario's phases one after another, open-model arrivals from the same
//!    schedules the load generator uses, closed-model users sending again `think` after each
//!    message's final outcome;
//! 2. retries of throttled sends, on the sender policy's backoff schedule;
//! 3. the engine's own timers (status ladder, template reviews, and whatever else the engine
//!    schedules), fired with `fire_due` (`handle_timeouts` returning the next timer, which
//!    `poll_timeout` would give);
//! 4. an hourly tick that samples numbers and templates for the report's timelines.
//!
//! No sockets, no sleeps, no wall clock: a month of traffic runs in seconds. Responses are
//! instantaneous in virtual time, so latency is not measured here (that is `run`'s job).

pub mod collect;
pub mod report;
pub mod traffic;

use crate::clock::{SimTime, MICROS_PER_DAY, MICROS_PER_HOUR};
use crate::engine::Portfolios as Engine;
use crate::scenario::Scenario;
use crate::traffic::LoadPlan;
use collect::Collector;
use collect::Tally;
pub use report::SimReport;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use traffic::{Attempt, Traffic};

/// Simulated start when the scenario gives no `start_unix`: 2026-01-01T00:00:00Z. Fixed, so a
/// scenario without a start date still gives the same bytes on every machine and every day.
pub const DEFAULT_START_UNIX: u64 = 1_767_225_600;

/// How long the engine keeps running after the last message when `--days` is not given: enough
/// for statuses, reactions and reviews that follow the traffic to play out.
pub const SETTLE: u64 = MICROS_PER_DAY;

/// Options of one simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Stop at `start + days` (traffic cut there). `None`: the traffic's own length + [`SETTLE`].
    pub days: Option<f64>,
    /// Seed of the traffic choices and of the engine's audience.
    pub seed: u64,
}

/// Runs the scenario's traffic through a fresh engine in virtual time. `progress` is called
/// about once per simulated hour with (elapsed, total-if-known) in µs.
pub fn simulate(
    scenario: &Scenario,
    plan: &LoadPlan,
    cfg: &SimConfig,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<SimReport, String> {
    let start = SimTime::from_secs(scenario.start_unix.unwrap_or(DEFAULT_START_UNIX));
    // The report shows the ledger's exact totals, never its lines: keep none (building and
    // ringing a line per delivered message was 7 % of a simulation's instructions).
    let pricing = crate::scenario::PricingSection {
        ledger_lines: 0,
        ..scenario.pricing.clone()
    };
    let setup = crate::engine::build::Setup {
        pricing,
        seed: cfg.seed,
        ..scenario.setup()
    };
    let world =
        crate::engine::ValidWorld::new(scenario.world(), setup).map_err(|e| e.to_string())?;
    let engine = Engine::new(&world, start);
    let horizon = cfg
        .days
        .map(|d| start.plus((d * MICROS_PER_DAY as f64).round() as u64));
    let mut traffic = Traffic::new(plan, &engine, start, cfg.seed)?;
    let mut col = Collector::new(start, &engine, plan);
    let mut fx = Tally::default();
    let mut retries: BinaryHeap<Reverse<(SimTime, u64, usize)>> = BinaryHeap::new();
    let mut pending: Vec<Option<Attempt>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut retry_seq = 0u64;
    let mut next_tick = start.plus(MICROS_PER_HOUR);
    let mut traffic_end: Option<SimTime> = None;
    let mut now = start;
    // The core's next timer. Only firing timers can make it later, so it is polled after them;
    // a send or an inbound message can only add timers, which it reports in `Tally::wake_at`.
    let mut t_timer = engine.poll_timeout();
    // The traffic's next arrival changes only when the traffic acts (a send, a retry): it is
    // asked again only then.
    let mut t_traffic = traffic.peek();
    loop {
        let t_retry = retries.peek().map(|Reverse((t, _, _))| *t);
        if t_traffic.is_none() && t_retry.is_none() && traffic_end.is_none() {
            traffic_end = Some(now.max(traffic.ended_at()));
        }
        let end = horizon.unwrap_or_else(|| match traffic_end {
            Some(e) => e.plus(SETTLE),
            None => SimTime(u64::MAX),
        });
        // Earliest source; ties: engine timers, then retries, then new traffic, then the tick
        // (a tick samples the state after everything due at that instant).
        let mut t = end;
        let mut which = 4u8;
        for (cand, k) in [
            (t_timer, 0u8),
            (t_retry, 1),
            (t_traffic, 2),
            (Some(next_tick), 3),
        ] {
            if let Some(c) = cand {
                if c < t || (c == t && k < which) {
                    t = c;
                    which = k;
                }
            }
        }
        if which == 4 || t >= end {
            now = end.max(now);
            break;
        }
        now = t;
        match which {
            0 => {
                fx.clear();
                engine.handle_timeouts(now, &mut fx);
                col.effects(&fx);
                traffic.observe(&fx, now);
                t_timer = engine.poll_timeout();
            }
            1 => {
                let Reverse((_, _, slot)) = retries.pop().expect("peeked");
                let attempt = pending[slot].take().expect("pending retry");
                free.push(slot);
                fx.clear();
                let next = traffic.attempt(&engine, now, attempt, &mut fx, &mut col);
                t_traffic = traffic.peek();
                col.effects(&fx);
                traffic.observe(&fx, now);
                t_timer = earliest(t_timer, fx.wake_at);
                if let Some((at, a)) = next {
                    push_retry(&mut retries, &mut pending, &mut free, &mut retry_seq, at, a);
                }
            }
            2 => {
                fx.clear();
                let next = traffic.issue(&engine, now, &mut fx, &mut col);
                t_traffic = traffic.peek();
                col.effects(&fx);
                traffic.observe(&fx, now);
                t_timer = earliest(t_timer, fx.wake_at);
                if let Some((at, a)) = next {
                    push_retry(&mut retries, &mut pending, &mut free, &mut retry_seq, at, a);
                }
            }
            3 => {
                col.tick(now, &engine);
                next_tick = next_tick.plus(MICROS_PER_HOUR);
                progress(
                    now.since(start),
                    horizon
                        .or(traffic_end.map(|e| e.plus(SETTLE)))
                        .map(|e| e.since(start)),
                );
            }
            _ => unreachable!("no event source"),
        }
    }
    col.tick(now, &engine);
    let desk = plan.has_window_replies().then(|| traffic.desk_counts());
    let mut report = col.finish(&engine, scenario, cfg.seed, now, traffic.phase_summaries());
    report.conversations = desk;
    report.cost_compare = compare_costs(scenario, plan, cfg)?;
    Ok(report)
}

/// `[pricing] compare`: runs the same scenario again under each model and keeps its cost. The
/// pricing model changes no rule, so with the same seed the same messages are delivered (each
/// comparison records its `delivered` so the report shows it); the cost comes from the
/// engine's own pricers and the embedded rate cards, as in the main run. Costs one more
/// simulation per model, outside the main run's loop.
fn compare_costs(
    scenario: &Scenario,
    plan: &LoadPlan,
    cfg: &SimConfig,
) -> Result<Vec<report::CostComparison>, String> {
    let mut out = Vec::new();
    for model in &scenario.pricing.compare {
        let mut alt = scenario.clone();
        alt.pricing = scenario.pricing.for_comparison(model);
        let r = simulate(&alt, plan, cfg, &mut |_, _| {})
            .map_err(|e| format!("pricing.compare ({model}): {e}"))?;
        out.push(report::CostComparison {
            model: model.clone(),
            delivered: r.totals.delivered,
            cost: r.cost,
        });
    }
    Ok(out)
}

fn earliest(a: Option<SimTime>, b: Option<SimTime>) -> Option<SimTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn push_retry(
    heap: &mut BinaryHeap<Reverse<(SimTime, u64, usize)>>,
    pending: &mut Vec<Option<Attempt>>,
    free: &mut Vec<usize>,
    seq: &mut u64,
    at: SimTime,
    a: Attempt,
) {
    let slot = match free.pop() {
        Some(s) => {
            pending[s] = Some(a);
            s
        }
        None => {
            pending.push(Some(a));
            pending.len() - 1
        }
    };
    *seq += 1;
    heap.push(Reverse((at, *seq, slot)));
}
