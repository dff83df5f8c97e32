//! Contact checks, On-Premises style (`POST /v1/contacts`): is this number on WhatsApp?
//!
//! The seed says businesses may check numbers before messaging them, but "checking too many
//! numbers without messaging them gets the account blocked" (anti-spam). Meta's Cloud API has
//! no such endpoint and the block is UNCONFIRMED (reference §5); we model it as our default:
//!
//! - each checked number is *outstanding* until the business messages it (any of its numbers,
//!   accepted send) or until `window_hours` pass;
//! - a check request that would bring the outstanding count above `max_unmessaged` is refused,
//!   and contact checks stay blocked for `block_hours` (code 368).
//!
//! Memory: at most `max_unmessaged` outstanding entries per business (8 + 8 bytes each, in a
//! map and an expiry queue); the send path only touches this when the business has outstanding
//! checks (an atomic count read first).

use super::ids::WaId;
use crate::clock::{SimTime, MICROS_PER_HOUR};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// `[rules.contacts]`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ContactsConfig {
    /// Checked-but-not-messaged numbers a business may have outstanding.
    pub max_unmessaged: usize,
    /// How long a check stays outstanding if the number is not messaged.
    pub window_hours: u64,
    /// How long contact checks stay blocked after the limit is crossed.
    pub block_hours: u64,
    /// Numbers per request (On-Premises accepted batches; we cap them).
    pub max_per_request: usize,
}

impl Default for ContactsConfig {
    fn default() -> Self {
        ContactsConfig {
            max_unmessaged: 1_000,
            window_hours: 24,
            block_hours: 24,
            max_per_request: 1_000,
        }
    }
}

impl ContactsConfig {
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.window_hours == 0 {
            return Err((
                "rules.contacts.window_hours".into(),
                "must be at least 1".into(),
            ));
        }
        if self.max_per_request == 0 {
            return Err((
                "rules.contacts.max_per_request".into(),
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Why a contact check was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckRefusal {
    /// Blocked until this instant.
    Blocked { until: SimTime },
    /// Too many numbers in one request.
    TooMany,
}

/// One business's outstanding checks.
#[derive(Debug, Default)]
pub struct ContactChecks {
    /// Outstanding numbers and when their check expires.
    outstanding: super::ids::IdMap<WaId, SimTime>,
    /// (expiry, number) in check order, to expire without scanning the map.
    expiry: VecDeque<(SimTime, WaId)>,
    blocked_until: SimTime,
    /// Numbers checked and never messaged within the window (for reports).
    pub wasted: u64,
    pub checked: u64,
}

impl ContactChecks {
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    fn expire(&mut self, now: SimTime) {
        while let Some(&(at, user)) = self.expiry.front() {
            if at > now {
                break;
            }
            self.expiry.pop_front();
            // Only if this entry is the live one (a re-check pushes a later expiry).
            if self.outstanding.get(&user) == Some(&at) {
                self.outstanding.remove(&user);
                self.wasted += 1;
            }
        }
    }

    /// Records a check of `users`. Refuses (and starts a block) if it would leave more than
    /// `max_unmessaged` numbers outstanding.
    pub fn check(
        &mut self,
        now: SimTime,
        cfg: &ContactsConfig,
        users: &[WaId],
    ) -> Result<(), CheckRefusal> {
        if users.len() > cfg.max_per_request {
            return Err(CheckRefusal::TooMany);
        }
        if now < self.blocked_until {
            return Err(CheckRefusal::Blocked {
                until: self.blocked_until,
            });
        }
        self.expire(now);
        let new = users
            .iter()
            .filter(|u| !self.outstanding.contains_key(u))
            .count();
        if self.outstanding.len() + new > cfg.max_unmessaged {
            self.blocked_until = now.plus(cfg.block_hours * MICROS_PER_HOUR);
            return Err(CheckRefusal::Blocked {
                until: self.blocked_until,
            });
        }
        let until = now.plus(cfg.window_hours * MICROS_PER_HOUR);
        for &u in users {
            self.outstanding.insert(u, until);
            self.expiry.push_back((until, u));
        }
        // Re-checks leave stale queue entries; keep the queue bounded by the map.
        if self.expiry.len() > 2 * cfg.max_unmessaged.max(1) {
            let live = &self.outstanding;
            self.expiry.retain(|(at, u)| live.get(u) == Some(at));
        }
        self.checked += users.len() as u64;
        Ok(())
    }

    /// The business messaged `user`: the check is used.
    pub fn messaged(&mut self, user: WaId) -> bool {
        self.outstanding.remove(&user).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MICROS_PER_SEC;

    const T0: SimTime = SimTime(1_760_000_000 * MICROS_PER_SEC);

    fn cfg(max: usize) -> ContactsConfig {
        ContactsConfig {
            max_unmessaged: max,
            ..Default::default()
        }
    }

    fn users(from: u64, n: u64) -> Vec<WaId> {
        (from..from + n).map(|i| WaId(6281300000000 + i)).collect()
    }

    #[test]
    fn checking_too_many_unmessaged_numbers_blocks_checks() {
        let c = cfg(10);
        let mut cc = ContactChecks::default();
        assert_eq!(cc.check(T0, &c, &users(0, 10)), Ok(()));
        let r = cc.check(T0, &c, &users(10, 1));
        let until = T0.plus(24 * MICROS_PER_HOUR);
        assert_eq!(r, Err(CheckRefusal::Blocked { until }));
        // Blocked even for numbers already outstanding, until the block ends.
        assert!(cc
            .check(T0.plus(MICROS_PER_HOUR), &c, &users(0, 1))
            .is_err());
        assert_eq!(cc.check(until, &c, &users(20, 1)), Ok(()));
        assert_eq!(cc.wasted, 10, "the first ten expired unmessaged");
    }

    #[test]
    fn messaging_checked_numbers_frees_the_budget() {
        let c = cfg(10);
        let mut cc = ContactChecks::default();
        let first = users(0, 10);
        cc.check(T0, &c, &first).unwrap();
        for u in &first {
            assert!(cc.messaged(*u));
        }
        assert_eq!(cc.outstanding(), 0);
        assert_eq!(cc.check(T0, &c, &users(10, 10)), Ok(()));
        assert_eq!(cc.wasted, 0);
    }

    #[test]
    fn checks_expire_after_the_window_and_rechecks_do_not_double_count() {
        let c = cfg(10);
        let mut cc = ContactChecks::default();
        cc.check(T0, &c, &users(0, 10)).unwrap();
        cc.check(T0, &c, &users(0, 10)).unwrap(); // same numbers again: still 10
        assert_eq!(cc.outstanding(), 10);
        let later = T0.plus(24 * MICROS_PER_HOUR);
        assert_eq!(cc.check(later, &c, &users(10, 10)), Ok(()));
        assert_eq!(cc.outstanding(), 10);
    }

    #[test]
    fn oversized_requests_are_refused_without_blocking() {
        let c = ContactsConfig {
            max_per_request: 2,
            ..Default::default()
        };
        let mut cc = ContactChecks::default();
        assert_eq!(cc.check(T0, &c, &users(0, 3)), Err(CheckRefusal::TooMany));
        assert_eq!(cc.check(T0, &c, &users(0, 2)), Ok(()));
    }
}
