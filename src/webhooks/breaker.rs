//! A circuit breaker per webhook endpoint: when the receiver is down, stop hammering it.
//!
//! Retries are per POST body on the simulated clock (Meta's schedule), so a receiver that is
//! down while thousands of events are pending would otherwise get thousands of failing POSTs
//! per second, each one a wasted connection, and the outage would look like an attack when it
//! comes back. After [`OPEN_AFTER`] consecutive failures the breaker opens: nothing is sent
//! for a pause (1 s, doubling up to [`MAX_PAUSE`]), then one probe goes out; its success closes
//! the breaker, its failure opens it again for twice as long. The pauses run on the simulated
//! clock, like every other delivery delay (at `--time-scale 1` that is wall time). A few
//! failing events (fewer than [`OPEN_AFTER`] in a row) keep exactly Meta's per-event schedule.
//! Events keep their retry schedule and horizon while the breaker is open: one past its
//! horizon expires without a POST; none is dropped by the breaker itself.

use crate::clock::{Micros, SimTime, MICROS_PER_SEC};

/// Consecutive failed POSTs before the breaker opens.
pub const OPEN_AFTER: u64 = 50;
/// First pause once open, µs of simulated time.
pub const FIRST_PAUSE: Micros = MICROS_PER_SEC;
/// Longest pause between probes.
pub const MAX_PAUSE: Micros = 60 * MICROS_PER_SEC;

/// The breaker's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Posts go out (with the dispatcher's concurrency limit).
    Closed,
    /// Nothing goes out until `until`; then one probe.
    Open { until: SimTime, pause: Micros },
    /// One probe is in flight; the next pause if it fails is `pause`.
    Probing { pause: Micros },
}

#[derive(Debug)]
pub struct Breaker {
    state: State,
    /// Consecutive failed POSTs.
    failing: u64,
    /// Times the breaker opened since the start.
    pub opened: u64,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: State::Closed,
            failing: 0,
            opened: 0,
        }
    }
}

impl Breaker {
    pub fn state(&self) -> &State {
        &self.state
    }

    /// How many posts may be in flight at `now` (given `max` for a closed breaker): 0 while
    /// open, 1 for the probe once the pause is over.
    pub fn allowance(&mut self, now: SimTime, max: usize) -> usize {
        match self.state {
            State::Closed => max,
            State::Open { until, pause } if now >= until => {
                self.state = State::Probing { pause };
                1
            }
            State::Open { .. } => 0,
            State::Probing { .. } => 1,
        }
    }

    /// When the open breaker lets a probe go (`None` unless open).
    pub fn reopens_at(&self) -> Option<SimTime> {
        match self.state {
            State::Open { until, .. } => Some(until),
            _ => None,
        }
    }

    /// A POST was acknowledged: the receiver is back. Returns the failures of the outage that
    /// just ended (0 if there was none).
    pub fn success(&mut self) -> u64 {
        self.state = State::Closed;
        std::mem::take(&mut self.failing)
    }

    /// A POST failed at `now`. Returns true when this opened the breaker.
    pub fn failure(&mut self, now: SimTime) -> bool {
        self.failing += 1;
        let pause = match self.state {
            State::Probing { pause } => pause.saturating_mul(2).min(MAX_PAUSE),
            State::Closed if self.failing >= OPEN_AFTER => FIRST_PAUSE,
            _ => return false,
        };
        // The pause that follows a failed probe is this one doubled (above).
        self.state = State::Open {
            until: now.plus(pause),
            pause,
        };
        self.opened += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_probes_with_doubling_pauses() {
        let mut b = Breaker::default();
        let t = SimTime(1_000);
        for _ in 1..OPEN_AFTER {
            assert!(!b.failure(t));
            assert_eq!(b.allowance(t, 8), 8, "still closed");
        }
        assert!(b.failure(t), "the OPEN_AFTER-th failure opens it");
        assert_eq!(b.allowance(t, 8), 0);
        assert_eq!(b.reopens_at(), Some(t.plus(FIRST_PAUSE)));
        // After the pause: one probe.
        let t1 = t.plus(FIRST_PAUSE);
        assert_eq!(b.allowance(t1, 8), 1);
        assert!(b.failure(t1), "a failed probe opens it again");
        assert_eq!(b.reopens_at(), Some(t1.plus(FIRST_PAUSE * 2)));
        let t2 = t1.plus(FIRST_PAUSE * 2);
        assert_eq!(b.allowance(t2, 8), 1);
        assert_eq!(b.success(), OPEN_AFTER + 1);
        assert_eq!(b.allowance(t2, 8), 8, "closed again");
        assert_eq!(b.opened, 2);
    }

    #[test]
    fn pauses_are_capped_and_a_success_resets_the_count() {
        let mut b = Breaker::default();
        let mut t = SimTime(0);
        for _ in 0..OPEN_AFTER {
            b.failure(t);
        }
        for _ in 0..20 {
            let until = b.reopens_at().unwrap();
            assert!(until.since(t) <= MAX_PAUSE);
            t = until;
            assert_eq!(b.allowance(t, 4), 1);
            b.failure(t);
        }
        assert_eq!(b.reopens_at().unwrap().since(t), MAX_PAUSE);
        b.success();
        // Intermittent failures below the threshold never open it.
        for _ in 0..100 {
            b.failure(t);
            b.success();
        }
        assert_eq!(b.allowance(t, 4), 4);
    }
}
