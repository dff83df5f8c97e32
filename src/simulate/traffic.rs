//! The scenario's `[traffic]` in virtual time: which message goes out when, from which number,
//! to whom, and what the sender policy does with the answer.
//!
//! The choices follow the load generator's rules (docs/load.md): the mix by weight, recipients
//! new / returning / hot per segment with one cursor per segment (no per-recipient memory),
//! numbers round-robin, replies to users who wrote in (a ring of the last 4,096), retries on the
//! policy's backoff schedule. Everything is drawn from one seeded RNG in event order, so the
//! same scenario and seed give the same traffic.

use super::collect::Collector;
use super::collect::Tally as Effects;
use crate::clock::SimTime;
use crate::engine::ids::{BusinessId, PhoneNumberId, WaId};
use crate::engine::message::{Content, FreeFormKind, Outbound};
use crate::engine::templates::{TemplateParam, TemplateSend};
use crate::engine::Portfolios as Engine;
use crate::traffic::pattern::Pattern;
use crate::traffic::plan::{Arrival, MixKind, PhasePlan, RecipientPool};
use crate::traffic::policy::THROTTLE_CODES;
use crate::traffic::policy::{decide, Decision, FailKind, Outcome, Pacer, SERVER_ERROR_CODES};
use crate::traffic::schedule::{ClosedSchedule, OpenSchedule};
use crate::traffic::spec::ReplyTarget;
use crate::traffic::LoadPlan;
use rand::Rng;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Users remembered as having written in, for `text = { to = "window" }` replies.
const WINDOW_RING: usize = 4096;

/// One message on its way: what, from where, and how many times it has been tried.
#[derive(Debug)]
pub struct Attempt {
    phase: usize,
    number: usize,
    what: What,
    retries_done: u32,
    /// Closed model: the virtual user waiting for this message's final outcome.
    vu: Option<u32>,
    /// Waiting for a pacing slot, not a retry.
    paced: bool,
}

/// A message as its recipe: the mix entry, the recipient and the sequence number its
/// placeholders expand with. The message itself is written into [`Traffic`]'s reusable scratch
/// when it is tried (again on a retry, with the same result), so a message in flight costs 24
/// bytes and no allocation.
#[derive(Debug)]
struct What {
    kind: usize,
    to: WaId,
    seq: u64,
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
    plan: LoadPlan,
    numbers: Vec<(BusinessId, PhoneNumberId)>,
    current: usize,
    origin: SimTime,
    state: PhaseState,
    last_arrival: SimTime,
    rng: Pcg64Mcg,
    cursors: Vec<u64>,
    round_robin: u64,
    seq: u64,
    window: VecDeque<WaId>,
    pacers: Vec<Option<Pacer>>,
    outlines: Vec<PhaseOutline>,
    seed: u64,
    scratch: String,
    wa: String,
    /// The (phase, mix entry) whose template `out` holds, parameters included: the next
    /// message of that entry rewrites only what differs (see [`Pattern::expand_again`]).
    holds: Option<(usize, usize)>,
    /// The outbound message being tried, rewritten in place (its strings keep their capacity).
    out: Outbound,
    /// Per pool (segment): how to compute a recipient's id without formatting it.
    numeric: Vec<Option<NumericPool>>,
    /// Per phase, per mix entry: its texts (template parameters, or the one body) parsed.
    patterns: Vec<Vec<Vec<Pattern>>>,
}

/// A `Sequence` pool whose ids are `prefix` digits then `start + i` zero-padded: its
/// [`WaId`]s are computed arithmetically, exactly as parsing the formatted id would give.
#[derive(Clone, Copy, Debug)]
struct NumericPool {
    prefix: u64,
    prefix_digits: u32,
    start: u64,
    count: u64,
    digits: u32,
}

impl NumericPool {
    /// `None` for pools whose text needs [`WaId::parse_lenient`]'s full rules (lists,
    /// prefixes with punctuation, a `+` then `0`).
    fn of(pool: &RecipientPool) -> Option<NumericPool> {
        let RecipientPool::Sequence {
            prefix,
            start,
            count,
            digits,
        } = pool
        else {
            return None;
        };
        if prefix.len() > 15 || !prefix.bytes().all(|b| b.is_ascii_digit()) || *digits > 15 {
            return None;
        }
        Some(NumericPool {
            prefix: if prefix.is_empty() {
                0
            } else {
                prefix.parse().ok()?
            },
            prefix_digits: prefix.len() as u32,
            start: *start,
            count: *count,
            digits: *digits as u32,
        })
    }

    /// The id of recipient `i`; `WaId(0)` where the text would not parse (too few or too
    /// many digits), as the text path gives.
    fn wa_id(&self, i: u64) -> WaId {
        let n = self.start.saturating_add(i % self.count.max(1));
        let n_digits = n.checked_ilog10().map_or(1, |d| d + 1).max(self.digits);
        let total = self.prefix_digits + n_digits;
        if !(5..=15).contains(&total) {
            return WaId(0);
        }
        WaId(self.prefix * 10u64.pow(n_digits) + n)
    }
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
        let mut t = Traffic {
            plan: plan.clone(),
            numbers,
            current: 0,
            origin: start,
            state: PhaseState::Done,
            last_arrival: start,
            rng: Pcg64Mcg::seed_from_u64(seed ^ 0x5EED_7AFF_1C00_0001),
            cursors: vec![0; plan.segments.len()],
            round_robin: 0,
            seq: 0,
            window: VecDeque::with_capacity(WINDOW_RING),
            pacers: Vec::new(),
            outlines: Vec::new(),
            seed,
            scratch: String::new(),
            wa: String::new(),
            holds: None,
            out: Outbound::text(WaId(0), ""),
            numeric: plan
                .segments
                .iter()
                .map(|s| NumericPool::of(&s.pool))
                .collect(),
            patterns: plan
                .phases
                .iter()
                .map(|p| {
                    p.mix
                        .iter()
                        .map(|(_, kind)| match kind {
                            MixKind::Template { params, .. } => {
                                params.iter().map(|t| Pattern::parse(t)).collect()
                            }
                            MixKind::Text { body: t, .. } | MixKind::Inbound { text: t } => {
                                vec![Pattern::parse(t)]
                            }
                        })
                        .collect()
                })
                .collect(),
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
        let attempt = self.pick(vu);
        col.message(attempt.phase);
        self.attempt(engine, now, attempt, fx, col)
    }

    /// What the next message is: mix entry, number, recipient.
    fn pick(&mut self, vu: Option<u32>) -> Attempt {
        let phase_i = self.current;
        self.seq += 1;
        let (kind_idx, number) = {
            let p = &self.plan.phases[phase_i];
            let draw = self.rng.gen_range(0..p.mix_total.max(1));
            let idx = p
                .mix
                .iter()
                .position(|(cum, _)| draw < *cum)
                .unwrap_or(p.mix.len() - 1);
            let number = p.numbers[(self.round_robin % p.numbers.len() as u64) as usize];
            (idx, number)
        };
        self.round_robin += 1;
        let wants_window = matches!(
            self.plan.phases[phase_i].mix[kind_idx].1,
            MixKind::Text {
                to: ReplyTarget::Window,
                ..
            }
        );
        let to = match (wants_window, self.window.is_empty()) {
            (true, false) => {
                let i = self.rng.gen_range(0..self.window.len());
                self.window[i]
            }
            _ => self.recipient(phase_i),
        };
        Attempt {
            phase: phase_i,
            number,
            what: What {
                kind: kind_idx,
                to,
                seq: self.seq,
            },
            retries_done: 0,
            vu,
            paced: false,
        }
    }

    /// A recipient per the phase's segments, returning share and hot users.
    fn recipient(&mut self, phase_i: usize) -> WaId {
        let p = &self.plan.phases[phase_i];
        let total = p.segments.last().map_or(0.0, |s| s.1);
        let x = self.rng.gen::<f64>() * total;
        let seg = p
            .segments
            .iter()
            .find(|(_, cum)| x < *cum)
            .or(p.segments.last())
            .map_or(0, |s| s.0);
        let pool = &self.plan.segments[seg].pool;
        let len = pool.len().max(1);
        let cursor = &mut self.cursors[seg];
        let i = if p.hot > 0 && self.rng.gen::<f64>() < p.hot_share {
            self.rng.gen_range(0..p.hot.min(len))
        } else if *cursor >= len || (*cursor > 0 && self.rng.gen::<f64>() < p.returning) {
            self.rng.gen_range(0..(*cursor).clamp(1, len))
        } else {
            *cursor += 1;
            *cursor - 1
        };
        if let Some(n) = &self.numeric[seg] {
            return n.wa_id(i);
        }
        self.wa.clear();
        pool.write(i, &mut self.wa);
        WaId::parse_lenient(&self.wa).unwrap_or(WaId(0))
    }

    /// Writes the message of `what` (phase `phase_i`) into `self.out`, or returns the inbound
    /// text (in `self.scratch`) for an inbound mix entry.
    fn materialize(&mut self, phase_i: usize, what: &What) -> Option<&str> {
        let p: &PhasePlan = &self.plan.phases[phase_i];
        let patterns = &self.patterns[phase_i][what.kind];
        let to = what.to;
        // `again`: `out` holds this pattern's previous expansion.
        let expand_into = |out: &mut String, wa: &mut String, i: usize, again: bool| {
            let pattern = &patterns[i];
            // The recipient's digits only when a placeholder needs them.
            if wa.is_empty() && pattern.uses_wa_id() {
                wa.push_str(itoa::Buffer::new().format(to.0));
            }
            if again {
                pattern.expand_again(out, what.seq, wa, &p.name);
            } else {
                pattern.expand(out, what.seq, wa, &p.name);
            }
        };
        let again = self.holds == Some((phase_i, what.kind));
        self.wa.clear();
        self.out.to = to;
        self.out.recipient_identity_key_hash = None;
        match &p.mix[what.kind].1 {
            MixKind::Template {
                name,
                language,
                params,
                identity_first_seen,
            } => {
                if !again
                    && !matches!(&self.out.content, Content::Template(t) if t.name == *name && t.language == *language && t.header.is_empty())
                {
                    self.out.content = Content::Template(TemplateSend {
                        name: name.clone(),
                        language: language.clone(),
                        header: Vec::new(),
                        body: Vec::new(),
                    });
                }
                let Content::Template(t) = &mut self.out.content else {
                    unreachable!("set just above")
                };
                t.body.resize_with(params.len(), || TemplateParam {
                    name: None,
                    text: Some(String::new()),
                });
                for (i, param) in t.body.iter_mut().enumerate() {
                    param.name = None;
                    expand_into(
                        param.text.get_or_insert_with(String::new),
                        &mut self.wa,
                        i,
                        again,
                    );
                }
                self.holds = Some((phase_i, what.kind));
                if *identity_first_seen {
                    let h = crate::engine::identity::key_hash(self.seed, to, 0);
                    self.out.recipient_identity_key_hash =
                        Some(crate::engine::identity::key_hash_string(&h).into());
                }
                None
            }
            MixKind::Text { .. } => {
                self.holds = None;
                if !matches!(
                    &self.out.content,
                    Content::FreeForm {
                        kind: FreeFormKind::Text,
                        text: Some(_)
                    }
                ) {
                    self.out.content = Content::FreeForm {
                        kind: FreeFormKind::Text,
                        text: Some(String::new()),
                    };
                }
                if let Content::FreeForm { text: Some(t), .. } = &mut self.out.content {
                    expand_into(t, &mut self.wa, 0, false);
                }
                None
            }
            MixKind::Inbound { .. } => {
                expand_into(&mut self.scratch, &mut self.wa, 0, false);
                Some(self.scratch.as_str())
            }
        }
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
        let (biz, phone) = self.numbers[a.number];
        let inbound = matches!(
            self.plan.phases[a.phase].mix[a.what.kind].1,
            MixKind::Inbound { .. }
        );
        if let (false, false) = (inbound, a.paced) {
            if let Some(Some(pacer)) = self.pacers.get_mut(a.number) {
                let slot = pacer.reserve(now);
                if slot > now {
                    a.paced = true;
                    return Some((slot, a));
                }
            }
        }
        a.paced = false;
        let from = a.what.to;
        let outcome = match self.materialize(a.phase, &a.what) {
            None => match engine.send(now, biz, phone, &self.out, fx) {
                Ok(_) => Outcome::Ok,
                Err(rej) => {
                    col.refusal_rule(rej.rule);
                    outcome_of(rej.code.code() as i64)
                }
            },
            Some(text) => match engine.inbound(now, phone, from, text, fx) {
                Ok(_) => {
                    if self.window.len() == WINDOW_RING {
                        self.window.pop_front();
                    }
                    self.window.push_back(from);
                    Outcome::Ok
                }
                Err(rej) => outcome_of(rej.code.code() as i64),
            },
        };
        col.request(now, a.phase, outcome);
        let policy = &self.plan.phases[a.phase].policy;
        match decide(policy, outcome, a.retries_done, &mut self.rng) {
            Decision::Retry { after, reason } => {
                col.retry(a.phase, reason);
                a.retries_done += 1;
                Some((now.plus(after), a))
            }
            Decision::GiveUp { .. } => {
                col.gave_up(a.phase);
                self.user_done(now, a.vu, a.phase);
                None
            }
            Decision::Done => {
                self.user_done(now, a.vu, a.phase);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The arithmetic ids equal what formatting and parsing the text gives, including the
    /// edges (too few or too many digits, padding, wrap-around), and pools it cannot do are
    /// left to the text path.
    #[test]
    fn numeric_pool_ids_equal_the_parsed_text() {
        let pools = [
            ("62812", 0, 1_000_000, 7),
            ("4915", 990, 20, 8),
            ("", 12_345, 10, 0),
            ("", 7, 3, 2),             // 2 digits: too short, WaId(0)
            ("1", 999_999_999, 5, 12), // 13 digits
            ("123456", 5, 10, 10),     // 16 digits: too long, WaId(0)
            ("9", 95, 10, 1),          // grows past `digits`
            ("62", 0, 0, 9),           // empty pool indexes as one
            ("0812", 3, 100, 6),       // leading zero: counted as a digit, not in the value
        ];
        for (prefix, start, count, digits) in pools {
            let pool = RecipientPool::Sequence {
                prefix: prefix.into(),
                start,
                count,
                digits,
            };
            let n = NumericPool::of(&pool).expect("a digit prefix is numeric");
            for i in [0, 1, 2, 9, 10, 11, 999, 1_000_001, u64::MAX / 3] {
                let mut text = String::new();
                pool.write(i, &mut text);
                let want = WaId::parse_lenient(&text).unwrap_or(WaId(0));
                assert_eq!(n.wa_id(i), want, "{prefix:?} {start} {count} {digits} {i}");
            }
        }
        for prefix in ["+62", "+0", "62-81", "abc"] {
            let pool = RecipientPool::Sequence {
                prefix: prefix.into(),
                start: 0,
                count: 10,
                digits: 8,
            };
            assert!(NumericPool::of(&pool).is_none(), "{prefix}");
        }
        let list = RecipientPool::List {
            wa_ids: vec!["628120000001".into()],
        };
        assert!(NumericPool::of(&list).is_none());
    }
}
