//! The support desk behind `text = { to = "window" }` replies: who is waiting for an answer on
//! which number, and whether their customer service window is still open.
//!
//! A user who writes to a business number opens a conversation on that number (and a 24 h
//! window, or `rules.service_window_hours`). An agent answers it from the same number once the
//! agent delay (drawn per conversation) has passed and while the window is open. A reply
//! arrival takes the conversation that became ready first among its phase's numbers; one that
//! finds none ready waits for the next one (`no_window = "wait"`), is dropped and counted
//! (`"drop"`, the default), or goes to an ordinary recipient as a free-form message, to be
//! refused with 131047 (`"send"`). Conversations whose window closed before an agent got to
//! them are counted as expired, never sent to be refused: a real desk does not send those.
//!
//! `to = "wrote_in"` keeps a different, deliberate question open: a reply to a user who wrote
//! to this number at some point in the run, window open or not (the way to show 131047 on
//! people the business did talk to). Each number remembers its last [`RECENT`] writers.
//!
//! Users are kept as the business saw them ([`Contact`]): by phone number when the webhook
//! showed it, by BSUID when the user hides their number behind a username, so a reply goes
//! where a real integration could send it.
//!
//! Plain data, `&mut self`, no clock: the caller passes `now` (virtual or wall time since the
//! run's start; only differences matter).

use crate::clock::{Micros, SimTime};
use crate::engine::bsuid::UserId;
use crate::engine::ids::WaId;
use crate::traffic::spec::NoWindow;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Writers remembered per number for `to = "wrote_in"`.
pub const RECENT: usize = 4096;

/// The validated `[traffic.conversations]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct DeskPlan {
    /// Agent delay range, µs, drawn uniformly per conversation.
    pub delay: [Micros; 2],
    /// Conversations waiting for an answer per number; more are not taken (overflow).
    pub capacity: usize,
    pub no_window: NoWindow,
    /// The customer service window, µs (the world's `rules.service_window_hours`).
    pub window: Micros,
}

/// What the desk counted over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeskCounts {
    /// Users who wrote in: conversations opened (each message asks for one answer).
    pub opened: u64,
    /// Conversations a reply was picked for.
    pub answered: u64,
    /// Conversations whose window closed before an agent answered: never sent.
    pub expired: u64,
    /// Conversations not taken because the number already had `capacity` waiting.
    pub overflow: u64,
    /// Still waiting when the run ended (or when this was read).
    pub waiting: u64,
}

impl DeskCounts {
    /// One summary line, the same in `run` and `simulate`.
    pub fn summary(&self) -> String {
        format!(
            "conversations: {} opened, {} answered in the window, {} expired unanswered, {} over capacity, {} still waiting",
            self.opened, self.answered, self.expired, self.overflow, self.waiting
        )
    }

    /// Adds another run's counts (merged reports).
    pub fn add(&mut self, o: &DeskCounts) {
        self.opened += o.opened;
        self.answered += o.answered;
        self.expired += o.expired;
        self.overflow += o.overflow;
        self.waiting += o.waiting;
    }
}

/// A user as the business knows them, and so how a message to them is addressed: `to` with
/// their phone number, or `recipient` with their business-scoped user id when the webhook
/// hid the number (docs/policy-model.md, "Hidden phone number").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Contact {
    Phone(WaId),
    UserId(UserId),
}

impl From<WaId> for Contact {
    fn from(w: WaId) -> Contact {
        Contact::Phone(w)
    }
}

impl Contact {
    /// The phone number, when the business knows it.
    pub fn phone(self) -> Option<WaId> {
        match self {
            Contact::Phone(w) => Some(w),
            Contact::UserId(_) => None,
        }
    }
}

/// A conversation waiting for an answer: ready at, written at, the user.
type Waiting = Reverse<(SimTime, SimTime, Contact)>;

/// The answer to "who does this reply go to".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Reply from number `number` to `to`, not before `at`.
    Reply {
        number: usize,
        to: Contact,
        at: SimTime,
    },
    /// Nobody to answer: drop the reply (counted by the caller).
    Drop,
    /// Nobody to answer: send to an ordinary recipient (`no_window = "send"`).
    Anyone,
}

/// The desk: per number, who waits for an answer and who wrote recently.
#[derive(Debug)]
pub struct Desk {
    plan: DeskPlan,
    waiting: Vec<BinaryHeap<Waiting>>,
    recent: Vec<VecDeque<Contact>>,
    counts: DeskCounts,
}

impl Desk {
    pub fn new(plan: DeskPlan, numbers: usize) -> Desk {
        Desk {
            plan,
            waiting: (0..numbers).map(|_| BinaryHeap::new()).collect(),
            recent: (0..numbers).map(|_| VecDeque::new()).collect(),
            counts: DeskCounts::default(),
        }
    }

    /// `from` wrote to number `number` at `now`: a conversation to answer after the agent
    /// delay (drawn from `rng`).
    pub fn wrote_in(&mut self, number: usize, from: Contact, now: SimTime, rng: &mut impl Rng) {
        let (Some(waiting), Some(recent)) =
            (self.waiting.get_mut(number), self.recent.get_mut(number))
        else {
            return;
        };
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(from);
        self.counts.opened += 1;
        if waiting.len() >= self.plan.capacity {
            self.counts.overflow += 1;
            return;
        }
        let [lo, hi] = self.plan.delay;
        let delay = if hi > lo { rng.gen_range(lo..=hi) } else { lo };
        waiting.push(Reverse((now.plus(delay), now, from)));
    }

    /// Who a reply from one of `numbers` at `now` answers: the conversation that became ready
    /// first; with `no_window = "wait"`, the one that becomes ready first.
    pub fn answer(&mut self, numbers: &[usize], now: SimTime) -> Answer {
        let window = self.plan.window;
        let mut best: Option<(SimTime, usize)> = None;
        for &n in numbers {
            let Some(heap) = self.waiting.get_mut(n) else {
                continue;
            };
            // Drop what can no longer be answered inside its window.
            while let Some(Reverse((ready, wrote, _))) = heap.peek() {
                if (*ready).max(now) < wrote.plus(window) {
                    break;
                }
                heap.pop();
                self.counts.expired += 1;
            }
            if let Some(Reverse((ready, _, _))) = heap.peek() {
                if best.is_none_or(|(b, _)| *ready < b) {
                    best = Some((*ready, n));
                }
            }
        }
        match best {
            Some((ready, n)) if ready <= now || self.plan.no_window == NoWindow::Wait => {
                let Some(Reverse((ready, _, to))) = self.waiting[n].pop() else {
                    return Answer::Drop;
                };
                self.counts.answered += 1;
                Answer::Reply {
                    number: n,
                    to,
                    at: ready.max(now),
                }
            }
            _ if self.plan.no_window == NoWindow::Send => Answer::Anyone,
            _ => Answer::Drop,
        }
    }

    /// The users who wrote to `number` recently (oldest first).
    pub fn recent(&self, number: usize) -> Option<&VecDeque<Contact>> {
        self.recent.get(number).filter(|r| !r.is_empty())
    }

    /// What the desk counted, with the conversations still waiting.
    pub fn counts(&self) -> DeskCounts {
        DeskCounts {
            waiting: self.waiting.iter().map(|h| h.len() as u64).sum(),
            ..self.counts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{MICROS_PER_HOUR, MICROS_PER_SEC};
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn desk(delay: [Micros; 2], no_window: NoWindow) -> Desk {
        Desk::new(
            DeskPlan {
                delay,
                capacity: 3,
                no_window,
                window: 24 * MICROS_PER_HOUR,
            },
            2,
        )
    }

    const S: Micros = MICROS_PER_SEC;

    #[test]
    fn a_reply_goes_from_the_number_written_to_once_the_agent_is_ready() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut d = desk([60 * S, 60 * S], NoWindow::Drop);
        d.wrote_in(1, WaId(49_111).into(), SimTime(0), &mut rng);
        // Before the agent delay: nobody to answer yet.
        assert_eq!(d.answer(&[0, 1], SimTime(30 * S)), Answer::Drop);
        let a = d.answer(&[0, 1], SimTime(61 * S));
        assert_eq!(
            a,
            Answer::Reply {
                number: 1,
                to: Contact::Phone(WaId(49_111)),
                at: SimTime(61 * S)
            }
        );
        // Answered once.
        assert_eq!(d.answer(&[0, 1], SimTime(62 * S)), Answer::Drop);
        // A phase sending only from number 0 does not answer number 1's users.
        d.wrote_in(1, WaId(49_222).into(), SimTime(0), &mut rng);
        assert_eq!(d.answer(&[0], SimTime(100 * S)), Answer::Drop);
        let c = d.counts();
        assert_eq!((c.opened, c.answered, c.waiting), (2, 1, 1));
    }

    #[test]
    fn closed_windows_expire_instead_of_being_refused() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut d = desk([0, 0], NoWindow::Send);
        d.wrote_in(0, WaId(1).into(), SimTime(0), &mut rng);
        // Exactly 24 h later the window is closed: not answered, counted expired.
        assert_eq!(
            d.answer(&[0], SimTime(24 * MICROS_PER_HOUR)),
            Answer::Anyone
        );
        assert_eq!(d.counts().expired, 1);
        // Just inside it, answered.
        d.wrote_in(0, WaId(2).into(), SimTime(0), &mut rng);
        assert!(matches!(
            d.answer(&[0], SimTime(24 * MICROS_PER_HOUR - 1)),
            Answer::Reply {
                to: Contact::Phone(WaId(2)),
                ..
            }
        ));
    }

    #[test]
    fn wait_takes_the_next_ready_conversation_and_capacity_overflows() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut d = desk([10 * S, 20 * S], NoWindow::Wait);
        for u in 0..5 {
            d.wrote_in(0, WaId(100 + u).into(), SimTime(0), &mut rng);
        }
        assert_eq!(d.counts().overflow, 2, "capacity 3 per number");
        let Answer::Reply { at, .. } = d.answer(&[0], SimTime(0)) else {
            panic!("wait takes one")
        };
        assert!((10 * S..=20 * S).contains(&at.0), "{at:?}");
        let mut ats = vec![at];
        while let Answer::Reply { at, .. } = d.answer(&[0], SimTime(0)) {
            ats.push(at);
        }
        assert_eq!(ats.len(), 3);
        assert!(ats.windows(2).all(|w| w[0] <= w[1]), "earliest ready first");
        assert_eq!(d.answer(&[0], SimTime(0)), Answer::Drop, "nobody left");
    }

    #[test]
    fn recent_writers_are_kept_per_number() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let mut d = desk([0, 0], NoWindow::Drop);
        assert!(d.recent(0).is_none());
        d.wrote_in(0, WaId(7).into(), SimTime(0), &mut rng);
        assert_eq!(d.recent(0).unwrap().len(), 1);
        assert!(d.recent(1).is_none());
        assert!(d.recent(9).is_none(), "unknown numbers are no panic");
        d.wrote_in(9, WaId(7).into(), SimTime(0), &mut rng);
    }
}
