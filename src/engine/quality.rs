//! Quality rating from user feedback: negative signals (blocks by reason, reports, mutes)
//! relative to delivered messages over a moving window, weighted by recency. Used for phone
//! numbers (GREEN / YELLOW / RED) and templates (which pause on RED).
//!
//! Memory is fixed per rated thing: one 8-byte bucket per hour of the window (168 buckets,
//! 1.3 KB for the default 7 days), whatever the traffic. No per-event lists.

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
    pub fn new(window_hours: u32) -> SignalWindow {
        SignalWindow {
            buckets: vec![Bucket::default(); window_hours.max(1) as usize].into_boxed_slice(),
            head: 0,
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
        for k in 1..=steps {
            let idx = ((self.head + k) % n) as usize;
            self.buckets[idx] = Bucket::default();
        }
        self.head = h;
    }

    /// The bucket for `at`, or `None` if `at` is older than the window (or in the future of
    /// the head by less than an hour: the head moves there).
    fn bucket(&mut self, at: SimTime) -> Option<&mut Bucket> {
        self.rotate(at);
        let h = hour_of(at);
        if self.head - h >= self.len() {
            return None;
        }
        let n = self.len();
        Some(&mut self.buckets[(h % n) as usize])
    }

    pub fn add_delivered(&mut self, at: SimTime) {
        if let Some(b) = self.bucket(at) {
            b.delivered = b.delivered.saturating_add(1);
        }
    }

    pub fn add_negative(&mut self, at: SimTime, weight: f64) {
        if let Some(b) = self.bucket(at) {
            b.negative += weight as f32;
        }
    }

    /// Forgets everything (a template starts afresh after a pause).
    pub fn clear(&mut self) {
        self.buckets.iter_mut().for_each(|b| *b = Bucket::default());
    }

    /// Whether any negative signal is still inside the window at `now`.
    pub fn has_negative(&mut self, now: SimTime) -> bool {
        self.rotate(now);
        self.buckets.iter().any(|b| b.negative > 0.0)
    }

    /// Recency-weighted sums at `now`: a bucket `a` hours old counts `0.5^(a / half_life)`.
    pub fn weighted(&mut self, now: SimTime, m: &QualityModel) -> Weighted {
        self.rotate(now);
        let n = self.len();
        let decay = 0.5f64.powf(1.0 / m.half_life_hours);
        let mut w = 1.0;
        let mut out = Weighted::default();
        for age in 0..n {
            let b = self.buckets[((self.head + n - age) % n) as usize];
            out.negative += w * b.negative as f64;
            out.delivered += w * b.delivered as f64;
            w *= decay;
        }
        out
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
        let mut w = SignalWindow::new(m.window_hours);
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
        let mut w = SignalWindow::new(m.window_hours);
        w.add_delivered(hours(200));
        w.add_negative(hours(10), 1.0); // far older than the head: dropped
        assert_eq!(w.weighted(hours(200), &m).negative, 0.0);
        assert_eq!(w.weighted(hours(200), &m).delivered, 1.0);
    }
}
