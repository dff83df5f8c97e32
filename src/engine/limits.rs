//! Rate limiters: the per-number throughput limit (130429) and the business/consumer pair rate
//! limit (131056).
//!
//! Both are GCRA ("generic cell rate algorithm", a token bucket kept as one timestamp): one
//! `u64` of state per limited key, which matters because the pair limiter exists once per
//! (number, recipient) and must stay small at millions of recipients.

use crate::clock::{Micros, SimTime};

/// Parameters of a GCRA limiter: one cell per `interval`, up to `burst` cells at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Time between cells at the sustained rate.
    pub interval: Micros,
    /// How many cells may be taken at once (at least 1).
    pub burst: u32,
}

impl Rate {
    /// `per_second` cells per second with a burst of one second's worth.
    pub fn per_second(per_second: u32) -> Rate {
        let per_second = per_second.max(1);
        Rate {
            interval: (1_000_000 / per_second as u64).max(1),
            burst: per_second,
        }
    }

    /// The pair rate: one message per `interval`, bursts of `burst` borrowing future quota.
    pub fn every(interval: Micros, burst: u32) -> Rate {
        Rate {
            interval: interval.max(1),
            burst: burst.max(1),
        }
    }

    fn tolerance(self) -> Micros {
        self.interval * (self.burst as u64 - 1)
    }
}

/// GCRA state: the theoretical arrival time of the next conforming cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gcra {
    tat: SimTime,
}

impl Gcra {
    /// Takes one cell if the rate allows it. On refusal, returns how long until one would be
    /// allowed; the state is unchanged (refused requests do not borrow quota).
    pub fn try_take(&mut self, now: SimTime, rate: Rate) -> Result<(), Micros> {
        let tat = self.tat.max(now);
        let allow_at = tat.minus(rate.tolerance());
        if now < allow_at {
            return Err(allow_at.since(now));
        }
        self.tat = tat.plus(rate.interval);
        Ok(())
    }

    /// Takes one cell whatever the state: for traffic the number cannot refuse (a user's
    /// message is delivered anyway) but which uses its capacity up. Never deeper than an empty
    /// bucket, so a flood of inbound messages throttles sends for one interval, not for as long
    /// as the flood lasted.
    pub fn take_anyway(&mut self, now: SimTime, rate: Rate) {
        let tat = self.tat.max(now).plus(rate.interval);
        self.tat = tat.min(now.plus(rate.tolerance()).plus(rate.interval));
    }

    /// True when the limiter is back to a full burst at `now` and its state can be forgotten.
    pub fn is_idle(&self, now: SimTime) -> bool {
        self.tat <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MICROS_PER_SEC;

    #[test]
    fn traffic_taken_anyway_empties_the_bucket_but_no_more() {
        let rate = Rate::per_second(80);
        let t0 = SimTime(1_000 * MICROS_PER_SEC);
        let mut g = Gcra::default();
        // A flood of 10,000 messages that cannot be refused...
        for _ in 0..10_000 {
            g.take_anyway(t0, rate);
        }
        // ...leaves no room now, and room again one interval later (not 125 s later).
        assert!(g.try_take(t0, rate).is_err());
        assert!(g.try_take(t0.plus(rate.interval), rate).is_ok());
        // Without it, the whole burst is there.
        let mut fresh = Gcra::default();
        assert!((0..80).all(|_| fresh.try_take(t0, rate).is_ok()));
    }

    #[test]
    fn throughput_allows_one_second_of_burst_then_refuses() {
        let rate = Rate::per_second(80);
        let mut g = Gcra::default();
        let t0 = SimTime::from_secs(1_000);
        for i in 0..80 {
            assert!(g.try_take(t0, rate).is_ok(), "cell {i} refused");
        }
        let wait = g.try_take(t0, rate).unwrap_err();
        assert_eq!(wait, 12_500); // 1/80 s
                                  // After one interval exactly one more cell is allowed.
        assert!(g.try_take(t0.plus(12_500), rate).is_ok());
        assert!(g.try_take(t0.plus(12_500), rate).is_err());
    }

    #[test]
    fn sustained_rate_at_limit_is_never_refused() {
        let rate = Rate::per_second(80);
        let mut g = Gcra::default();
        let t0 = SimTime::from_secs(1_000);
        for i in 0..10_000u64 {
            assert!(g.try_take(t0.plus(i * 12_500), rate).is_ok());
        }
    }

    #[test]
    fn pair_rate_burst_of_45_then_one_per_six_seconds() {
        let rate = Rate::every(6 * MICROS_PER_SEC, 45);
        let mut g = Gcra::default();
        let t0 = SimTime::from_secs(1_000);
        for _ in 0..45 {
            assert!(g.try_take(t0, rate).is_ok());
        }
        assert_eq!(g.try_take(t0, rate).unwrap_err(), 6 * MICROS_PER_SEC);
        assert!(g.try_take(t0.plus(6 * MICROS_PER_SEC - 1), rate).is_err());
        assert!(g.try_take(t0.plus(6 * MICROS_PER_SEC), rate).is_ok());
    }

    #[test]
    fn burst_of_twenty_is_paid_back_in_two_minutes() {
        // Meta: "a burst of 20 means about a 2-minute wait" before the quota is whole again.
        let rate = Rate::every(6 * MICROS_PER_SEC, 45);
        let mut g = Gcra::default();
        let t0 = SimTime::from_secs(1_000);
        for _ in 0..20 {
            g.try_take(t0, rate).unwrap();
        }
        assert!(!g.is_idle(t0.plus(119 * MICROS_PER_SEC)));
        assert!(g.is_idle(t0.plus(120 * MICROS_PER_SEC)));
    }

    #[test]
    fn refusal_does_not_consume() {
        let rate = Rate::every(MICROS_PER_SEC, 1);
        let mut g = Gcra::default();
        let t0 = SimTime::from_secs(10);
        g.try_take(t0, rate).unwrap();
        for _ in 0..100 {
            assert!(g.try_take(t0, rate).is_err());
        }
        assert!(g.try_take(t0.plus(MICROS_PER_SEC), rate).is_ok());
    }
}
