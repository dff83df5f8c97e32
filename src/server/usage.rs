//! Call counting: Meta's hourly limits on Graph calls and the headers a BSP's throttler reads
//! (`X-Business-Use-Case-Usage`, `X-App-Usage`).
//!
//! Three budgets, each a sliding hour of simulated time in one-minute buckets:
//! - **WABA management** (`whatsapp_business_management`): per WABA, calls to `GET /{waba-id}`
//!   and its `phone_numbers`, `message_templates` and `subscribed_apps` edges: 200 per hour,
//!   5,000 once the WABA has a registered number (cloud-api.md "App / WABA request rate
//!   limits"); past it, 80007 (429). The business-level WABA edges
//!   (`owned_`/`client_whatsapp_business_accounts`) count the same way per business and refuse
//!   with 80008, the code Meta documents for them (cloud-api-2026.md §4 [M:cwba]).
//! - **Messaging** (`whatsapp`): per WABA, sends, block lists and `/{template-id}` calls (the
//!   routes Meta's OpenAPI spec gives the header, minus `message_templates`, which Meta's
//!   platform page names a management edge). Meta publishes no budget for this use case, so
//!   its percentages are shares of the app's budget, the limit these calls run into.
//! - **The app** (code 4): every authorised Graph call of the one app wabasim serves; past it,
//!   4 (429, subcode 2446079, transient, as Meta's OpenAPI spec shows). `X-App-Usage` reports
//!   it, on the one route the spec gives that header (`GET /{business-id}`).
//!
//! `X-Business-Use-Case-Usage` is keyed by the object's WABA (or business) with one array entry
//! per use case counted there in the hour (cloud-api-2026.md §4):
//! `{"<waba>":[{"type":"whatsapp_business_management","call_count":12,"total_cputime":12,
//! "total_time":12,"estimated_time_to_regain_access":0},{"type":"whatsapp",…}]}`. Windows
//! exist only for ids the world knows (60 counters each, at most two per id, plus the app's):
//! bounded.

use crate::clock::{SimTime, MICROS_PER_SEC};
use parking_lot::Mutex;
use std::collections::HashMap;

/// Meta's budget for a WABA with a registered number (every number of a wabasim world is).
pub const DEFAULT_CALLS_PER_HOUR: u32 = 5_000;

/// The app's calls per hour. Meta publishes no figure for a WhatsApp app (Graph's platform
/// formula, 200 × the app's users, does not fit a system-user token), so this is our default:
/// the calls of one number sending for an hour at 1,000 messages per second, Meta's highest
/// automatic throughput level. One number never reaches it; many numbers at full speed do.
pub const DEFAULT_APP_CALLS_PER_HOUR: u32 = 3_600_000;

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

    /// Moves to `minute` and counts one call there unless the window already holds `limit`;
    /// returns whether it was full.
    fn count(&mut self, minute: u64, limit: u64) -> bool {
        self.advance(minute);
        let full = self.total() >= limit;
        if !full {
            let b = &mut self.buckets[(minute % 60) as usize];
            *b = b.saturating_add(1);
        }
        full
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
    /// The JSON of the header (`X-Business-Use-Case-Usage` or `X-App-Usage`).
    pub header: String,
    /// Past the limit: refuse (with 80007, 80008 or 4; not counted).
    pub exceeded: bool,
}

/// A use case of `X-Business-Use-Case-Usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UseCase {
    /// `whatsapp_business_management`: the WABA management budget.
    Management,
    /// `whatsapp`: messaging calls, a share of the app's budget.
    Messaging,
}

impl UseCase {
    fn name(self) -> &'static str {
        match self {
            UseCase::Management => "whatsapp_business_management",
            UseCase::Messaging => "whatsapp",
        }
    }
}

/// The counters of every id called so far, and the app's.
#[derive(Debug)]
pub struct Usage {
    /// Management calls per hour per WABA (or business); 0 turns that limit (and its header
    /// entries) off.
    pub calls_per_hour: u32,
    /// Calls per hour of the app; 0 turns code 4, `X-App-Usage` and the `whatsapp` entries off.
    pub app_calls_per_hour: u32,
    /// Shared by the server's connection tasks (this is a door, not the core): one lock per
    /// counted call, held for a map lookup and an add.
    windows: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    by_id: HashMap<(u64, UseCase), Window>,
    app: Option<Window>,
}

/// Percentages of `used` over `limit`, as Meta reports them (whole percent, at most 100).
fn percent(used: u64, limit: u64) -> u64 {
    (used * 100 / limit).min(100)
}

impl Usage {
    pub fn new(calls_per_hour: u32, app_calls_per_hour: u32) -> Usage {
        Usage {
            calls_per_hour,
            app_calls_per_hour,
            windows: Mutex::new(Windows::default()),
        }
    }

    fn limit(&self, case: UseCase) -> u64 {
        u64::from(match case {
            UseCase::Management => self.calls_per_hour,
            UseCase::Messaging => self.app_calls_per_hour,
        })
    }

    /// Counts one call of the app at `now`. `None` when the app limit is off.
    pub fn count_app(&self, now: SimTime) -> Option<Counted> {
        let limit = u64::from(self.app_calls_per_hour);
        if limit == 0 {
            return None;
        }
        let minute = now.0 / MINUTE;
        let mut windows = self.windows.lock();
        let w = windows.app.get_or_insert_with(|| Window::new(minute));
        let exceeded = w.count(minute, limit);
        let p = percent(w.total(), limit);
        let header = format!(r#"{{"call_count":{p},"total_cputime":{p},"total_time":{p}}}"#);
        Some(Counted { header, exceeded })
    }

    /// Counts one call of use case `case` against `id` (a WABA, or a business for its WABA
    /// edges, that the world knows) at `now`. The header lists every use case counted against
    /// `id` in the hour. `None` when the use case's limit is off.
    pub fn count(&self, id: u64, case: UseCase, now: SimTime) -> Option<Counted> {
        let limit = self.limit(case);
        if limit == 0 {
            return None;
        }
        let minute = now.0 / MINUTE;
        let mut windows = self.windows.lock();
        let w = windows
            .by_id
            .entry((id, case))
            .or_insert_with(|| Window::new(minute));
        // Messaging calls are refused by the app's limit (code 4), not by their own.
        let exceeded = w.count(minute, limit) && case == UseCase::Management;
        let mut entries = Vec::with_capacity(2);
        for c in [UseCase::Management, UseCase::Messaging] {
            let limit = self.limit(c);
            let Some(w) = windows.by_id.get_mut(&(id, c)).filter(|_| limit > 0) else {
                continue;
            };
            w.advance(minute);
            let p = percent(w.total(), limit);
            let regain = if c == case && exceeded {
                w.minutes_to_room(limit)
            } else {
                0
            };
            entries.push(format!(
                r#"{{"type":"{}","call_count":{p},"total_cputime":{p},"total_time":{p},"estimated_time_to_regain_access":{regain}}}"#,
                c.name()
            ));
        }
        let header = format!(r#"{{"{id}":[{}]}}"#, entries.join(","));
        Some(Counted { header, exceeded })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UseCase::{Management as M, Messaging as W};

    #[test]
    fn counts_per_waba_in_a_sliding_hour_and_refuses_past_the_limit() {
        let u = Usage::new(4, 0);
        let t = SimTime(1_000 * MINUTE);
        for k in 1..=4u64 {
            let c = u.count(7, M, t).unwrap();
            assert!(!c.exceeded);
            let v: serde_json::Value = serde_json::from_str(&c.header).unwrap();
            assert_eq!(v["7"][0]["call_count"], k * 25);
            assert_eq!(v["7"][0]["type"], "whatsapp_business_management");
        }
        let c = u.count(7, M, t).unwrap();
        assert!(c.exceeded);
        let v: serde_json::Value = serde_json::from_str(&c.header).unwrap();
        assert_eq!(v["7"][0]["estimated_time_to_regain_access"], 60);
        // Another WABA has its own budget.
        assert!(!u.count(8, M, t).unwrap().exceeded);
        // Fifty-nine minutes later still full; an hour later, room again.
        assert!(u.count(7, M, SimTime(t.0 + 59 * MINUTE)).unwrap().exceeded);
        assert!(!u.count(7, M, SimTime(t.0 + 60 * MINUTE)).unwrap().exceeded);
    }

    #[test]
    fn calls_spread_over_the_hour_leave_it_one_minute_at_a_time() {
        let u = Usage::new(3, 0);
        let t = SimTime(50 * MINUTE);
        u.count(1, M, t);
        u.count(1, M, SimTime(t.0 + 10 * MINUTE));
        u.count(1, M, SimTime(t.0 + 20 * MINUTE));
        let c = u.count(1, M, SimTime(t.0 + 30 * MINUTE)).unwrap();
        assert!(c.exceeded);
        // The first call leaves the window 30 minutes later.
        assert!(
            c.header.contains("\"estimated_time_to_regain_access\":30"),
            "{}",
            c.header
        );
        assert!(!u.count(1, M, SimTime(t.0 + 60 * MINUTE)).unwrap().exceeded);
    }

    #[test]
    fn zero_turns_it_off() {
        assert!(Usage::new(0, 0).count(1, M, SimTime(0)).is_none());
    }
    #[test]
    fn messaging_calls_are_a_share_of_the_apps_budget_in_the_wabas_array() {
        let u = Usage::new(10, 4);
        let t = SimTime(5 * MINUTE);
        let c = u.count(3, W, t).unwrap();
        assert!(!c.exceeded);
        assert_eq!(
            c.header,
            r#"{"3":[{"type":"whatsapp","call_count":25,"total_cputime":25,"total_time":25,"estimated_time_to_regain_access":0}]}"#
        );
        // A management call to the same WABA: both use cases in one array, management first.
        let c = u.count(3, M, t).unwrap();
        let v: serde_json::Value = serde_json::from_str(&c.header).unwrap();
        assert_eq!(v["3"][0]["type"], "whatsapp_business_management");
        assert_eq!(v["3"][0]["call_count"], 10);
        assert_eq!(v["3"][1]["type"], "whatsapp");
        assert_eq!(v["3"][1]["call_count"], 25);
        // Messaging never refuses by itself (the app's limit does), even when full.
        for _ in 0..5 {
            assert!(!u.count(3, W, t).unwrap().exceeded);
        }
        // With the app limit off, no `whatsapp` entries.
        let off = Usage::new(10, 0);
        assert!(off.count(3, W, t).is_none());
        assert!(!off.count(3, M, t).unwrap().header.contains("\"whatsapp\""));
    }

    #[test]
    fn the_app_limit_counts_every_call_and_refuses_past_it() {
        let u = Usage::new(10, 2);
        let t = SimTime(5 * MINUTE);
        let c = u.count_app(t).unwrap();
        assert_eq!(
            c.header,
            r#"{"call_count":50,"total_cputime":50,"total_time":50}"#
        );
        assert!(!c.exceeded);
        assert!(!u.count_app(t).unwrap().exceeded);
        let c = u.count_app(t).unwrap();
        assert!(c.exceeded);
        assert!(c.header.contains(r#""call_count":100"#));
        // An hour later it has room again.
        assert!(!u.count_app(SimTime(t.0 + 60 * MINUTE)).unwrap().exceeded);
        assert!(Usage::new(10, 0).count_app(t).is_none());
    }
}
