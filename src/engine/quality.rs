//! Quality rating from user feedback: negative signals (blocks by reason, reports, mutes)
//! relative to delivered messages over a moving window, weighted by recency. Used for phone
//! numbers (GREEN / YELLOW / RED) and templates (which pause on RED).
//!
//! Memory is fixed per rated thing: one 8-byte bucket per hour of the window (168 buckets,
//! 1.3 KB for the default 7 days), whatever the traffic. No per-event lists.
//!
//! The recency-weighted sums are kept up to date as signals arrive and hours pass (multiply
//! by the hourly decay, take out the bucket that leaves the window), so reading a rating costs
//! no pass over the buckets: a campaign with many blocks re-rates its number on every one.

use super::policy::QualityModel;
use super::world::QualityRating;
use crate::clock::{SimTime, MICROS_PER_HOUR};

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    delivered: u32,
    negative: f32,
}

/// Hourly feedback buckets over a moving window (a ring indexed by absolute hour).
#[derive(Clone, Debug)]
pub struct SignalWindow {
    buckets: Box<[Bucket]>,
    /// Absolute hour (since the epoch) of the newest bucket.
    head: u64,
    /// `head % buckets.len()`: the newest bucket's index, kept so that finding a bucket is a
    /// subtraction (a division by the runtime window length costs tens of cycles, and every
    /// delivered message adds to two windows).
    head_idx: usize,
    /// Unweighted sums over the buckets: an upper bound of the weighted ones (every weight is
    /// at most 1), so that [`Self::may_be_known`] answers without the 168-bucket pass.
    raw_delivered: u64,
    raw_negative: f64,
    /// Weighted sums at the head hour (a bucket `a` hours older than the head weighs
    /// `decay^a`), kept incrementally.
    weighted: Weighted,
    /// Weight lost per hour of age: `0.5^(1 / half_life_hours)`.
    decay: f64,
    /// `decay^(len - 1)`: the weight of the oldest bucket, taken out as it leaves.
    oldest_weight: f64,
    /// Buckets holding a negative signal (exact, unlike the float sums).
    negative_buckets: u32,
}

/// The weighted sums a rating is computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Weighted {
    pub negative: f64,
    pub delivered: f64,
}

impl Weighted {
    /// Negative signals per delivered message, with `min_volume` as the denominator floor.
    pub fn rate(&self, m: &QualityModel) -> f64 {
        self.negative / self.delivered.max(m.min_volume)
    }

    /// The rating this feedback earns.
    pub fn rating(&self, m: &QualityModel) -> QualityRating {
        let r = self.rate(m);
        if r >= m.red_at {
            QualityRating::Red
        } else if r >= m.yellow_at {
            QualityRating::Yellow
        } else {
            QualityRating::Green
        }
    }

    /// Whether there is enough traffic (or enough bad feedback) for a template to be rated.
    pub fn is_known(&self, m: &QualityModel) -> bool {
        self.delivered >= m.min_volume || self.rate(m) >= m.yellow_at
    }
}

fn hour_of(t: SimTime) -> u64 {
    t.as_micros() / MICROS_PER_HOUR
}

impl SignalWindow {
    /// An empty window of `m.window_hours` hourly buckets, weighted with `m.half_life_hours`.
    pub fn new(m: &QualityModel) -> SignalWindow {
        let n = m.window_hours.max(1);
        let decay = 0.5f64.powf(1.0 / m.half_life_hours);
        SignalWindow {
            buckets: vec![Bucket::default(); n as usize].into_boxed_slice(),
            head: 0,
            head_idx: 0,
            raw_delivered: 0,
            raw_negative: 0.0,
            weighted: Weighted::default(),
            decay,
            oldest_weight: decay.powi(n as i32 - 1),
            negative_buckets: 0,
        }
    }

    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    /// Moves the head to `now`'s hour, clearing the buckets that fell out of the window.
    fn rotate(&mut self, now: SimTime) {
        let h = hour_of(now);
        if h <= self.head {
            return;
        }
        let n = self.len();
        let steps = (h - self.head).min(n);
        let mut idx = self.head_idx;
        for _ in 0..steps {
            // The bucket reused for the new hour is the oldest one: it leaves the window.
            idx = if idx + 1 == self.buckets.len() {
                0
            } else {
                idx + 1
            };
            let b = std::mem::take(&mut self.buckets[idx]);
            self.raw_delivered -= b.delivered as u64;
            self.raw_negative -= b.negative as f64;
            if b.negative > 0.0 {
                self.negative_buckets -= 1;
            }
            let w = &mut self.weighted;
            w.delivered = (w.delivered - self.oldest_weight * b.delivered as f64) * self.decay;
            w.negative = (w.negative - self.oldest_weight * b.negative as f64) * self.decay;
        }
        if steps == n {
            // The whole window went by: exact zeros, no rounding left over.
            self.raw_negative = 0.0;
        }
        // Rounding must not leave a trace of signals that are gone.
        if self.raw_delivered == 0 {
            self.weighted.delivered = 0.0;
        }
        if self.negative_buckets == 0 {
            self.raw_negative = 0.0;
            self.weighted.negative = 0.0;
        }
        self.weighted.delivered = self.weighted.delivered.max(0.0);
        self.weighted.negative = self.weighted.negative.max(0.0);
        self.head = h;
        self.head_idx = (h % n) as usize;
    }

    /// Weight of a signal at `at` (at most as new as the head) in the head-hour sums.
    fn weight_at(&self, at: SimTime) -> f64 {
        match self.head - hour_of(at) {
            0 => 1.0,
            a => self.decay.powi(a as i32),
        }
    }

    /// The bucket for `at`, or `None` if `at` is older than the window (or in the future of
    /// the head by less than an hour: the head moves there).
    fn bucket(&mut self, at: SimTime) -> Option<&mut Bucket> {
        self.rotate(at);
        let back = self.head - hour_of(at);
        if back >= self.len() {
            return None;
        }
        // `(head - back) mod n` without dividing: `back < n`.
        let back = back as usize;
        let idx = match self.head_idx.checked_sub(back) {
            Some(i) => i,
            None => self.head_idx + self.buckets.len() - back,
        };
        Some(&mut self.buckets[idx])
    }

    pub fn add_delivered(&mut self, at: SimTime) {
        if let Some(b) = self.bucket(at) {
            if b.delivered < u32::MAX {
                b.delivered += 1;
                self.raw_delivered += 1;
                self.weighted.delivered += self.weight_at(at);
            }
        }
    }

    pub fn add_negative(&mut self, at: SimTime, weight: f64) {
        if let Some(b) = self.bucket(at) {
            // What the f32 bucket really gained, so that its removal takes out the same.
            let before = b.negative;
            b.negative += weight as f32;
            let gained = b.negative as f64 - before as f64;
            if before <= 0.0 && b.negative > 0.0 {
                self.negative_buckets += 1;
            }
            self.raw_negative += gained;
            self.weighted.negative += self.weight_at(at) * gained;
        }
    }

    /// Forgets everything (a template starts afresh after a pause).
    pub fn clear(&mut self) {
        self.buckets.iter_mut().for_each(|b| *b = Bucket::default());
        self.raw_delivered = 0;
        self.raw_negative = 0.0;
        self.weighted = Weighted::default();
        self.negative_buckets = 0;
    }

    /// False when the window certainly holds too little feedback for a rating
    /// ([`Weighted::is_known`] would be false at any `now`): the weighted sums are at most the
    /// unweighted ones. Lets a new template's deliveries skip the weighted pass.
    pub fn may_be_known(&self, m: &QualityModel) -> bool {
        let bound = Weighted {
            negative: self.raw_negative * (1.0 + 1e-9),
            delivered: self.raw_delivered as f64,
        };
        bound.is_known(m)
    }

    /// Whether any negative signal is still inside the window at `now`.
    pub fn has_negative(&mut self, now: SimTime) -> bool {
        self.rotate(now);
        self.negative_buckets > 0
    }

    /// Recency-weighted sums at `now`: a bucket `a` hours old counts `0.5^(a / half_life)`
    /// (the half-life given to [`Self::new`]; `m` only checks it is the same model).
    pub fn weighted(&mut self, now: SimTime, m: &QualityModel) -> Weighted {
        debug_assert!((self.decay - 0.5f64.powf(1.0 / m.half_life_hours)).abs() < 1e-12);
        self.rotate(now);
        self.weighted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MICROS_PER_SEC;

    const T0: SimTime = SimTime(1_760_000_000 * MICROS_PER_SEC);

    fn hours(h: u64) -> SimTime {
        T0.plus(h * MICROS_PER_HOUR)
    }

    #[test]
    fn recency_weighting_halves_per_half_life_and_the_window_forgets() {
        let m = QualityModel::default(); // 168 h window, 48 h half-life
        let mut w = SignalWindow::new(&m);
        w.add_negative(T0, 10.0);
        w.add_delivered(T0);
        assert!((w.weighted(T0, &m).negative - 10.0).abs() < 1e-9);
        assert!((w.weighted(hours(48), &m).negative - 5.0).abs() < 1e-6);
        assert!((w.weighted(hours(96), &m).negative - 2.5).abs() < 1e-6);
        assert!(w.has_negative(hours(167)));
        assert!(!w.has_negative(hours(168)), "the 7-day window forgets");
        assert_eq!(w.weighted(hours(168), &m), Weighted::default());
    }

    #[test]
    fn rating_thresholds_fire_and_do_not_fire() {
        let m = QualityModel::default(); // yellow 1%, red 3%, floor 1000
        let at = |neg: f64, del: f64| Weighted {
            negative: neg,
            delivered: del,
        };
        assert_eq!(at(9.9, 1000.0).rating(&m), QualityRating::Green);
        assert_eq!(at(10.0, 1000.0).rating(&m), QualityRating::Yellow);
        assert_eq!(at(29.0, 1000.0).rating(&m), QualityRating::Yellow);
        assert_eq!(at(30.0, 1000.0).rating(&m), QualityRating::Red);
        // Below the volume floor the floor is the denominator: 5 blocks out of 10 is not RED.
        assert_eq!(at(5.0, 10.0).rating(&m), QualityRating::Green);
        assert!(!at(5.0, 10.0).is_known(&m));
        assert!(at(10.0, 10.0).is_known(&m));
    }

    #[test]
    fn signals_older_than_the_window_are_ignored() {
        let m = QualityModel::default();
        let mut w = SignalWindow::new(&m);
        w.add_delivered(hours(200));
        w.add_negative(hours(10), 1.0); // far older than the head: dropped
        assert_eq!(w.weighted(hours(200), &m).negative, 0.0);
        assert_eq!(w.weighted(hours(200), &m).delivered, 1.0);
    }

    /// The incremental sums equal the definition (a bucket `a` hours old weighs `decay^a`)
    /// through several turns of the ring, `has_negative` agrees with the log, and the
    /// quick bound never says "not known" when the weighted sums are known.
    #[test]
    fn weighted_matches_the_definition_and_the_bound_is_safe() {
        let m = QualityModel {
            min_volume: 50.0,
            ..QualityModel::default()
        };
        let mut w = SignalWindow::new(&m);
        let mut log: Vec<(u64, f64, u32)> = Vec::new(); // (hour, negative, delivered)
        let mut x = 12345u64;
        let mut saw_unknown = false;
        let mut saw_known = false;
        let mut head = 0u64; // the window never moves back in time
        for step in 0..2_000u64 {
            x = super::super::audience::splitmix(x);
            let h = step / 3 + (x % 2);
            let at = hours(h);
            if x.is_multiple_of(7) {
                w.add_negative(at, 0.5);
                log.push((h, 0.5, 0));
            } else {
                w.add_delivered(at);
                log.push((h, 0.0, 1));
            }
            head = head.max(h).max(h + (x >> 8) % 3);
            let got = w.weighted(hours(head), &m);
            let now_h = head;
            let decay = 0.5f64.powf(1.0 / m.half_life_hours);
            let mut want = Weighted::default();
            for (lh, neg, del) in &log {
                // Signals older than the window, or dropped on arrival, do not count.
                if now_h - lh < m.window_hours as u64 && now_h >= *lh {
                    let f = decay.powi((now_h - lh) as i32);
                    want.negative += f * neg;
                    want.delivered += f * *del as f64;
                }
            }
            assert!((got.negative - want.negative).abs() < 1e-6, "{step}");
            let any_negative = log.iter().any(|(lh, neg, _)| {
                *neg > 0.0 && now_h - lh < m.window_hours as u64 && now_h >= *lh
            });
            assert_eq!(w.has_negative(hours(head)), any_negative, "{step}");
            assert!((got.delivered - want.delivered).abs() < 1e-6, "{step}");
            if got.is_known(&m) {
                assert!(w.may_be_known(&m), "{step}");
                saw_known = true;
            } else {
                saw_unknown = true;
            }
            log.retain(|(lh, _, _)| now_h - lh < m.window_hours as u64);
        }
        assert!(saw_known && saw_unknown);
        // An empty window is certainly unknown.
        assert!(!SignalWindow::new(&m).may_be_known(&m));
    }
}
