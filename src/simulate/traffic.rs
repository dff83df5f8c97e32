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
use crate::engine::events::EventBody;
use crate::engine::ids::{BusinessId, PhoneNumberId};
use crate::engine::Portfolios as Engine;
use crate::traffic::conversations::{Contact, DeskCounts};
use crate::traffic::pick::{Message, Pick, Picker, Recipient};
use crate::traffic::plan::Arrival;
use crate::traffic::policy::THROTTLE_CODES;
use crate::traffic::policy::{decide, Decision, FailKind, Outcome, Pacer, SERVER_ERROR_CODES};
use crate::traffic::schedule::{ClosedSchedule, OpenSchedule, RateProfile};
use crate::traffic::LoadPlan;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
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

/// Where one stream is: its current phase (a position in the stream's list), and that phase's
/// schedule and pacers. Streams advance independently; the traffic issues from whichever is
/// due first.
struct Cursor {
    stream: usize,
    /// Position in the stream's phase list; past the end when the stream is over.
    pos: usize,
    /// The current phase's index in the plan (valid while `pos` is in range).
    phase: usize,
    origin: SimTime,
    state: PhaseState,
    last_arrival: SimTime,
    pacers: Vec<Option<Pacer>>,
}

pub struct Traffic {
    plan: Arc<LoadPlan>,
    numbers: Vec<(BusinessId, PhoneNumberId)>,
    /// A business number's index in the plan, for the users who write to it.
    index: HashMap<PhoneNumberId, usize>,
    cursors: Vec<Cursor>,
    book: Book,
    /// The cursor whose arrival `peek` returned last.
    due: Option<usize>,
    picker: Picker,
}

/// What moving a cursor from phase to phase needs, apart from the cursors themselves (so a
/// cursor can be advanced while the others are borrowed).
struct Book {
    plan: Arc<LoadPlan>,
    /// Per plan phase, once it started.
    outlines: Vec<Option<PhaseOutline>>,
    seed: u64,
    n_numbers: usize,
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
        let mut book = Book {
            plan: plan.clone(),
            outlines: vec![None; plan.phases.len()],
            seed,
            n_numbers: numbers.len(),
        };
        let cursors = (0..plan.streams.len())
            .map(|k| {
                let origin = start.plus(plan.streams[k].start);
                let mut c = Cursor {
                    stream: k,
                    pos: 0,
                    phase: 0,
                    origin,
                    state: PhaseState::Done,
                    last_arrival: origin,
                    pacers: Vec::new(),
                };
                book.enter_phase(&mut c, 0, origin);
                c
            })
            .collect();
        let index = numbers
            .iter()
            .enumerate()
            .map(|(i, (_, id))| (*id, i))
            .collect();
        Ok(Traffic {
            index,
            picker: Picker::new(plan.clone(), seed),
            cursors,
            book,
            due: None,
            plan,
            numbers,
        })
    }

    /// The next new message's instant over all streams, moving each stream to its next phase
    /// when its current one is over. Ties go to the stream declared first.
    pub fn peek(&mut self) -> Option<SimTime> {
        let mut best: Option<(SimTime, usize)> = None;
        for (k, c) in self.cursors.iter_mut().enumerate() {
            if let Some(t) = self.book.peek(c) {
                if best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, k));
                }
            }
        }
        self.due = best.map(|(_, k)| k);
        best.map(|(t, _)| t)
    }
}

impl Book {
    fn enter_phase(&mut self, c: &mut Cursor, pos: usize, origin: SimTime) {
        c.pos = pos;
        c.origin = origin;
        c.last_arrival = origin;
        let Some(&i) = self.plan.streams[c.stream].phases.get(pos) else {
            c.state = PhaseState::Done;
            return;
        };
        c.phase = i;
        let p = &self.plan.phases[i];
        let end = p.duration.map(|d| origin.plus(d));
        c.pacers = (0..self.n_numbers)
            .map(|_| p.policy.per_number_rate.map(Pacer::new))
            .collect();
        self.outlines[i] = Some(PhaseOutline {
            name: p.name.clone(),
            model: if p.is_open() { "open" } else { "closed" },
            start: origin,
            end: origin,
            messages: 0,
        });
        c.state = match &p.arrival {
            Arrival::Open { process, .. } => PhaseState::Open(OpenSchedule::new(
                // Virtual time is Unix time: the rhythm's local hours are the phase's own.
                p.rate_profile(origin)
                    .unwrap_or_else(|| RateProfile::constant(0.0)),
                origin,
                end,
                p.messages,
                *process,
                self.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )),
            Arrival::Closed(sched) => {
                let mut users = BinaryHeap::with_capacity(sched.concurrency as usize);
                for vu in 0..sched.concurrency {
                    users.push(Reverse((sched.first_send(origin, vu), vu)));
                }
                PhaseState::Closed {
                    sched: *sched,
                    users,
                    end,
                    issued: 0,
                    waiting: 0,
                }
            }
        };
    }

    /// The cursor's next arrival, entering its next phases while the current one is over.
    fn peek(&mut self, c: &mut Cursor) -> Option<SimTime> {
        loop {
            let next = match &mut c.state {
                PhaseState::Done => return None,
                PhaseState::Open(s) => s.peek(),
                PhaseState::Closed {
                    users,
                    end,
                    issued,
                    waiting,
                    ..
                } => {
                    let limit = self.plan.phases[c.phase].messages;
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
            // The phase is over: its duration, or its last arrival.
            let end = match self.plan.phases[c.phase].duration {
                Some(d) => c.origin.plus(d),
                None => c.last_arrival,
            };
            if let Some(o) = &mut self.outlines[c.phase] {
                o.end = end;
            }
            self.enter_phase(c, c.pos + 1, end);
        }
    }
}

impl Traffic {
    /// When the last phase of any stream ended (after `peek` returned `None`).
    pub fn ended_at(&self) -> SimTime {
        self.book
            .outlines
            .iter()
            .flatten()
            .map(|o| o.end)
            .max()
            .unwrap_or_else(|| self.cursors.first().map_or(SimTime(0), |c| c.origin))
    }

    /// The phases that started, in plan order.
    pub fn phase_summaries(&self) -> Vec<Option<PhaseOutline>> {
        self.book.outlines.clone()
    }

    /// Issues the message due now (the caller has just seen it from `peek`).
    pub fn issue(
        &mut self,
        engine: &Engine,
        now: SimTime,
        fx: &mut Effects,
        col: &mut Collector,
    ) -> Option<(SimTime, Attempt)> {
        let k = self.due.take()?;
        let c = &mut self.cursors[k];
        let vu = match &mut c.state {
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
        c.last_arrival = now;
        let phase = c.phase;
        let pick = self.picker.pick(phase, now);
        if pick.recipient == Recipient::Dropped {
            // A reply with nobody to answer: not sent, counted.
            col.no_window(phase);
            self.user_done(now, vu, phase);
            return None;
        }
        if let Some(o) = &mut self.book.outlines[phase] {
            o.messages += 1;
        }
        let attempt = Attempt {
            pick,
            retries_done: 0,
            vu,
            paced: false,
        };
        col.message(attempt.pick.phase);
        self.attempt(engine, now, attempt, fx, col)
    }

    /// Tells the desk of every user message in `fx` (the traffic's own inbound messages and
    /// the audience's replies to templates alike): conversations to answer, with the user as
    /// the webhook shows them (by BSUID when it hides their number).
    pub fn observe(&mut self, fx: &Effects, now: SimTime) {
        for e in &fx.events {
            if let EventBody::Inbound {
                phone, from, user, ..
            } = &e.body
            {
                if let Some(&i) = self.index.get(&phone.id) {
                    let contact = if user.phone_shown {
                        Contact::Phone(*from)
                    } else {
                        Contact::UserId(user.user_id)
                    };
                    self.picker.wrote_in(i, contact, now);
                }
            }
        }
    }

    /// What the support desk counted.
    pub fn desk_counts(&self) -> DeskCounts {
        self.picker.desk_counts()
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
        // An agent answers once the agent delay has passed.
        if a.retries_done == 0 && a.pick.not_before > now {
            return Some((a.pick.not_before, a));
        }
        let (biz, phone) = self.numbers[a.pick.number];
        let stream = self.plan.phases[a.pick.phase].stream;
        if let (true, false) = (self.picker.is_send(&a.pick), a.paced) {
            // The stream's current phase paces its numbers (a retry of an earlier phase too).
            if let Some(Some(pacer)) = self.cursors[stream].pacers.get_mut(a.pick.number) {
                let slot = pacer.reserve(now);
                if slot > now {
                    a.paced = true;
                    return Some((slot, a));
                }
            }
        }
        a.paced = false;
        if a.retries_done == 0 && self.picker.by_user_id(&a.pick) {
            col.by_user_id();
        }
        let outcome = match self.picker.message(&a.pick) {
            Message::Send(out) => match engine.send(now, biz, phone, out, fx) {
                Ok(_) => Outcome::Ok,
                Err(rej) => {
                    col.refusal_rule(rej.rule);
                    outcome_of(rej.code.code() as i64)
                }
            },
            // The desk learns of the user's message from its event (see `observe`).
            Message::Inbound { from, text } => match engine.inbound(now, phone, from, text, fx) {
                Ok(_) => Outcome::Ok,
                Err(rej) => outcome_of(rej.code.code() as i64),
            },
            Message::Block { user } => block(engine, now, biz, phone, user, fx, col),
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
        let c = &mut self.cursors[self.plan.phases[phase].stream];
        if let (Some(vu), true) = (vu, phase == c.phase) {
            if let PhaseState::Closed {
                sched,
                users,
                waiting,
                ..
            } = &mut c.state
            {
                *waiting = waiting.saturating_sub(1);
                users.push(Reverse((sched.next_send(now), vu)));
            }
        }
    }
}

/// A one-user Block Users request, answered as the server answers it: a user who cannot be
/// blocked (not written in for 24 h, an id this portfolio did not issue, ...) fails the
/// request with 139100; a refusal of the request itself keeps its own code. A block is not a
/// send: its refusals are not counted by rule.
fn block(
    engine: &Engine,
    now: SimTime,
    biz: BusinessId,
    phone: PhoneNumberId,
    user: Contact,
    fx: &mut Effects,
    col: &mut Collector,
) -> Outcome {
    let failed = Outcome::Refused(crate::engine::errors::ErrorCode::BlockUsersFailed.code() as i64);
    let wa = match user {
        Contact::Phone(w) => w,
        Contact::UserId(u) => match engine.resolve_user_id(biz, phone, &u.to_string()) {
            Ok(w) => w,
            Err(_) => return failed,
        },
    };
    match engine.block_users(now, biz, phone, &[wa], fx) {
        Ok(outcomes) => match outcomes.first() {
            Some(Ok(_)) => {
                col.user_blocked();
                Outcome::Ok
            }
            _ => failed,
        },
        Err(rej) => outcome_of(rej.code.code() as i64),
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
