//! Live samples of a run for `wabasim run --dashboard`: once a second, the rate asked and
//! achieved, the latency percentiles of the requests completed in that second, and the running
//! counts by class and code. Kept in a bounded ring ([`LIVE_CAPACITY`]); a viewer asks for the
//! samples after the last one it saw.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::VecDeque;

/// Samples kept (ten minutes at one a second); older ones are dropped.
pub const LIVE_CAPACITY: usize = 600;

/// A code's running count in one class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodeCount {
    pub class: &'static str,
    /// As the report spells it (`130429`, `http_503`, `timeout`).
    pub code: String,
    /// Meta's name, for the Graph codes wabasim knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    pub count: u64,
}

/// Requests completed so far, by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClassCounts {
    pub ok: u64,
    pub throttled: u64,
    pub refused: u64,
    pub failed: u64,
}

/// One second of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveSample {
    pub seq: u64,
    /// Wall seconds since the run started.
    pub t_s: f64,
    /// The phase (or phases, joined by " + ") running.
    pub phase: String,
    /// Messages per second the plan asks for now (`None`: a closed model asks for none).
    pub target_rate: Option<f64>,
    /// First sends per second over the last interval.
    pub achieved_rate: f64,
    /// Latency of the requests completed in the last interval (`None`: none completed).
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub requests: ClassCounts,
    /// Of `requests.ok`, the simulated users writing in (`/_sim/inbound`): not sends.
    pub inbound: u64,
    /// Of `requests.ok`, the users blocked (`block` entries): not sends either.
    #[serde(default)]
    pub blocked: u64,
    pub codes: Vec<CodeCount>,
}

/// The ring of samples, shared by the sampler (writer) and the dashboard (readers).
#[derive(Debug, Default)]
pub struct LiveSamples {
    inner: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    next_seq: u64,
    samples: VecDeque<LiveSample>,
}

impl LiveSamples {
    /// Adds a sample, numbering it; drops the oldest past [`LIVE_CAPACITY`].
    pub fn push(&self, mut s: LiveSample) {
        let mut r = self.inner.lock();
        s.seq = r.next_seq;
        r.next_seq += 1;
        if r.samples.len() >= LIVE_CAPACITY {
            r.samples.pop_front();
        }
        r.samples.push_back(s);
    }

    /// The newest sample, if any.
    pub fn latest(&self) -> Option<LiveSample> {
        self.inner.lock().samples.back().cloned()
    }

    /// The kept samples numbered `since` or later, and the number to ask from next.
    pub fn since(&self, since: u64) -> (Vec<LiveSample>, u64) {
        let r = self.inner.lock();
        let out = r
            .samples
            .iter()
            .filter(|s| s.seq >= since)
            .cloned()
            .collect();
        (out, r.next_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LiveSample {
        LiveSample {
            seq: 99,
            t_s: 1.0,
            phase: "p".into(),
            target_rate: Some(5.0),
            achieved_rate: 5.0,
            p50_ms: None,
            p90_ms: None,
            p99_ms: None,
            requests: ClassCounts::default(),
            inbound: 0,
            blocked: 0,
            codes: Vec::new(),
        }
    }

    #[test]
    fn samples_are_numbered_bounded_and_read_from_a_cursor() {
        let live = LiveSamples::default();
        for _ in 0..LIVE_CAPACITY + 5 {
            live.push(sample());
        }
        let (all, next) = live.since(0);
        assert_eq!(all.len(), LIVE_CAPACITY);
        assert_eq!(all[0].seq, 5, "oldest dropped, numbering kept");
        assert_eq!(next, (LIVE_CAPACITY + 5) as u64);
        let (none, again) = live.since(next);
        assert!(none.is_empty());
        assert_eq!(again, next);
        let (last, _) = live.since(next - 1);
        assert_eq!(last.len(), 1);
    }
}
