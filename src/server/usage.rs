//! WABA management call counting: Meta's hourly limit on the calls that manage a WhatsApp
//! Business Account, and the `X-Business-Use-Case-Usage` header a BSP's throttler reads.
//!
//! Meta counts, per app and per WABA, calls to `GET /{waba-id}` and its `phone_numbers`,
//! `message_templates` and `subscribed_apps` edges: 200 per hour, 5,000 once the WABA has a
//! registered number (cloud-api.md "App / WABA request rate limits"); past it, 80007 (429).
//! Every counted response carries the header, keyed by the WABA id, with the share of the
//! hour's budget used in percent (cloud-api-2026.md §4, from Meta's OpenAPI spec):
//! `{"<waba>":[{"type":"whatsapp_business_management","call_count":12,"total_cputime":12,
//! "total_time":12,"estimated_time_to_regain_access":0}]}`. The mock serves one app, so the
//! count is per WABA. The window is the last 60 minutes of simulated time, in one-minute
//! buckets (60 counters per WABA that was called, for known WABAs only: bounded).

use crate::clock::{SimTime, MICROS_PER_SEC};
use parking_lot::Mutex;
use std::collections::HashMap;

/// Meta's budget for a WABA with a registered number (every number of a wabasim world is).
pub const DEFAULT_CALLS_PER_HOUR: u32 = 5_000;

const MINUTE: u64 = 60 * MICROS_PER_SEC;

/// Calls in the last hour, one bucket per minute.
#[derive(Debug, Clone)]
struct Window {
    buckets: [u32; 60],
    /// The minute (since the epoch) of the newest bucket.
    minute: u64,
}

impl Window {
    fn new(minute: u64) -> Window {
        Window {
            buckets: [0; 60],
            minute,
        }
    }

    /// Moves the window to `minute`, clearing the buckets that fell out of the hour.
    fn advance(&mut self, minute: u64) {
        if minute <= self.minute {
            return;
        }
        let gap = (minute - self.minute).min(60);
        for k in 1..=gap {
            self.buckets[((self.minute + k) % 60) as usize] = 0;
        }
        self.minute = minute;
    }

    fn total(&self) -> u64 {
        self.buckets.iter().map(|&b| u64::from(b)).sum()
    }

    /// Minutes until the oldest calls leave the window and one more fits.
    fn minutes_to_room(&self, limit: u64) -> u64 {
        let mut total = self.total();
        for k in 1..=60u64 {
            total -= u64::from(self.buckets[((self.minute + k) % 60) as usize]);
            if total < limit {
                return k;
            }
        }
        60
    }
}

/// What one counted call gives: the header value, and whether it was over the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// The JSON of `X-Business-Use-Case-Usage`.
    pub header: String,
    /// Past the limit: refuse with 80007 (not counted).
    pub exceeded: bool,
}

/// The counters of every WABA called so far.
#[derive(Debug)]
pub struct Usage {
    /// Calls per hour per WABA; 0 turns the limit (and the header) off.
    pub calls_per_hour: u32,
    windows: Mutex<HashMap<u64, Window>>,
}

impl Usage {
    pub fn new(calls_per_hour: u32) -> Usage {
        Usage {
            calls_per_hour,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one management call to `waba` (a WABA the world knows) at `now`. `None` when the
    /// limit is off.
    pub fn count(&self, waba: u64, now: SimTime) -> Option<Counted> {
        if self.calls_per_hour == 0 {
            return None;
        }
        let limit = u64::from(self.calls_per_hour);
        let minute = now.0 / MINUTE;
        let mut windows = self.windows.lock();
        let w = windows.entry(waba).or_insert_with(|| Window::new(minute));
        w.advance(minute);
        let exceeded = w.total() >= limit;
        if !exceeded {
            let b = &mut w.buckets[(minute % 60) as usize];
            *b = b.saturating_add(1);
        }
        let used = w.total();
        let pct = (used * 100 / limit).min(100);
        let regain = if exceeded {
            w.minutes_to_room(limit)
        } else {
            0
        };
        let header = format!(
            r#"{{"{waba}":[{{"type":"whatsapp_business_management","call_count":{pct},"total_cputime":{pct},"total_time":{pct},"estimated_time_to_regain_access":{regain}}}]}}"#
        );
        Some(Counted { header, exceeded })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_waba_in_a_sliding_hour_and_refuses_past_the_limit() {
        let u = Usage::new(4);
        let t = SimTime(1_000 * MINUTE);
        for k in 1..=4u64 {
            let c = u.count(7, t).unwrap();
            assert!(!c.exceeded);
            let v: serde_json::Value = serde_json::from_str(&c.header).unwrap();
            assert_eq!(v["7"][0]["call_count"], k * 25);
            assert_eq!(v["7"][0]["type"], "whatsapp_business_management");
        }
        let c = u.count(7, t).unwrap();
        assert!(c.exceeded);
        let v: serde_json::Value = serde_json::from_str(&c.header).unwrap();
        assert_eq!(v["7"][0]["estimated_time_to_regain_access"], 60);
        // Another WABA has its own budget.
        assert!(!u.count(8, t).unwrap().exceeded);
        // Fifty-nine minutes later still full; an hour later, room again.
        assert!(u.count(7, SimTime(t.0 + 59 * MINUTE)).unwrap().exceeded);
        assert!(!u.count(7, SimTime(t.0 + 60 * MINUTE)).unwrap().exceeded);
    }

    #[test]
    fn calls_spread_over_the_hour_leave_it_one_minute_at_a_time() {
        let u = Usage::new(3);
        let t = SimTime(50 * MINUTE);
        u.count(1, t);
        u.count(1, SimTime(t.0 + 10 * MINUTE));
        u.count(1, SimTime(t.0 + 20 * MINUTE));
        let c = u.count(1, SimTime(t.0 + 30 * MINUTE)).unwrap();
        assert!(c.exceeded);
        // The first call leaves the window 30 minutes later.
        assert!(
            c.header.contains("\"estimated_time_to_regain_access\":30"),
            "{}",
            c.header
        );
        assert!(!u.count(1, SimTime(t.0 + 60 * MINUTE)).unwrap().exceeded);
    }

    #[test]
    fn zero_turns_it_off() {
        assert!(Usage::new(0).count(1, SimTime(0)).is_none());
    }
}
