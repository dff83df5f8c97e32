//! Per-portfolio policy state the send path reads without a lookup: each number shard holds an
//! `Arc` of its portfolio's. Kept apart from `BusinessState` (immutable after start) because it
//! changes while the engine runs.

use super::contacts::ContactChecks;
use super::violations::{Standing, Violation};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct PortfolioPolicy {
    /// Strikes and the ban.
    pub standing: Standing,
    /// What the platform keeps detecting about this business while it sends: a prohibited
    /// vertical or an unofficial provider (the first that applies), if any.
    pub risk: Option<Violation>,
    /// Contact checks (`POST /v1/contacts`).
    pub contacts: Mutex<ContactChecks>,
    /// Outstanding contact checks, readable without the lock: accepted sends look at the
    /// contact checks only when this is non-zero.
    pub contacts_outstanding: AtomicUsize,
    /// Why onboarding refused this business (`[rules.onboarding] check = true` and a prohibited
    /// vertical): the portfolio is disabled from the start and every send says so.
    pub refused_at_onboarding: Option<&'static str>,
}

impl PortfolioPolicy {
    pub fn new(risk: Option<Violation>) -> PortfolioPolicy {
        PortfolioPolicy {
            risk,
            ..Default::default()
        }
    }

    /// Refuses the business at onboarding: disabled from the start (no strike, no webhook:
    /// it never got access), with the policy reason.
    pub fn refuse_at_onboarding(&mut self, reason: &'static str) {
        self.refused_at_onboarding = Some(reason);
        self.standing.disable();
    }

    /// An accepted send to `user`: a contact check of that user is used.
    pub fn messaged(&self, user: super::ids::WaId) {
        if self.contacts_outstanding.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut c = self.contacts.lock();
        c.messaged(user);
        self.contacts_outstanding
            .store(c.outstanding(), Ordering::Release);
    }
}
