//! Delivery counters, shared by the push path, the dispatcher and `stats()` readers.
//!
//! Event counts follow every event from `push` to exactly one final state, so that a receiver
//! outage is visible rather than silent:
//!
//! `pushed = delivered + expired + dropped_overflow + no_url + queued + in_flight + awaiting_retry`
//!
//! The counters are separate atomics (the push path must stay lock-free), so a snapshot taken
//! while events move between states may be off by the events in motion; once the dispatcher is
//! idle the identity holds exactly.

use parking_lot::Mutex;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of the webhook delivery counters. Event counts unless marked "POSTs".
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct WebhookStats {
    /// Events handed to `Outbox::push`.
    pub pushed: u64,
    /// Accepted, not yet attempted (in the channel or waiting for a free connection slot).
    pub queued: u64,
    /// In a POST that has not completed yet.
    pub in_flight: u64,
    /// Failed at least once, waiting for their next attempt.
    pub awaiting_retry: u64,
    /// Acknowledged with a 2xx.
    pub delivered: u64,
    /// Given up on: still failing `horizon_s` after their first attempt.
    pub expired: u64,
    /// Refused at `push` because `max_pending` events were already pending.
    pub dropped_overflow: u64,
    /// Pushed while no webhook URL is configured (`undeliverable_no_url`).
    pub no_url: u64,
    /// POSTs attempted (first attempts and retries).
    pub posts: u64,
    /// POSTs that failed (non-2xx, connection error or timeout).
    pub failed_attempts: u64,
    /// POSTs that were retries.
    pub retried: u64,
    /// Body bytes of the POSTs attempted.
    pub bytes_sent: u64,
    /// The most recent failure, e.g. `"HTTP 500"` or `"timeout after 5000 ms"`.
    pub last_error: Option<String>,
}

impl WebhookStats {
    /// Events not yet in a final state.
    pub fn pending(&self) -> u64 {
        self.queued + self.in_flight + self.awaiting_retry
    }

    /// One line for an operator: where every event went (the terms add up to `pushed`), then
    /// the POSTs and the last failure.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} events: {} delivered, {} pending, {} expired, {} dropped, {} with no URL; {} POSTs, {} failed",
            self.pushed,
            self.delivered,
            self.pending(),
            self.expired,
            self.dropped_overflow,
            self.no_url,
            self.posts,
            self.failed_attempts,
        );
        if let Some(e) = &self.last_error {
            line.push_str(&format!(" (last: {e})"));
        }
        line
    }

    /// Whether every pushed event is accounted for (see the module docs).
    pub fn adds_up(&self) -> bool {
        self.pushed
            == self.delivered + self.expired + self.dropped_overflow + self.no_url + self.pending()
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub pushed: AtomicU64,
    /// queued + in_flight + awaiting_retry, kept separately so `push` can enforce `max_pending`
    /// with one atomic operation.
    pub pending: AtomicU64,
    pub queued: AtomicU64,
    pub in_flight: AtomicU64,
    pub awaiting_retry: AtomicU64,
    pub delivered: AtomicU64,
    pub expired: AtomicU64,
    pub dropped_overflow: AtomicU64,
    pub no_url: AtomicU64,
    pub posts: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub retried: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }

    pub fn sub(c: &AtomicU64, n: u64) {
        c.fetch_sub(n, Relaxed);
    }

    /// Reserves up to `n` pending slots under `max`; returns how many were granted.
    pub fn reserve(&self, n: u64, max: u64) -> u64 {
        let prev = self.pending.fetch_add(n, Relaxed);
        let granted = max.saturating_sub(prev).min(n);
        if granted < n {
            self.pending.fetch_sub(n - granted, Relaxed);
        }
        granted
    }

    pub fn snapshot(&self) -> WebhookStats {
        WebhookStats {
            pushed: self.pushed.load(Relaxed),
            queued: self.queued.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            awaiting_retry: self.awaiting_retry.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            expired: self.expired.load(Relaxed),
            dropped_overflow: self.dropped_overflow.load(Relaxed),
            no_url: self.no_url.load(Relaxed),
            posts: self.posts.load(Relaxed),
            failed_attempts: self.failed_attempts.load(Relaxed),
            retried: self.retried.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            last_error: self.last_error.lock().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_grants_up_to_the_bound() {
        let c = Counters::default();
        assert_eq!(c.reserve(3, 5), 3);
        assert_eq!(c.reserve(3, 5), 2);
        assert_eq!(c.reserve(1, 5), 0);
        assert_eq!(c.pending.load(Relaxed), 5);
    }

    #[test]
    fn the_summary_says_where_every_event_went() {
        let s = WebhookStats {
            pushed: 10,
            delivered: 6,
            awaiting_retry: 1,
            expired: 2,
            no_url: 1,
            posts: 12,
            failed_attempts: 4,
            last_error: Some("HTTP 500".into()),
            ..WebhookStats::default()
        };
        assert!(s.adds_up());
        assert_eq!(
            s.summary(),
            "10 events: 6 delivered, 1 pending, 2 expired, 0 dropped, 1 with no URL; \
             12 POSTs, 4 failed (last: HTTP 500)"
        );
    }
}
