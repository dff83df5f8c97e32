//! Messaging limits: unique users reached by business-initiated messages outside a customer
//! service window in a moving 24 h, the tier ladders, and the scaling condition.
//!
//! Memory: one map entry (user → start of their 24 h slot) and one FIFO entry per user reached
//! in the last 24 h (about 50 bytes each), so it is bounded by the tier (and by the users a
//! number reaches per day when unlimited); plus 30 daily counters for the initial 2,000 path.

use super::ids::WaId;
use super::world::MessagingLimitTier;
use crate::clock::{SimTime, MICROS_PER_DAY};
use std::collections::{HashMap, VecDeque};

pub use super::ids::IdBuild;

use MessagingLimitTier::*;

/// The next tier up: 2025+ portfolio ladder (250 → 2K → 10K → 100K → unlimited) or the legacy
/// per-number ladder (250 → 1K → 10K → 100K → unlimited).
pub fn next_tier(t: MessagingLimitTier, legacy: bool) -> MessagingLimitTier {
    match (t, legacy) {
        (Tier50, _) => Tier250,
        (Tier250, false) => Tier2K,
        (Tier250, true) => Tier1K,
        (Tier1K, false) => Tier2K,
        (Tier1K | Tier2K, _) => Tier10K,
        (Tier10K, _) => Tier100K,
        (Tier100K | Unlimited, _) => Unlimited,
    }
}

/// The next tier down (legacy downgrade after a week flagged); 250 is the floor.
pub fn lower_tier(t: MessagingLimitTier, legacy: bool) -> MessagingLimitTier {
    match (t, legacy) {
        (Tier50 | Tier250, _) => t,
        (Tier1K | Tier2K, _) => Tier250,
        (Tier10K, true) => Tier1K,
        (Tier10K, false) => Tier2K,
        (Tier100K, _) => Tier10K,
        (Unlimited, _) => Tier100K,
    }
}

/// What counting a business-initiated message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The user was already counted in the moving 24 h (slot started then): free.
    AlreadyCounted(SimTime),
    /// A new user in the window; now counted.
    Counted,
    /// A new user, but the limit is used up: not counted, not to be delivered.
    AtLimit,
}

/// The moving-24 h unique-user count of one limit holder (a portfolio, or a number in legacy
/// mode), plus the bookkeeping the scaling rules need.
#[derive(Debug)]
pub struct LimitState {
    pub tier: MessagingLimitTier,
    /// User → when their current 24 h slot started.
    slots: HashMap<WaId, SimTime, IdBuild>,
    /// Slots in start order, with the index of the number that opened them.
    fifo: VecDeque<(SimTime, WaId, u16)>,
    /// Users in the window, per number index (the throughput upgrade looks at one number).
    per_number: Vec<u32>,
    /// New users reached per day, last 30 days (the 250 → 2,000 path).
    daily_new: [u32; 30],
    daily_head: u64,
    /// When the usage condition for the next tier was met (scaling pending), if it was.
    pub scale_due: Option<SimTime>,
}

impl LimitState {
    pub fn new(tier: MessagingLimitTier, numbers: usize) -> LimitState {
        LimitState {
            tier,
            slots: HashMap::default(),
            fifo: VecDeque::new(),
            per_number: vec![0; numbers.max(1)],
            daily_new: [0; 30],
            daily_head: 0,
            scale_due: None,
        }
    }

    fn expire(&mut self, now: SimTime) {
        while let Some(&(start, user, idx)) = self.fifo.front() {
            if now.since(start) < MICROS_PER_DAY {
                break;
            }
            self.fifo.pop_front();
            if self.slots.get(&user) == Some(&start) {
                self.slots.remove(&user);
            }
            if let Some(c) = self.per_number.get_mut(idx as usize) {
                *c = c.saturating_sub(1);
            }
        }
    }

    /// Unique users in the moving 24 h at `now`.
    pub fn used(&mut self, now: SimTime) -> u32 {
        self.expire(now);
        self.slots.len() as u32
    }

    /// Users whose current slot a given number opened.
    pub fn used_by(&mut self, now: SimTime, number_idx: u16) -> u32 {
        self.expire(now);
        self.per_number
            .get(number_idx as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Counts a business-initiated message to `user` outside a service window.
    pub fn reach(&mut self, now: SimTime, user: WaId, number_idx: u16) -> Reach {
        self.expire(now);
        let used = self.slots.len() as u32;
        let full = self.tier.limit().is_some_and(|l| used >= l);
        match self.slots.entry(user) {
            std::collections::hash_map::Entry::Occupied(e) => {
                return Reach::AlreadyCounted(*e.get())
            }
            std::collections::hash_map::Entry::Vacant(_) if full => return Reach::AtLimit,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(now);
            }
        }
        self.fifo.push_back((now, user, number_idx));
        if let Some(c) = self.per_number.get_mut(number_idx as usize) {
            *c += 1;
        }
        let day = now.as_micros() / MICROS_PER_DAY;
        if day > self.daily_head {
            let steps = (day - self.daily_head).min(30);
            for k in 1..=steps {
                self.daily_new[((self.daily_head + k) % 30) as usize] = 0;
            }
            self.daily_head = day;
        }
        self.daily_new[(day % 30) as usize] += 1;
        Reach::Counted
    }

    /// New users reached in the last 30 days (approximates Meta's "2,000 unique users in a
    /// 30-day moving period": a user reached again after their 24 h slot counts again).
    pub fn new_users_30d(&self, now: SimTime) -> u32 {
        let day = now.as_micros() / MICROS_PER_DAY;
        (0..30u64)
            .filter_map(|k| {
                let d = day.checked_sub(k)?;
                (d <= self.daily_head && self.daily_head - d < 30)
                    .then(|| self.daily_new[(d % 30) as usize])
            })
            .sum()
    }

    /// Moves to `tier`; the scaling clock restarts.
    pub fn set_tier(&mut self, tier: MessagingLimitTier) {
        self.tier = tier;
        self.scale_due = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{MICROS_PER_HOUR, MICROS_PER_SEC};

    const T0: SimTime = SimTime(1_760_000_000 * MICROS_PER_SEC);

    #[test]
    fn ladders() {
        let up: Vec<_> = std::iter::successors(Some(Tier250), |t| {
            (*t != Unlimited).then(|| next_tier(*t, false))
        })
        .collect();
        assert_eq!(up, vec![Tier250, Tier2K, Tier10K, Tier100K, Unlimited]);
        let legacy: Vec<_> = std::iter::successors(Some(Tier250), |t| {
            (*t != Unlimited).then(|| next_tier(*t, true))
        })
        .collect();
        assert_eq!(legacy, vec![Tier250, Tier1K, Tier10K, Tier100K, Unlimited]);
        assert_eq!(lower_tier(Tier10K, true), Tier1K);
        assert_eq!(lower_tier(Tier250, true), Tier250);
    }

    #[test]
    fn limit_counts_unique_users_in_a_moving_24h() {
        let mut l = LimitState::new(Tier250, 1);
        for i in 0..250 {
            assert_eq!(l.reach(T0, WaId(1000 + i), 0), Reach::Counted);
        }
        // Same users again: free. A new one: at the limit.
        assert_eq!(
            l.reach(T0.plus(1), WaId(1000), 0),
            Reach::AlreadyCounted(T0)
        );
        assert_eq!(l.reach(T0.plus(1), WaId(9999), 0), Reach::AtLimit);
        assert_eq!(l.used(T0.plus(1)), 250);
        // One microsecond before 24 h the window still holds them; at 24 h it frees.
        let day = 24 * MICROS_PER_HOUR;
        assert_eq!(l.reach(T0.plus(day - 1), WaId(9999), 0), Reach::AtLimit);
        assert_eq!(l.reach(T0.plus(day), WaId(9999), 0), Reach::Counted);
        assert_eq!(l.used(T0.plus(day)), 1);
        assert_eq!(l.used_by(T0.plus(day), 0), 1);
    }

    #[test]
    fn unlimited_counts_but_never_refuses() {
        let mut l = LimitState::new(Unlimited, 2);
        for i in 0..5_000 {
            assert_eq!(l.reach(T0, WaId(i), (i % 2) as u16), Reach::Counted);
        }
        assert_eq!(l.used_by(T0, 1), 2_500);
    }

    #[test]
    fn thirty_day_new_users_roll_off() {
        let mut l = LimitState::new(Tier250, 1);
        for d in 0..10u64 {
            for i in 0..200 {
                l.reach(T0.plus(d * MICROS_PER_DAY), WaId(d * 1000 + i), 0);
            }
        }
        assert_eq!(l.new_users_30d(T0.plus(9 * MICROS_PER_DAY)), 2_000);
        assert_eq!(l.new_users_30d(T0.plus(30 * MICROS_PER_DAY)), 1_800);
        assert_eq!(l.new_users_30d(T0.plus(60 * MICROS_PER_DAY)), 0);
    }
}
