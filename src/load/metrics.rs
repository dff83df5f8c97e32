//! Run metrics: HDR histograms per phase × outcome class, per-code and per-reason counters, and a
//! bounded per-second timeline of target vs achieved. Everything is fixed-size or bounded
//! whatever the run length, and everything merges (for reports from several machines).

use std::fmt;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::clock::{Micros, MICROS_PER_SEC};
use crate::traffic::policy::{Class, FailKind, Outcome, RetryReason};

/// Largest latency a histogram holds (1 hour, in µs); larger values are clamped to it.
pub const HIST_MAX_US: u64 = 3_600 * MICROS_PER_SEC;
/// Three significant digits: 0.1 % value resolution at every magnitude.
pub const HIST_SIGFIG: u8 = 3;
/// Distinct codes kept per class; further codes are counted under `other`. Bounds memory against
/// a server that invents codes.
pub const MAX_CODES: usize = 64;
/// Timeline buckets kept; when full, adjacent buckets are merged and the bucket width doubles.
pub const TIMELINE_CAP: usize = 600;

/// A latency histogram in µs with fixed bounds, so any two merge and memory is constant.
pub fn new_hist() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail (low ≥ 1, high ≥ 2·low, sigfig ≤ 5).
    Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG).expect("constant histogram bounds")
}

/// Records `us` (clamped to [1, HIST_MAX_US]).
pub fn record(h: &mut Histogram<u64>, us: Micros) {
    h.saturating_record(us.clamp(1, HIST_MAX_US));
}

/// What a counted code is: a Graph error code, an HTTP status, or a transport failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CodeKey {
    Graph(i64),
    Http(u16),
    Timeout,
    Connection,
    BadResponse,
    Other,
}

impl CodeKey {
    pub fn of(outcome: Outcome) -> Option<CodeKey> {
        Some(match outcome {
            Outcome::Ok => return None,
            Outcome::Throttled(429) => CodeKey::Http(429),
            Outcome::Throttled(c) | Outcome::Refused(c) => CodeKey::Graph(c),
            Outcome::Failed(FailKind::ServerCode(c)) => CodeKey::Graph(c),
            Outcome::Failed(FailKind::Http(s)) => CodeKey::Http(s),
            Outcome::Failed(FailKind::Timeout) => CodeKey::Timeout,
            Outcome::Failed(FailKind::Connection) => CodeKey::Connection,
            Outcome::Failed(FailKind::BadResponse) => CodeKey::BadResponse,
        })
    }

    /// Parses the report spelling back (`"130429"`, `"http_503"`, `"timeout"`, …).
    pub fn parse(s: &str) -> Option<CodeKey> {
        Some(match s {
            "timeout" => CodeKey::Timeout,
            "connection" => CodeKey::Connection,
            "bad_response" => CodeKey::BadResponse,
            "other" => CodeKey::Other,
            _ => match s.strip_prefix("http_") {
                Some(n) => CodeKey::Http(n.parse().ok()?),
                None => CodeKey::Graph(s.parse().ok()?),
            },
        })
    }
}

impl fmt::Display for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeKey::Graph(c) => write!(f, "{c}"),
            CodeKey::Http(s) => write!(f, "http_{s}"),
            CodeKey::Timeout => f.write_str("timeout"),
            CodeKey::Connection => f.write_str("connection"),
            CodeKey::BadResponse => f.write_str("bad_response"),
            CodeKey::Other => f.write_str("other"),
        }
    }
}

/// Counts per code, at most [`MAX_CODES`] distinct keys (a small vector: a handful of codes in
/// practice, so a linear scan beats hashing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CodeCounts {
    entries: Vec<(CodeKey, u64)>,
}

impl CodeCounts {
    pub fn add(&mut self, key: CodeKey, n: u64) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == key) {
            e.1 += n;
            return;
        }
        if self.entries.len() < MAX_CODES {
            self.entries.push((key, n));
        } else if let Some(e) = self.entries.iter_mut().find(|e| e.0 == CodeKey::Other) {
            e.1 += n;
        } else if let Some(last) = self.entries.last_mut() {
            // Full and no `other` yet: the last slot becomes `other`, keeping its count.
            last.0 = CodeKey::Other;
            last.1 += n;
        }
    }
    pub fn get(&self, key: CodeKey) -> u64 {
        self.entries
            .iter()
            .find(|e| e.0 == key)
            .map(|e| e.1)
            .unwrap_or(0)
    }
    /// Sorted by key for stable output.
    pub fn sorted(&self) -> Vec<(CodeKey, u64)> {
        let mut v = self.entries.clone();
        v.sort();
        v
    }
    pub fn merge(&mut self, other: &CodeCounts) {
        for (k, n) in &other.entries {
            self.add(*k, *n);
        }
    }
}

/// One timeline bucket: what was intended and what happened in that interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Arrivals whose intended send time fell in the bucket (open model; 0 in the closed model).
    pub target: u64,
    /// First attempts actually sent in the bucket.
    pub sent: u64,
    /// Requests completed in the bucket, by class.
    pub ok: u64,
    pub throttled: u64,
    pub refused: u64,
    pub failed: u64,
}

impl Bucket {
    fn add(&mut self, o: &Bucket) {
        self.target += o.target;
        self.sent += o.sent;
        self.ok += o.ok;
        self.throttled += o.throttled;
        self.refused += o.refused;
        self.failed += o.failed;
    }
}

/// Per-interval series since the phase start, starting at 1 s buckets. Bounded: at
/// [`TIMELINE_CAP`] buckets, pairs merge and the width doubles, so a week-long run keeps 600
/// points of ~17 min each instead of 600,000.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub bucket_ms: u64,
    pub buckets: Vec<Bucket>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            bucket_ms: 1000,
            buckets: Vec::new(),
        }
    }
}

impl Timeline {
    /// The bucket for `t` µs since the phase start.
    pub fn at(&mut self, t: Micros) -> &mut Bucket {
        let width = |ms: u64| ms.max(1).saturating_mul(1000);
        let mut i = (t / width(self.bucket_ms)) as usize;
        while i >= TIMELINE_CAP {
            self.fold();
            i = (t / width(self.bucket_ms)) as usize;
        }
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, Bucket::default());
        }
        &mut self.buckets[i]
    }

    fn fold(&mut self) {
        self.bucket_ms = self.bucket_ms.saturating_mul(2);
        let old = std::mem::take(&mut self.buckets);
        for pair in old.chunks(2) {
            let mut b = pair[0];
            if let Some(second) = pair.get(1) {
                b.add(second);
            }
            self.buckets.push(b);
        }
    }

    /// Adds `other` bucket by bucket (both measured from their phase start), after bringing
    /// both to the coarser width.
    pub fn merge(&mut self, other: &Timeline) {
        let mut other = other.clone();
        while self.bucket_ms < other.bucket_ms {
            self.fold();
        }
        while other.bucket_ms < self.bucket_ms {
            other.fold();
        }
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), Bucket::default());
        }
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            a.add(b);
        }
        while self.buckets.len() > TIMELINE_CAP {
            self.fold();
        }
    }
}

/// Everything measured for one phase. Updated under one lock per phase by the runner; cheap
/// updates only (array indexing, histogram record).
#[derive(Clone, Debug)]
pub struct PhaseMetrics {
    /// HTTP requests completed, by class (index = `Class as usize`). Attempts, not messages:
    /// a message retried twice counts three requests.
    pub requests: [u64; 4],
    /// Request latency by class, µs. Open model: from the intended send time of the attempt;
    /// closed model: from the actual send.
    pub latency: [Histogram<u64>; 4],
    /// Codes seen, by class (ok has none).
    pub codes: [CodeCounts; 4],
    /// Messages whose first attempt was sent.
    pub messages: u64,
    /// Arrivals the schedule intended in the phase's active window (open model).
    pub intended: u64,
    /// Intended arrivals never issued (stopped, or the generator could not keep up).
    pub unsent: u64,
    /// Window replies that found nobody to answer and were not sent (`no_window = "drop"`).
    pub no_window: u64,
    /// Ok requests that simulated a user writing in rather than a send.
    pub inbound: u64,
    /// Ok sends answered `message_status: held_for_quality_assessment` (template pacing).
    pub held: u64,
    /// Ok block requests (`block` entries): users blocked.
    pub blocked: u64,
    /// Messages whose first attempt was addressed by BSUID (`recipient`): users the webhooks
    /// showed without their phone number.
    pub by_user_id: u64,
    /// Final outcome per message, by class.
    pub finals: [u64; 4],
    /// Messages cut short by a stop: waiting for a retry, or still in flight after the grace.
    pub abandoned: u64,
    /// Messages whose retry budget ran out.
    pub gave_up: u64,
    /// Retries sent, by reason (index = position in [`RetryReason::ALL`]).
    pub retries: [u64; 5],
    /// Messages that ended ok after at least one retry.
    pub recovered: u64,
    /// From the intended first send to the final ok response, µs: what a retrying sender
    /// actually experiences, backoffs included.
    pub message_latency: Histogram<u64>,
    /// Generator lag: intended first send → actual first send, µs (open model). Shows how much
    /// of the measured latency is the generator's own (timer tick, back-pressure, pacing).
    pub send_lag: Histogram<u64>,
    /// Recipient draws by kind.
    pub recipients_new: u64,
    pub recipients_returning: u64,
    pub recipients_hot: u64,
    /// Per-interval series.
    pub timeline: Timeline,
    /// Length of the phase's active window (issuing messages), µs.
    pub active_us: Micros,
    /// Expected arrivals over the active window per the rate function (open model).
    pub expected: f64,
}

impl Default for PhaseMetrics {
    fn default() -> Self {
        PhaseMetrics {
            requests: [0; 4],
            latency: [new_hist(), new_hist(), new_hist(), new_hist()],
            codes: Default::default(),
            messages: 0,
            intended: 0,
            unsent: 0,
            no_window: 0,
            inbound: 0,
            held: 0,
            blocked: 0,
            by_user_id: 0,
            finals: [0; 4],
            abandoned: 0,
            gave_up: 0,
            retries: [0; 5],
            recovered: 0,
            message_latency: new_hist(),
            send_lag: new_hist(),
            recipients_new: 0,
            recipients_returning: 0,
            recipients_hot: 0,
            timeline: Timeline::default(),
            active_us: 0,
            expected: 0.0,
        }
    }
}

impl PhaseMetrics {
    /// Records one completed request `done_at` µs after the phase start.
    pub fn record_request(&mut self, outcome: Outcome, latency_us: Micros, done_at: Micros) {
        let c = outcome.class();
        self.requests[c as usize] += 1;
        record(&mut self.latency[c as usize], latency_us);
        if let Some(k) = CodeKey::of(outcome) {
            self.codes[c as usize].add(k, 1);
        }
        let b = self.timeline.at(done_at);
        match c {
            Class::Ok => b.ok += 1,
            Class::Throttled => b.throttled += 1,
            Class::Refused => b.refused += 1,
            Class::Failed => b.failed += 1,
        }
    }

    /// Records a first attempt going out `at` µs after the phase start.
    pub fn record_sent(&mut self, at: Micros) {
        self.messages += 1;
        self.timeline.at(at).sent += 1;
    }

    /// Records an intended arrival at `at` µs after the phase start.
    pub fn record_intended(&mut self, at: Micros) {
        self.intended += 1;
        self.timeline.at(at).target += 1;
    }

    pub fn record_retry(&mut self, reason: RetryReason) {
        let i = RetryReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.retries[i] += 1;
    }

    /// Records a message's final outcome.
    pub fn record_final(&mut self, outcome: Outcome, retried: bool, e2e_us: Micros) {
        let c = outcome.class();
        self.finals[c as usize] += 1;
        if c == Class::Ok {
            record(&mut self.message_latency, e2e_us);
            if retried {
                self.recovered += 1;
            }
        }
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.iter().sum()
    }

    /// Adds another phase's metrics (same phase on another machine, or another phase for the
    /// run total). Counts add; histograms add; the active window is the longer one (parallel
    /// shards run at the same time).
    pub fn merge(&mut self, o: &PhaseMetrics) {
        for i in 0..4 {
            self.requests[i] += o.requests[i];
            self.finals[i] += o.finals[i];
            // Same bounds on both sides: add cannot fail.
            let _ = self.latency[i].add(&o.latency[i]);
            self.codes[i].merge(&o.codes[i]);
        }
        for i in 0..5 {
            self.retries[i] += o.retries[i];
        }
        self.messages += o.messages;
        self.intended += o.intended;
        self.unsent += o.unsent;
        self.no_window += o.no_window;
        self.inbound += o.inbound;
        self.held += o.held;
        self.blocked += o.blocked;
        self.by_user_id += o.by_user_id;
        self.abandoned += o.abandoned;
        self.gave_up += o.gave_up;
        self.recovered += o.recovered;
        let _ = self.message_latency.add(&o.message_latency);
        let _ = self.send_lag.add(&o.send_lag);
        self.recipients_new += o.recipients_new;
        self.recipients_returning += o.recipients_returning;
        self.recipients_hot += o.recipients_hot;
        self.timeline.merge(&o.timeline);
        self.active_us = self.active_us.max(o.active_us);
        self.expected += o.expected;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_folds_and_stays_bounded() {
        let mut t = Timeline::default();
        for s in 0..10_000u64 {
            t.at(s * MICROS_PER_SEC).sent += 1;
        }
        assert!(t.buckets.len() <= TIMELINE_CAP);
        assert_eq!(t.bucket_ms, 32_000);
        assert_eq!(t.buckets.iter().map(|b| b.sent).sum::<u64>(), 10_000);
        assert_eq!(t.buckets[0].sent, 32);
    }

    #[test]
    fn timeline_merge_aligns_widths() {
        let mut a = Timeline::default();
        let mut b = Timeline::default();
        for s in 0..3 {
            a.at(s * MICROS_PER_SEC).ok += 1;
        }
        for s in 0..1000 {
            b.at(s * MICROS_PER_SEC).ok += 1;
        }
        a.merge(&b);
        assert_eq!(a.bucket_ms, 2000);
        assert_eq!(a.buckets[0].ok, 4);
        assert_eq!(a.buckets[1].ok, 3);
        assert_eq!(a.buckets.iter().map(|b| b.ok).sum::<u64>(), 1003);
    }

    #[test]
    fn codes_are_bounded() {
        let mut c = CodeCounts::default();
        for code in 0..200 {
            c.add(CodeKey::Graph(code), 1);
        }
        assert_eq!(c.sorted().len(), MAX_CODES);
        assert_eq!(c.sorted().iter().map(|e| e.1).sum::<u64>(), 200);
        assert_eq!(c.get(CodeKey::Other), 200 - (MAX_CODES as u64 - 1));
        for s in [
            "130429",
            "http_503",
            "timeout",
            "connection",
            "bad_response",
            "other",
        ] {
            assert_eq!(CodeKey::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(CodeKey::parse("http_x"), None);
    }

    #[test]
    fn phase_metrics_merge_adds() {
        let mut a = PhaseMetrics::default();
        let mut b = PhaseMetrics::default();
        a.record_request(Outcome::Ok, 1000, 0);
        b.record_request(Outcome::Ok, 3000, 0);
        b.record_request(Outcome::Throttled(130429), 500, 0);
        a.merge(&b);
        assert_eq!(a.requests, [2, 1, 0, 0]);
        assert_eq!(a.latency[0].len(), 2);
        assert_eq!(a.latency[0].max(), 3001); // 3 significant digits
        assert_eq!(a.codes[1].get(CodeKey::Graph(130429)), 1);
        assert_eq!(a.timeline.buckets[0].ok, 2);
    }
}
