//! A portfolio's standing with the platform: strikes and the ban, the risk the platform keeps
//! detecting while it sends, contact checks, and a refusal at onboarding.

use super::contacts::ContactChecks;
use super::violations::{Standing, Violation};

#[derive(Debug, Default)]
pub struct PortfolioStanding {
    /// Strikes and the ban.
    pub standing: Standing,
    /// What the platform keeps detecting about this business while it sends: a prohibited
    /// vertical or an unofficial provider (the first that applies), if any.
    pub risk: Option<Violation>,
    /// Contact checks (`POST /v1/contacts`).
    pub contacts: ContactChecks,
    /// Why onboarding refused this business (`[rules.onboarding] check = true` and a prohibited
    /// vertical): the portfolio is disabled from the start and every send says so.
    pub refused_at_onboarding: Option<&'static str>,
}

impl PortfolioStanding {
    pub fn new(risk: Option<Violation>) -> PortfolioStanding {
        PortfolioStanding {
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
    pub fn messaged(&mut self, user: super::ids::WaId) {
        if self.contacts.outstanding() > 0 {
            self.contacts.messaged(user);
        }
    }
}
