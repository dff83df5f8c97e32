//! Tunable rule parameters (`[rules]` in a scenario). Defaults are Meta's documented figures
//! where Meta gives one, and our documented choice where it does not.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Messages per second per number unless the number says otherwise (Meta: 80).
    pub throughput_mps: u32,
    /// Pair rate: one message to the same user per this many seconds (Meta: 6).
    pub pair_interval_s: f64,
    /// Pair rate burst, borrowing future quota (Meta: 45).
    pub pair_burst: u32,
    /// Customer service window length (Meta: 24 h).
    pub service_window_hours: u64,
    /// How a free-form message outside the window fails: `sync` (HTTP error 131047, the
    /// default) or `async` (accepted, then a `failed` status with 131047). Sources disagree.
    pub window_errors: ErrorTiming,
    /// Simulated seconds from template creation to the review verdict.
    pub template_review_delay_s: u64,
    /// Decision-log lines kept in memory per phone number (older ones are counted, not kept).
    pub log_capacity_per_number: usize,
    /// `[rules.identity]`: identity key check and held messages (docs/policy-model.md).
    pub identity: super::identity::IdentityConfig,
    /// `[rules.contacts]`: contact-check budget (docs/policy-model.md).
    pub contacts: super::contacts::ContactsConfig,
    /// `[rules.violations]`: strikes before a portfolio is disabled (docs/policy-model.md).
    pub violations: super::violations::ViolationsConfig,
    /// `[rules.onboarding]`: refuse the scenario's prohibited businesses (docs/policy-model.md).
    pub onboarding: super::eligibility::OnboardingConfig,
    /// `[rules.pacing]`: template pacing (docs/policy-model.md "Template pacing").
    pub pacing: super::pacing::PacingConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ErrorTiming {
    Sync,
    Async,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            throughput_mps: 80,
            pair_interval_s: 6.0,
            pair_burst: 45,
            service_window_hours: 24,
            window_errors: ErrorTiming::Sync,
            template_review_delay_s: 60,
            log_capacity_per_number: 10_000,
            identity: Default::default(),
            contacts: Default::default(),
            violations: Default::default(),
            onboarding: Default::default(),
            pacing: Default::default(),
        }
    }
}

impl RulesConfig {
    /// Checks ranges; returns `(field, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.throughput_mps == 0 {
            return Err(("rules.throughput_mps".into(), "must be at least 1".into()));
        }
        if !(self.pair_interval_s > 0.0 && self.pair_interval_s.is_finite()) {
            return Err(("rules.pair_interval_s".into(), "must be above 0".into()));
        }
        if self.pair_burst == 0 {
            return Err(("rules.pair_burst".into(), "must be at least 1".into()));
        }
        if self.service_window_hours == 0 {
            return Err((
                "rules.service_window_hours".into(),
                "must be at least 1".into(),
            ));
        }
        self.contacts.validate()?;
        self.violations.validate()?;
        self.pacing.validate()?;
        Ok(())
    }
}
