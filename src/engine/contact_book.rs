//! The portfolio's contact book: Meta's portfolio-scoped record of the phone number behind a
//! BSUID, kept from any exchange in which the business had the phone. It only fills webhooks:
//! a user who hides their phone behind a username still shows it (`wa_id`, `from`,
//! `recipient_id`) to a portfolio whose book holds them, beyond the 30 days of the
//! same-number rule. A business deletes an entry with `DELETE /{phone-number-id}/contact_book`
//! [M:bsuid §3.7]. Not shared between the portfolios of a parent BSUID account.
//!
//! Bounded: only users of the world's audience who hide their phone are recorded (the others
//! show it anyway), so the book holds at most the audience's size.

use super::ids::WaId;
use rustc_hash::FxHashSet;

#[derive(Debug, Default)]
pub struct ContactBook {
    /// Off: the business disabled it (Meta's business setting, which deletes the data).
    pub enabled: bool,
    users: FxHashSet<WaId>,
}

impl ContactBook {
    pub fn new(enabled: bool) -> ContactBook {
        ContactBook {
            enabled,
            users: FxHashSet::default(),
        }
    }

    /// Records that the business has `user`'s phone (the caller checks the bound).
    pub fn record(&mut self, user: WaId) {
        if self.enabled {
            self.users.insert(user);
        }
    }

    pub fn contains(&self, user: WaId) -> bool {
        self.users.contains(&user)
    }

    /// Deletes `user`'s entry; whether there was one (`deleted` in Meta's answer).
    pub fn delete(&mut self, user: WaId) -> bool {
        self.users.remove(&user)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}
