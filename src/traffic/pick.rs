//! The per-message choice `run` and `simulate` share: which business number sends, to whom, and
//! what. One seeded RNG, drawn in a fixed order, so the same plan and seed give the same picks
//! whichever door asks (`simulate` replays them byte for byte; `run` asks from many tasks, behind
//! its own lock, so its order follows the wall clock).
//!
//! Per pick, in this order: the mix entry by weight; then the recipient: an entry with
//! `to = "window"` answers the conversation the [`Desk`] says is ready first on the phase's
//! numbers, from the number the user wrote to; one with `to = "wrote_in"` draws one of the
//! users who wrote to the sending number (both as the business knows them: by phone, or by
//! BSUID when the user hides their number); otherwise the segment by weight, then hot /
//! returning / new (one cursor per segment, so "new" and "returning" need no per-recipient
//! memory). Numbers go round-robin by sequence number (except for window replies). A shard of a
//! sharded run (`plan.shard`) draws from its own recipients and numbers its messages as the
//! whole run would ([`crate::traffic::shard`]). The content is written separately ([`Picker::message`]), from the pick alone, so a
//! door can keep a pick (a few words) while a message waits for a retry and write it again.

use super::compose::Composer;
use super::conversations::{Answer, Contact, Desk, DeskCounts};
use super::plan::{LoadPlan, MixKind, RecipientPool};
use super::spec::ReplyTarget;
use crate::clock::SimTime;
use crate::engine::ids::WaId;
use crate::engine::message::Outbound;
use rand::Rng;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use std::sync::Arc;

/// One message decided: the recipe its content is written from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    /// Index of the phase in the plan.
    pub phase: usize,
    /// Index of the sending number in [`LoadPlan::numbers`].
    pub number: usize,
    /// Index of the mix entry in the phase's `mix`.
    pub kind: usize,
    /// The recipient (for an inbound entry: the user who writes; for a block: the user
    /// blocked).
    pub to: Contact,
    /// The message's sequence number in the run, from 1: `{seq}` in texts.
    pub seq: u64,
    /// How the recipient was chosen, for the per-phase recipient counts.
    pub recipient: Recipient,
    /// Not to be sent before this instant: an agent answers once the agent delay has passed
    /// (`SimTime(0)` for every other pick).
    pub not_before: SimTime,
}

/// How a recipient was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// The next user of the segment never messaged before.
    New,
    /// A user of the segment messaged before.
    Returning,
    /// One of the phase's hot users.
    Hot,
    /// A user who wrote in (a window or `wrote_in` reply).
    Window,
    /// A window reply that found nobody to answer (`no_window = "drop"`): nothing is sent.
    Dropped,
}

/// What a pick asks the door to do, as domain data.
#[derive(Debug)]
pub enum Message<'a> {
    /// Send this message from the pick's number.
    Send(&'a Outbound),
    /// The user `from` writes `text` to the pick's number.
    Inbound { from: WaId, text: &'a str },
    /// The pick's number blocks `user`.
    Block { user: Contact },
}

/// The picker: plain `&mut self`; a concurrent door puts it behind its own lock.
pub struct Picker {
    plan: Arc<LoadPlan>,
    rng: Pcg64Mcg,
    /// Per segment: how many of its users have been messaged (users `0..cursor`).
    cursors: Vec<u64>,
    seq: u64,
    desk: Desk,
    /// Per segment: how to compute a recipient's id without formatting it.
    numeric: Vec<Option<NumericPool>>,
    /// Scratch for recipients whose id must be formatted and parsed.
    wa: String,
    compose: Composer,
}

impl Picker {
    /// A picker for `plan`, its draws seeded by `seed` (the run's seed: identity hashes use it
    /// too, as the server's audience does).
    pub fn new(plan: Arc<LoadPlan>, seed: u64) -> Picker {
        Picker {
            // Shards draw independently (shard 0, and a whole run, as before).
            rng: Pcg64Mcg::seed_from_u64(
                seed ^ 0x5EED_7AFF_1C00_0001
                    ^ u64::from(plan.shard.index).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ),
            cursors: vec![0; plan.segments.len()],
            seq: 0,
            desk: Desk::new(plan.desk.clone(), plan.numbers.len()),
            numeric: plan
                .segments
                .iter()
                .map(|s| NumericPool::of(&s.pool))
                .collect(),
            wa: String::new(),
            compose: Composer::new(&plan, seed),
            plan,
        }
    }

    /// The picker's RNG. `simulate` draws its retry jitter from it too, in event order, so one
    /// stream decides a whole simulated run.
    pub fn rng(&mut self) -> &mut Pcg64Mcg {
        &mut self.rng
    }

    /// Decides the next message of phase `phase` at `now`.
    pub fn pick(&mut self, phase: usize, now: SimTime) -> Pick {
        self.seq += 1;
        // A shard's k-th message is the run's message k·N + I (see `shard`).
        let seq = self.plan.shard.global(self.seq - 1) + 1;
        let p = &self.plan.phases[phase];
        let draw = self.rng.gen_range(0..p.mix_total.max(1));
        let kind = p
            .mix
            .iter()
            .position(|(cum, _)| draw < *cum)
            .unwrap_or(p.mix.len() - 1);
        let number = p.numbers[((seq - 1) % p.numbers.len() as u64) as usize];
        let target = p.mix[kind].1.target();
        let mut pick = Pick {
            phase,
            number,
            kind,
            to: Contact::Phone(WaId(0)),
            seq,
            recipient: Recipient::Dropped,
            not_before: SimTime(0),
        };
        match target {
            ReplyTarget::Window => match self.desk.answer(&p.numbers, now) {
                Answer::Reply { number, to, at } => {
                    pick.number = number;
                    pick.to = to;
                    pick.recipient = Recipient::Window;
                    pick.not_before = at;
                    return pick;
                }
                Answer::Drop => return pick,
                Answer::Anyone => {}
            },
            ReplyTarget::WroteIn => {
                if let Some(recent) = self.desk.recent(number) {
                    let i = self.rng.gen_range(0..recent.len());
                    pick.to = recent[i];
                    pick.recipient = Recipient::Window;
                    return pick;
                }
            }
            ReplyTarget::Any => {}
        }
        let (to, how) = self.recipient(phase);
        (pick.to, pick.recipient) = (Contact::Phone(to), how);
        pick
    }

    /// A recipient per the phase's segments, hot users and returning share.
    fn recipient(&mut self, phase: usize) -> (WaId, Recipient) {
        let p = &self.plan.phases[phase];
        let total = p.segments.last().map_or(0.0, |s| s.1);
        let x = self.rng.gen::<f64>() * total;
        let seg = p
            .segments
            .iter()
            .find(|(_, cum)| x < *cum)
            .or(p.segments.last())
            .map_or(0, |s| s.0);
        let pool = &self.plan.segments[seg].pool;
        // Draws are over this shard's recipients (the segment's j·N + I; all of them for a
        // whole run), so shards never share one: `LoadPlan::sharded` checked each has some.
        let shard = self.plan.shard;
        let len = shard.share(pool.len()).max(1);
        let hot = shard.share(p.hot.min(pool.len().max(1)));
        let cursor = &mut self.cursors[seg];
        let (i, how) = if p.hot > 0 && self.rng.gen::<f64>() < p.hot_share {
            (self.rng.gen_range(0..hot.max(1)), Recipient::Hot)
        } else if *cursor >= len || (*cursor > 0 && self.rng.gen::<f64>() < p.returning) {
            (
                self.rng.gen_range(0..(*cursor).clamp(1, len)),
                Recipient::Returning,
            )
        } else {
            *cursor += 1;
            (*cursor - 1, Recipient::New)
        };
        let i = shard.global(i);
        if let Some(n) = &self.numeric[seg] {
            return (n.wa_id(i), how);
        }
        self.wa.clear();
        pool.write(i, &mut self.wa);
        (WaId::parse_lenient(&self.wa).unwrap_or(WaId(0)), how)
    }

    /// The message of `pick`, written into the picker's reused buffers (the same pick always
    /// gives the same message, so a retry writes it again instead of keeping it).
    pub fn message(&mut self, pick: &Pick) -> Message<'_> {
        self.compose.write(&self.plan, pick)
    }

    /// Whether `pick` sends a message (a template or a text): only those are paced. A
    /// simulated inbound message and a block request are not messages the number sends.
    pub fn is_send(&self, pick: &Pick) -> bool {
        matches!(
            self.plan.phases[pick.phase].mix[pick.kind].1,
            MixKind::Template { .. } | MixKind::Text { .. }
        )
    }

    /// Whether `pick` is a send addressed by BSUID (`recipient`): the business knows the user
    /// only by it. Both doors count these.
    pub fn by_user_id(&self, pick: &Pick) -> bool {
        matches!(pick.to, Contact::UserId(_)) && self.is_send(pick)
    }

    /// `from` wrote to number `number` (an index into the plan's numbers) at `now`: a
    /// conversation for the desk to answer. The door tells it of every user message it learns
    /// of, the traffic's own and the simulated audience's replies alike, with the user as the
    /// webhook showed them.
    pub fn wrote_in(&mut self, number: usize, from: Contact, now: SimTime) {
        self.desk.wrote_in(number, from, now, &mut self.rng);
    }

    /// What the desk counted so far.
    pub fn desk_counts(&self) -> DeskCounts {
        self.desk.counts()
    }
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

#[cfg(test)]
#[path = "pick_tests.rs"]
mod tests;
