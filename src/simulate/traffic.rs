//! The scenario's `[traffic]` in virtual time: which message goes out when, from which number,
//! to whom, and what the sender policy does with the answer.
//!
//! Which message, from which number, to whom is the shared [`Picker`]'s choice (the same the load
//! generator makes); retries follow the policy's backoff schedule. The picker's one seeded RNG
//! also draws the retry jitter, in event order, so the same scenario and seed give the same
//! traffic.

use super::collect::Collector;
use super::collect::Tally as Effects;
use crate::clock::SimTime;
use crate::engine::ids::{BusinessId, PhoneNumberId};
use crate::engine::Portfolios as Engine;
use crate::traffic::pick::{Message, Pick, Picker};
use crate::traffic::plan::Arrival;
use crate::traffic::policy::THROTTLE_CODES;
use crate::traffic::policy::{decide, Decision, FailKind, Outcome, Pacer, SERVER_ERROR_CODES};
use crate::traffic::schedule::{ClosedSchedule, OpenSchedule};
use crate::traffic::LoadPlan;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// One message on its way: its pick (the recipe the picker writes it from again on each try,
/// so a message in flight holds no strings) and how many times it has been tried.
#[derive(Debug)]
pub struct Attempt {
    pick: Pick,
    retries_done: u32,
    /// Closed model: the virtual user waiting for this message's final outcome.
    vu: Option<u32>,
    /// Waiting for a pacing slot, not a retry.
    paced: bool,
}

enum PhaseState {
    Open(OpenSchedule),
    Closed {
        sched: ClosedSchedule,
        users: BinaryHeap<Reverse<(SimTime, u32)>>,
        end: Option<SimTime>,
        issued: u64,
        /// Users whose message is waiting out a backoff: the phase is not over while any are.
        waiting: u32,
    },
    Done,
}

/// Per-phase outline for the report.
#[derive(Clone, Debug, Default)]
pub struct PhaseOutline {
    pub name: String,
    pub model: &'static str,
    pub start: SimTime,
    pub end: SimTime,
    pub messages: u64,
}

pub struct Traffic {
    plan: Arc<LoadPlan>,
    numbers: Vec<(BusinessId, PhoneNumberId)>,
    current: usize,
    origin: SimTime,
    state: PhaseState,
    last_arrival: SimTime,
    pacers: Vec<Option<Pacer>>,
    outlines: Vec<PhaseOutline>,
    seed: u64,
    picker: Picker,
}

impl Traffic {
    pub fn new(
        plan: &LoadPlan,
        engine: &Engine,
        start: SimTime,
        seed: u64,
    ) -> Result<Traffic, String> {
        let snap = engine.snapshot();
        let mut numbers = Vec::with_capacity(plan.numbers.len());
        for id in &plan.numbers {
            let n = snap
                .numbers
                .iter()
                .find(|n| n.id.to_string() == *id)
                .ok_or_else(|| format!("traffic: phone number {id} is not in the world"))?;
            numbers.push((n.business_id, n.id));
        }
        for (i, p) in plan.phases.iter().enumerate() {
            if let Arrival::Closed(c) = &p.arrival {
                if c.think == 0 {
                    return Err(format!(
                        "traffic.phases[{i}] ({:?}).closed.think: must be more than 0 for `simulate`: \
                         responses take no virtual time, so users with no think time would send \
                         infinitely fast",
                        p.name
                    ));
                }
            }
        }
        let plan = Arc::new(plan.clone());
        let mut t = Traffic {
            picker: Picker::new(plan.clone(), seed),
            plan,
            numbers,
            current: 0,
            origin: start,
            state: PhaseState::Done,
            last_arrival: start,
            pacers: Vec::new(),
            outlines: Vec::new(),
            seed,
        };
        t.enter_phase(0, start);
        Ok(t)
    }

    fn enter_phase(&mut self, i: usize, origin: SimTime) {
        self.current = i;
        self.origin = origin;
        self.last_arrival = origin;
        let Some(p) = self.plan.phases.get(i) else {
            self.state = PhaseState::Done;
            return;
        };
        let end = p.duration.map(|d| origin.plus(d));
        self.pacers = self
            .numbers
            .iter()
            .map(|_| p.policy.per_number_rate.map(Pacer::new))
            .collect();
        self.outlines.push(PhaseOutline {
            name: p.name.clone(),
            model: if p.is_open() { "open" } else { "closed" },
            start: origin,
            end: origin,
            messages: 0,
        });
        self.state = match &p.arrival {
            Arrival::Open { profile, process } => PhaseState::Open(OpenSchedule::new(
                profile.clone(),
                origin,
                end,
                p.messages,
                *process,
                self.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )),
            Arrival::Closed(c) => {
                let mut users = BinaryHeap::with_capacity(c.concurrency as usize);
                for vu in 0..c.concurrency {
                    users.push(Reverse((c.first_send(origin, vu), vu)));
                }
                PhaseState::Closed {
                    sched: *c,
                    users,
                    end,
                    issued: 0,
                    waiting: 0,
                }
            }
        };
    }

    /// When the current phase ends if nothing more arrives: its duration, or its last arrival.
    fn phase_end(&self) -> SimTime {
        match self.plan.phases.get(self.current).and_then(|p| p.duration) {
            Some(d) => self.origin.plus(d),
            None => self.last_arrival,
        }
    }

    /// The next new message's instant, moving to the next phase when this one is over.
    pub fn peek(&mut self) -> Option<SimTime> {
        loop {
            let next = match &mut self.state {
                PhaseState::Done => return None,
                PhaseState::Open(s) => s.peek(),
                PhaseState::Closed {
                    users,
                    end,
                    issued,
                    waiting,
                    ..
                } => {
                    let limit = self.plan.phases[self.current].messages;
                    let open = limit.is_none_or(|l| *issued < l);
                    match users.peek() {
                        Some(Reverse((t, _))) if end.is_none_or(|e| *t < e) && open => Some(*t),
                        // Users still in a backoff will come back: not over yet (the caller's
                        // retry queue is not empty, so the simulation goes on).
                        None if *waiting > 0 && open => return None,
                        _ => None,
                    }
                }
            };
            if next.is_some() {
                return next;
            }
            let end = self.phase_end();
            if let Some(o) = self.outlines.last_mut() {
                o.end = end;
            }
            self.enter_phase(self.current + 1, end);
        }
    }

    /// When the last phase ended (after `peek` returned `None`).
    pub fn ended_at(&self) -> SimTime {
        self.outlines.last().map_or(self.origin, |o| o.end)
    }

    pub fn phase_summaries(&self) -> Vec<PhaseOutline> {
        self.outlines.clone()
    }

    /// Issues the message due now (the caller has just seen it from `peek`).
    pub fn issue(
        &mut self,
        engine: &Engine,
        now: SimTime,
        fx: &mut Effects,
        col: &mut Collector,
    ) -> Option<(SimTime, Attempt)> {
        let vu = match &mut self.state {
            PhaseState::Open(s) => {
                s.pop();
                None
            }
            PhaseState::Closed {
                users,
                issued,
                waiting,
                ..
            } => {
                let Reverse((_, vu)) = users.pop()?;
                *issued += 1;
                *waiting += 1;
                Some(vu)
            }
            PhaseState::Done => return None,
        };
        self.last_arrival = now;
        if let Some(o) = self.outlines.last_mut() {
            o.messages += 1;
        }
        let attempt = Attempt {
            pick: self.picker.pick(self.current),
            retries_done: 0,
            vu,
            paced: false,
        };
        col.message(attempt.pick.phase);
        self.attempt(engine, now, attempt, fx, col)
    }

    /// Tries `a` now; returns when to try again (a retry or a pacing slot), if ever.
    pub fn attempt(
        &mut self,
        engine: &Engine,
        now: SimTime,
        mut a: Attempt,
        fx: &mut Effects,
        col: &mut Collector,
    ) -> Option<(SimTime, Attempt)> {
        fx.clear();
        let (biz, phone) = self.numbers[a.pick.number];
        if let (false, false) = (self.picker.is_inbound(&a.pick), a.paced) {
            if let Some(Some(pacer)) = self.pacers.get_mut(a.pick.number) {
                let slot = pacer.reserve(now);
                if slot > now {
                    a.paced = true;
                    return Some((slot, a));
                }
            }
        }
        a.paced = false;
        let outcome = match self.picker.message(&a.pick) {
            Message::Send(out) => match engine.send(now, biz, phone, out, fx) {
                Ok(_) => Outcome::Ok,
                Err(rej) => {
                    col.refusal_rule(rej.rule);
                    outcome_of(rej.code.code() as i64)
                }
            },
            Message::Inbound { from, text } => match engine.inbound(now, phone, from, text, fx) {
                Ok(_) => {
                    self.picker.wrote_in(from);
                    Outcome::Ok
                }
                Err(rej) => outcome_of(rej.code.code() as i64),
            },
        };
        let phase = a.pick.phase;
        col.request(now, phase, outcome);
        let policy = &self.plan.phases[phase].policy;
        match decide(policy, outcome, a.retries_done, self.picker.rng()) {
            Decision::Retry { after, reason } => {
                col.retry(phase, reason);
                a.retries_done += 1;
                Some((now.plus(after), a))
            }
            Decision::GiveUp { .. } => {
                col.gave_up(phase);
                self.user_done(now, a.vu, phase);
                None
            }
            Decision::Done => {
                self.user_done(now, a.vu, phase);
                None
            }
        }
    }

    /// A closed-model user whose message is final thinks, then sends again (in its phase only).
    fn user_done(&mut self, now: SimTime, vu: Option<u32>, phase: usize) {
        if let (Some(vu), true) = (vu, phase == self.current) {
            if let PhaseState::Closed {
                sched,
                users,
                waiting,
                ..
            } = &mut self.state
            {
                *waiting = waiting.saturating_sub(1);
                users.push(Reverse((sched.next_send(now), vu)));
            }
        }
    }
}

/// The load generator's classes for an engine error code (docs/load.md): throttling codes are
/// throttled, server-side codes failed, every other code a refusal by policy.
fn outcome_of(code: i64) -> Outcome {
    if THROTTLE_CODES.contains(&code) {
        Outcome::Throttled(code)
    } else if SERVER_ERROR_CODES.contains(&code) {
        Outcome::Failed(FailKind::ServerCode(code))
    } else {
        Outcome::Refused(code)
    }
}
