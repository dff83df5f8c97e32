//! Arrival schedules: when each message is *intended* to be sent.
//!
//! Everything here is a pure function of time, with no clock and no sleeping: the runner asks
//! "what is due at `now`?" and the tests drive the same code with a virtual clock.
//!
//! Open model: the rate is a piecewise-linear function r(t) (constant, ramps, spikes). Its
//! integral Λ(t) is the expected number of arrivals by t. With even spacing the k-th arrival
//! (k = 0, 1, …) is at Λ⁻¹(k): at a constant 20,000/s that is exactly every 50 µs, and over any
//! window the count is Λ(end) − Λ(start) rounded, with no drift. With Poisson spacing the k-th
//! arrival is at Λ⁻¹(E₁ + … + E_k) with Eᵢ ~ Exp(1) (time rescaling), seeded.
//!
//! Closed model: N virtual users; user i starts at i·think/N and sends its next message one think
//! time after the previous one's final outcome.

use rand::Rng;
use rand_pcg::Pcg64Mcg;

use crate::clock::{Micros, SimTime, MICROS_PER_SEC};
use crate::traffic::shard::Shard;
use crate::traffic::spec::{ArrivalProcess, ClosedArrival, OpenArrival};

/// One piece of the rate function: on `[start, end)` µs since the phase start, the rate goes
/// linearly from `r0` to `r1` messages per second.
#[derive(Clone, Debug, PartialEq)]
pub struct RateSegment {
    pub start: Micros,
    /// `u64::MAX` for the last, unbounded, segment.
    pub end: Micros,
    pub r0: f64,
    pub r1: f64,
}

/// A piecewise-linear arrival rate over the phase, starting at 0 and covering all time.
#[derive(Clone, Debug, PartialEq)]
pub struct RateProfile {
    segs: Vec<RateSegment>,
    /// Λ at each segment's start, so inversion is O(segments) without re-integration.
    cum: Vec<f64>,
}

fn secs(us: Micros) -> f64 {
    us as f64 / MICROS_PER_SEC as f64
}

impl RateProfile {
    /// A constant rate forever.
    pub fn constant(rate: f64) -> RateProfile {
        RateProfile::from_segments(vec![RateSegment {
            start: 0,
            end: u64::MAX,
            r0: rate,
            r1: rate,
        }])
    }

    /// Builds from contiguous segments (the first starting at 0, the last unbounded).
    pub fn from_segments(segs: Vec<RateSegment>) -> RateProfile {
        let mut cum = Vec::with_capacity(segs.len());
        let mut acc = 0.0;
        for s in &segs {
            cum.push(acc);
            if s.end != u64::MAX {
                acc += (s.r0 + s.r1) / 2.0 * secs(s.end - s.start);
            }
        }
        RateProfile { segs, cum }
    }

    /// The open-model profile of a phase. `phase_len` is used as the default ramp length.
    /// Inputs are assumed validated by the plan (rates ≥ 0, spikes ordered and disjoint).
    pub fn from_open(open: &OpenArrival, phase_len: Option<Micros>) -> RateProfile {
        let mut segs = match (&open.ramp, open.rate) {
            (Some(ramp), _) => {
                let over = ramp.over.map(|d| d.0).or(phase_len).unwrap_or(0);
                let mut v = Vec::new();
                if over > 0 {
                    v.push(RateSegment {
                        start: 0,
                        end: over,
                        r0: ramp.from,
                        r1: ramp.to,
                    });
                }
                v.push(RateSegment {
                    start: over,
                    end: u64::MAX,
                    r0: ramp.to,
                    r1: ramp.to,
                });
                v
            }
            (None, rate) => {
                let r = rate.unwrap_or(0.0);
                vec![RateSegment {
                    start: 0,
                    end: u64::MAX,
                    r0: r,
                    r1: r,
                }]
            }
        };
        for spike in &open.spikes {
            segs = overlay(
                segs,
                spike.at.0,
                spike.at.0.saturating_add(spike.duration.0),
                spike.rate,
            );
        }
        RateProfile::from_segments(segs)
    }

    pub fn segments(&self) -> &[RateSegment] {
        &self.segs
    }

    /// r(t), messages per second at `t` µs since the phase start.
    pub fn rate_at(&self, t: Micros) -> f64 {
        let i = self.seg_index(t);
        let s = &self.segs[i];
        if s.end == u64::MAX || s.r0 == s.r1 {
            return s.r0;
        }
        s.r0 + (s.r1 - s.r0) * secs(t - s.start) / secs(s.end - s.start)
    }

    /// Λ(t): expected arrivals in `[0, t)`.
    pub fn cumulative(&self, t: Micros) -> f64 {
        let i = self.seg_index(t);
        let s = &self.segs[i];
        let dt = secs(t - s.start);
        let r_t = self.rate_at(t);
        self.cum[i] + (s.r0 + r_t) / 2.0 * dt
    }

    /// The segment holding `t`: the last one starting at or before it.
    fn seg_index(&self, t: Micros) -> usize {
        // A binary search, not a linear scan: a daily rhythm (`rhythm.rs`) splits a phase into
        // one segment per local hour, thousands over weeks, and `rate_at`/`cumulative` run on
        // every progress tick and report. Starts never decrease, so `start <= t` is true then
        // false along the vector, as `partition_point` needs; the first segment starts at 0, so
        // the count is at least 1.
        self.segs
            .partition_point(|s| s.start <= t)
            .saturating_sub(1)
    }

    /// Λ⁻¹(x): the instant (µs since the phase start, rounded to the nearest µs) at which the
    /// expected arrival count reaches `x`; `None` if it never does (the rate drops to 0 for
    /// good). Searches from segment `hint` on, returning the segment found for the next call.
    pub fn inverse_from(&self, x: f64, hint: usize) -> Option<(Micros, usize)> {
        for i in hint..self.segs.len() {
            let s = &self.segs[i];
            let need = x - self.cum[i];
            if need <= 0.0 {
                // Reached at the segment start, but an arrival needs a rate: skip stretches
                // where the rate is 0 throughout (e.g. before a spike on a zero base rate).
                if s.r0 > 0.0 || s.r1 > 0.0 {
                    return Some((s.start, i));
                }
                continue;
            }
            let bounded = s.end != u64::MAX;
            let len = if bounded {
                secs(s.end - s.start)
            } else {
                f64::INFINITY
            };
            // Λ within the segment: r0·dt + a·dt², a = (r1 − r0) / (2·len).
            let dt = if !bounded || s.r0 == s.r1 {
                if s.r0 <= 0.0 {
                    None
                } else {
                    Some(need / s.r0)
                }
            } else {
                let a = (s.r1 - s.r0) / (2.0 * len);
                let disc = s.r0 * s.r0 + 4.0 * a * need;
                if disc < 0.0 {
                    None
                } else {
                    let denom = s.r0 + disc.sqrt();
                    if denom <= 0.0 {
                        None
                    } else {
                        // The cancellation-free form of (−r0 + √disc) / 2a.
                        Some(2.0 * need / denom)
                    }
                }
            };
            if let Some(dt) = dt {
                // Segments are half-open: an arrival landing on a bounded segment's end (within
                // float noise) belongs to the next segment, so a 0.5 s spike at 200/s has 100
                // arrivals, not 101.
                if !bounded || dt < len - 1e-9 {
                    let us = (dt * MICROS_PER_SEC as f64).round();
                    if us.is_finite() && us < (u64::MAX - s.start) as f64 {
                        let t = s.start + us as u64;
                        // Rounding must not carry it onto the end itself: that instant is the
                        // next segment's (whose rate may be 0, e.g. a night hour).
                        return Some((if bounded { t.min(s.end - 1) } else { t }, i));
                    }
                    return None;
                }
            }
        }
        None
    }
}

/// Replaces the rate on `[from, to)` with the constant `rate`, splitting segments at the edges.
fn overlay(segs: Vec<RateSegment>, from: Micros, to: Micros, rate: f64) -> Vec<RateSegment> {
    let profile = RateProfile::from_segments(segs.clone());
    let mut out = Vec::with_capacity(segs.len() + 2);
    for s in segs {
        // Part before `from`.
        if s.start < from {
            let end = s.end.min(from);
            out.push(RateSegment {
                start: s.start,
                end,
                r0: s.r0,
                r1: if end == s.end {
                    s.r1
                } else {
                    profile.rate_at(end)
                },
            });
        }
        // Part after `to`.
        if s.end > to {
            let start = s.start.max(to);
            out.push(RateSegment {
                start,
                end: s.end,
                r0: if start == s.start {
                    s.r0
                } else {
                    profile.rate_at(start)
                },
                r1: s.r1,
            });
        }
    }
    out.push(RateSegment {
        start: from,
        end: to,
        r0: rate,
        r1: rate,
    });
    out.sort_by_key(|s| s.start);
    out.retain(|s| s.end > s.start);
    out
}

/// The open-model schedule of one phase: intended send instants, in order.
///
/// `peek`/`pop` rather than only `Iterator` because the runner needs to look at the next instant
/// without consuming it (to sleep until it).
#[derive(Clone, Debug)]
pub struct OpenSchedule {
    profile: RateProfile,
    origin: SimTime,
    /// Arrivals popped so far.
    issued: u64,
    /// Λ value of the next arrival.
    next_x: f64,
    hint: usize,
    next: Option<SimTime>,
    /// Arrivals at or after this instant are not produced (phase end).
    end: Option<SimTime>,
    /// At most this many arrivals.
    limit: Option<u64>,
    poisson: Option<Pcg64Mcg>,
    /// Only this shard's arrivals are produced (the others are computed and skipped, so every
    /// shard walks the same schedule).
    shard: Shard,
}

impl OpenSchedule {
    /// `origin` is the phase start. `end` and `limit` bound the schedule (phase duration and
    /// message count). `process` picks even or Poisson spacing; `seed` is used for Poisson.
    pub fn new(
        profile: RateProfile,
        origin: SimTime,
        end: Option<SimTime>,
        limit: Option<u64>,
        process: ArrivalProcess,
        seed: u64,
    ) -> OpenSchedule {
        let mut poisson = match process {
            ArrivalProcess::Even => None,
            ArrivalProcess::Poisson => Some(Pcg64Mcg::new(u128::from(seed) | 1)),
        };
        let next_x = match poisson.as_mut() {
            Some(rng) => exp1(rng),
            None => 0.0,
        };
        let mut s = OpenSchedule {
            profile,
            origin,
            issued: 0,
            next_x,
            hint: 0,
            next: None,
            end,
            limit,
            poisson,
            shard: Shard::WHOLE,
        };
        s.compute_next();
        s
    }

    /// This schedule's arrivals k with k mod N = I only, for shard I of N. `issued` still
    /// counts every arrival of the whole schedule (the message limit is the whole run's) and
    /// `expected_by` gives the shard's share of the expected count.
    pub fn sharded(mut self, shard: Shard) -> OpenSchedule {
        self.shard = shard;
        self.skip_others();
        self
    }

    /// Steps over the arrivals of other shards.
    fn skip_others(&mut self) {
        while self.next.is_some() && !self.shard.owns(self.issued) {
            self.advance();
        }
    }

    fn advance(&mut self) {
        self.issued += 1;
        self.next_x = match self.poisson.as_mut() {
            Some(rng) => self.next_x + exp1(rng),
            None => self.issued as f64,
        };
        self.compute_next();
    }

    fn compute_next(&mut self) {
        if self.limit.is_some_and(|l| self.issued >= l) {
            self.next = None;
            return;
        }
        self.next = self
            .profile
            .inverse_from(self.next_x, self.hint)
            .map(|(t, i)| {
                self.hint = i;
                self.origin.plus(t)
            })
            .filter(|t| self.end.is_none_or(|e| *t < e));
    }

    /// The next intended send instant, if any.
    pub fn peek(&self) -> Option<SimTime> {
        self.next
    }

    /// The next intended send instant if it is due at `now` (≤ now), consuming it.
    pub fn pop_due(&mut self, now: SimTime) -> Option<SimTime> {
        match self.next {
            Some(t) if t <= now => self.pop(),
            _ => None,
        }
    }

    /// Consumes the next intended send instant.
    pub fn pop(&mut self) -> Option<SimTime> {
        let t = self.next?;
        self.advance();
        self.skip_others();
        Some(t)
    }

    /// Arrivals of the whole schedule produced (or, sharded, stepped over) so far.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// Expected arrivals on `[origin, t)`, this shard's share: the target the achieved count
    /// is compared with.
    pub fn expected_by(&self, t: SimTime) -> f64 {
        self.profile.cumulative(t.since(self.origin)) / f64::from(self.shard.count)
    }
}

impl Iterator for OpenSchedule {
    type Item = SimTime;
    fn next(&mut self) -> Option<SimTime> {
        self.pop()
    }
}

/// A draw from Exp(1), never infinite.
fn exp1(rng: &mut Pcg64Mcg) -> f64 {
    let u: f64 = rng.gen::<f64>();
    -(1.0 - u).max(f64::MIN_POSITIVE).ln()
}

/// The closed-model schedule: pure arithmetic on think time and user index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClosedSchedule {
    pub concurrency: u32,
    pub think: Micros,
}

impl ClosedSchedule {
    pub fn from_spec(c: &ClosedArrival) -> ClosedSchedule {
        ClosedSchedule {
            concurrency: c.concurrency,
            think: c.think.0,
        }
    }

    /// When virtual user `vu` sends its first message: staggered evenly over one think time.
    pub fn first_send(&self, origin: SimTime, vu: u32) -> SimTime {
        if self.concurrency == 0 {
            return origin;
        }
        // u128: think (up to ~10^15 µs) × users (up to 10^5) overflows u64.
        let off = u128::from(self.think) * u128::from(vu) / u128::from(self.concurrency);
        origin.plus(u64::try_from(off).unwrap_or(u64::MAX))
    }

    /// When a user whose previous message reached its final outcome at `done` sends again.
    pub fn next_send(&self, done: SimTime) -> SimTime {
        done.plus(self.think)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::spec::{Dur, Ramp, Spike};

    fn open(rate: Option<f64>, ramp: Option<Ramp>, spikes: Vec<Spike>) -> OpenArrival {
        OpenArrival {
            rate,
            ramp,
            spikes,
            arrivals: ArrivalProcess::Even,
            rhythm: None,
        }
    }

    /// Drives the schedule with a virtual clock in 1 ms steps and counts what is due.
    fn drain_by_ms(s: &mut OpenSchedule, until_ms: u64) -> Vec<u64> {
        let mut per_ms = Vec::new();
        for ms in 1..=until_ms {
            let now = SimTime::from_millis(ms).minus(1);
            let mut n = 0;
            while s.pop_due(now).is_some() {
                n += 1;
            }
            per_ms.push(n);
        }
        per_ms
    }

    #[test]
    fn constant_rate_is_exact() {
        let p = RateProfile::constant(20_000.0);
        let s = OpenSchedule::new(p, SimTime::ZERO, None, Some(1000), ArrivalProcess::Even, 0);
        let v: Vec<u64> = s.map(|t| t.0).collect();
        assert_eq!(v.len(), 1000);
        for (k, t) in v.iter().enumerate() {
            assert_eq!(*t, 50 * k as u64);
        }
    }

    #[test]
    fn shards_split_the_schedule_arrival_for_arrival() {
        for process in [ArrivalProcess::Even, ArrivalProcess::Poisson] {
            let make = || {
                OpenSchedule::new(
                    RateProfile::constant(700.0),
                    SimTime::ZERO,
                    Some(SimTime::from_secs(1)),
                    Some(601),
                    process,
                    9,
                )
            };
            let whole: Vec<SimTime> = make().collect();
            assert_eq!(whole.len(), 601);
            let mut union = Vec::new();
            for i in 0..3 {
                let shard = Shard::new(i, 3).unwrap();
                let mut s = make().sharded(shard);
                let mine: Vec<SimTime> = s.by_ref().collect();
                assert_eq!(mine.len() as u64, shard.share(601), "{process:?} {shard}");
                assert_eq!(s.issued(), 601, "the whole schedule was walked");
                let full = make().expected_by(SimTime::from_millis(500));
                assert!((s.expected_by(SimTime::from_millis(500)) * 3.0 - full).abs() < 1e-9);
                union.extend(mine);
            }
            union.sort();
            let mut sorted = whole.clone();
            sorted.sort();
            assert_eq!(
                union, sorted,
                "{process:?}: the shards together are the whole run"
            );
        }
    }

    #[test]
    fn non_integer_interval_rounds_without_drift() {
        // 3/s: 0, 333333, 666667, 1000000, ... exactly k/3 s rounded, never accumulating error.
        let p = RateProfile::constant(3.0);
        let s = OpenSchedule::new(
            p,
            SimTime::from_secs(10),
            None,
            Some(301),
            ArrivalProcess::Even,
            0,
        );
        let v: Vec<u64> = s.map(|t| t.0 - 10_000_000).collect();
        assert_eq!(&v[..4], &[0, 333_333, 666_667, 1_000_000]);
        assert_eq!(v[300], 100_000_000);
    }

    #[test]
    fn virtual_clock_counts_per_ms_at_20k() {
        let p = RateProfile::constant(20_000.0);
        let end = SimTime::from_secs(1);
        let mut s = OpenSchedule::new(p, SimTime::ZERO, Some(end), None, ArrivalProcess::Even, 0);
        let per_ms = drain_by_ms(&mut s, 1000);
        assert!(per_ms.iter().all(|&n| n == 20), "{per_ms:?}");
        assert_eq!(s.issued(), 20_000);
        assert_eq!(s.peek(), None, "nothing at or after the phase end");
    }

    #[test]
    fn linear_ramp_matches_integral() {
        // 0 → 100/s over 10 s: Λ(t) = 5 t², so 5 by 1 s, 20 by 2 s, 500 by 10 s, then 100/s.
        let o = open(
            None,
            Some(Ramp {
                from: 0.0,
                to: 100.0,
                over: Some(Dur::from_secs(10)),
            }),
            vec![],
        );
        let p = RateProfile::from_open(&o, None);
        assert_eq!(p.cumulative(1_000_000), 5.0);
        assert_eq!(p.cumulative(10_000_000), 500.0);
        assert_eq!(p.rate_at(5_000_000), 50.0);
        let s = OpenSchedule::new(
            p,
            SimTime::ZERO,
            Some(SimTime::from_secs(12)),
            None,
            ArrivalProcess::Even,
            0,
        );
        let v: Vec<u64> = s.map(|t| t.0).collect();
        // k-th arrival at sqrt(k/5) s.
        assert_eq!(v[0], 0);
        assert_eq!(v[5], 1_000_000);
        assert_eq!(v[20], 2_000_000);
        assert_eq!(v[1], 447_214); // sqrt(0.2) = 0.4472136 s
        assert_eq!(v[500], 10_000_000);
        assert_eq!(v[501], 10_010_000); // then 100/s
        assert_eq!(v.len(), 700);
        let in_first_sec = v.iter().filter(|&&t| t < 1_000_000).count();
        assert_eq!(in_first_sec, 5);
    }

    #[test]
    fn downward_ramp_defaults_to_phase_length() {
        // 100 → 0 over the 10 s phase: Λ(10 s) = 500; arrivals stop once the rate is 0.
        let o = open(
            None,
            Some(Ramp {
                from: 100.0,
                to: 0.0,
                over: None,
            }),
            vec![],
        );
        let p = RateProfile::from_open(&o, Some(10_000_000));
        let s = OpenSchedule::new(
            p,
            SimTime::ZERO,
            Some(SimTime::from_secs(10)),
            None,
            ArrivalProcess::Even,
            0,
        );
        let v: Vec<u64> = s.map(|t| t.0).collect();
        assert_eq!(v.len(), 500);
        assert_eq!(v[1], 10_005); // first gap ≈ 1/100 s, slightly longer as the rate drops
        assert!(v.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn spike_replaces_base_rate() {
        // 10/s with a 1 s spike at 1000/s from t = 2 s.
        let o = open(
            Some(10.0),
            None,
            vec![Spike {
                at: Dur::from_secs(2),
                duration: Dur::from_secs(1),
                rate: 1000.0,
            }],
        );
        let p = RateProfile::from_open(&o, None);
        assert_eq!(p.segments().len(), 3);
        assert_eq!(p.rate_at(2_500_000), 1000.0);
        assert_eq!(p.rate_at(3_000_000), 10.0);
        let s = OpenSchedule::new(
            p,
            SimTime::ZERO,
            Some(SimTime::from_secs(5)),
            None,
            ArrivalProcess::Even,
            0,
        );
        let v: Vec<u64> = s.map(|t| t.0).collect();
        let count = |a: u64, b: u64| v.iter().filter(|&&t| t >= a && t < b).count();
        assert_eq!(count(0, 2_000_000), 20);
        assert_eq!(count(2_000_000, 3_000_000), 1000);
        assert_eq!(count(3_000_000, 5_000_000), 20);
        assert_eq!(v.len(), 1040);
    }

    #[test]
    fn spike_inside_a_ramp_keeps_the_ramp_around_it() {
        let o = open(
            None,
            Some(Ramp {
                from: 0.0,
                to: 100.0,
                over: Some(Dur::from_secs(10)),
            }),
            vec![Spike {
                at: Dur::from_secs(4),
                duration: Dur::from_secs(2),
                rate: 0.0,
            }],
        );
        let p = RateProfile::from_open(&o, None);
        // Λ(10 s) = 500 − ∫₄⁶ 10t dt = 500 − 100 = 400.
        assert!((p.cumulative(10_000_000) - 400.0).abs() < 1e-9);
        assert_eq!(p.rate_at(6_000_000), 60.0);
        let s = OpenSchedule::new(
            p,
            SimTime::ZERO,
            Some(SimTime::from_secs(10)),
            None,
            ArrivalProcess::Even,
            0,
        );
        let v: Vec<u64> = s.map(|t| t.0).collect();
        assert_eq!(v.len(), 400);
        assert!(v.iter().all(|&t| !(4_000_000 < t && t < 6_000_000)));
    }

    #[test]
    fn spike_on_a_zero_base_rate_fires_only_in_the_spike() {
        let o = open(
            Some(0.0),
            None,
            vec![Spike {
                at: Dur::from_secs(10),
                duration: Dur::from_millis(500),
                rate: 200.0,
            }],
        );
        let p = RateProfile::from_open(&o, None);
        let s = OpenSchedule::new(p, SimTime::ZERO, None, None, ArrivalProcess::Even, 0);
        let v: Vec<u64> = s.map(|t| t.0).collect();
        assert_eq!(v.len(), 100);
        assert_eq!(v[0], 10_000_000);
        assert_eq!(v[1], 10_005_000);
        assert_eq!(v[99], 10_495_000);
    }

    #[test]
    fn message_limit_and_zero_rate() {
        let s = OpenSchedule::new(
            RateProfile::constant(1000.0),
            SimTime::ZERO,
            None,
            Some(7),
            ArrivalProcess::Even,
            0,
        );
        assert_eq!(s.count(), 7);
        let mut s = OpenSchedule::new(
            RateProfile::constant(0.0),
            SimTime::ZERO,
            None,
            None,
            ArrivalProcess::Even,
            0,
        );
        assert_eq!(s.peek(), None);
        assert_eq!(s.pop(), None);
    }

    #[test]
    fn poisson_is_seeded_and_has_the_right_mean() {
        let mk = |seed| {
            OpenSchedule::new(
                RateProfile::constant(1000.0),
                SimTime::ZERO,
                Some(SimTime::from_secs(20)),
                None,
                ArrivalProcess::Poisson,
                seed,
            )
        };
        let a: Vec<SimTime> = mk(7).take(100).collect();
        let b: Vec<SimTime> = mk(7).take(100).collect();
        assert_eq!(a, b);
        assert_ne!(a, mk(8).take(100).collect::<Vec<_>>());
        let n = mk(7).count() as f64;
        // 20,000 expected; sd ≈ 141.
        assert!((n - 20_000.0).abs() < 600.0, "{n}");
    }

    #[test]
    fn closed_schedule_staggers_and_thinks() {
        let c = ClosedSchedule {
            concurrency: 4,
            think: 100_000,
        };
        let o = SimTime::from_secs(1);
        let starts: Vec<u64> = (0..4).map(|i| c.first_send(o, i).0 - o.0).collect();
        assert_eq!(starts, vec![0, 25_000, 50_000, 75_000]);
        assert_eq!(c.next_send(SimTime(5_000)), SimTime(105_000));
        // A user with a fixed 20 ms service time sends every 120 ms: 9 messages in [0, 1 s).
        let mut t = c.first_send(SimTime::ZERO, 0);
        let mut n = 0;
        while t < SimTime::from_secs(1) {
            n += 1;
            t = c.next_send(t.plus(20_000));
        }
        assert_eq!(n, 9);
    }
}
