//! Platform-dynamics knobs (`[policy]` in a scenario): quality rating, messaging limits,
//! throughput upgrade, template pausing, opt-in, per-user marketing limit, account restriction.
//!
//! Defaults are Meta's documented figures where Meta gives one (7-day quality window, tiers,
//! half-the-limit-in-7-days scaling within 6 h, 3 h / 6 h / disabled pausing, 100K users for the
//! 1,000 msg/s upgrade) and our documented choice where it does not (thresholds, weights). Every
//! default is listed with its source and confidence in `docs/policy-model.md`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Quality rating of phone numbers.
    pub quality: QualityModel,
    /// Quality of templates (drives pausing).
    pub template_quality: QualityModel,
    /// Signal weight of one block, by block reason.
    pub block_weight: BlockWeights,
    /// Signal weight of a report (on top of the block it comes with).
    pub report_weight: f64,
    /// Signal weight of a mute (Meta names mutes and archives as weak signals).
    pub mute_weight: f64,
    /// Emit the historical `phone_number_quality_update` events (FLAGGED, UNFLAGGED, DOWNGRADE,
    /// UPGRADE) that current Meta docs no longer list but older BSP code still handles.
    pub legacy_webhooks: bool,
    /// Days a RED number stays FLAGGED before it returns to CONNECTED one tier lower (legacy
    /// per-number mode) or simply CONNECTED (portfolio mode).
    pub flag_days: u64,
    /// `portfolio` (2025+: one limit per business portfolio, 250 → 2K → 10K → 100K →
    /// unlimited) or `per_number` (legacy: 250 → 1K → 10K → 100K → unlimited per number, with
    /// downgrade after `flag_days` flagged).
    pub limits_mode: LimitsMode,
    /// What a business-initiated send beyond the messaging limit gets (Meta documents no code).
    pub limit_behavior: LimitBehavior,
    /// Hours from meeting the scaling condition to the new tier (Meta: "within 6 hours").
    pub scale_delay_hours: u64,
    /// Share of the current limit that must be used in the last 7 days to scale (Meta: half).
    pub scale_usage_ratio: f64,
    /// Unverified portfolios at 250 scale to 2,000 after reaching this many users outside a
    /// service window in 30 days (Meta: 2,000).
    pub initial_scale_users_30d: u32,
    /// Share of the reviews that follow that path (250 → 2,000, unverified portfolios) which
    /// Meta defers: the limit stays at 250 and `account_alerts` fires. Meta publishes no rate;
    /// 0 (every review approves) keeps existing scenarios as they were.
    pub limit_review_deny_ratio: f64,
    /// Hours after a deferred review before the portfolio can be reviewed again (Meta: "use
    /// WhatsApp Business platform actively for several days").
    pub limit_review_retry_hours: u64,
    /// Unique users in a moving 24 h a number must reach for the 1,000 msg/s upgrade (Meta: 100K).
    pub throughput_upgrade_users: u32,
    /// Seconds the number is in maintenance (131057) during the upgrade (Meta: up to 1 minute).
    pub throughput_upgrade_s: u64,
    /// Messages per second after the upgrade (Meta: 1,000).
    pub throughput_high_mps: u32,
    /// Pause lengths in hours for the first and second pause; the third disables (Meta: 3, 6).
    pub pause_hours: [u64; 2],
    /// Reject business-initiated templates to users without opt-in (sync 131005). Off by
    /// default: the real API accepts them; those users just block and report more.
    pub require_opt_in: bool,
    /// Per-user marketing limit (131049, asynchronous): marketing templates a user accepts per
    /// 24 h from one number, drawn per user from [min, max] (Meta: dynamic, unpublished).
    /// `[0, 0]` turns the limit off.
    pub per_user_marketing: [u8; 2],
    /// Marketing templates to +1 numbers fail with 131049 (Meta, since April 2025).
    pub us_marketing_blocked: bool,
    /// Hours a number must stay RED before business-initiated messaging of its portfolio is
    /// restricted (`account_update` ACCOUNT_RESTRICTION). 0 disables restrictions.
    pub restrict_after_red_hours: u64,
    /// How long such a restriction lasts.
    pub restriction_hours: u64,
}

/// How a rating is computed from feedback: negative signals over delivered messages in a
/// window of hourly buckets, weighted by recency (weight halves every `half_life_hours`).
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QualityModel {
    /// Window length in hours (Meta: 7 days).
    pub window_hours: u32,
    /// Recency weighting: a signal `half_life_hours` old counts half.
    pub half_life_hours: f64,
    /// Weighted delivered messages below which the denominator is this floor, so a handful of
    /// messages cannot swing the rating (and a template stays UNKNOWN).
    pub min_volume: f64,
    /// Weighted negative rate at or above which the rating is YELLOW.
    pub yellow_at: f64,
    /// Weighted negative rate at or above which the rating is RED.
    pub red_at: f64,
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BlockWeights {
    pub spam: f64,
    pub didnt_sign_up: f64,
    pub offensive: f64,
    pub no_longer_needed: f64,
    pub other: f64,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LimitsMode {
    #[default]
    Portfolio,
    PerNumber,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LimitBehavior {
    /// Accepted (HTTP 200), then a `failed` status with 131048.
    #[default]
    FailAsync,
    /// Refused at once with 131048.
    RejectSync,
}

impl Default for QualityModel {
    fn default() -> Self {
        QualityModel {
            window_hours: 7 * 24,
            half_life_hours: 48.0,
            min_volume: 1_000.0,
            yellow_at: 0.01,
            red_at: 0.03,
        }
    }
}

impl Default for BlockWeights {
    fn default() -> Self {
        BlockWeights {
            spam: 1.0,
            didnt_sign_up: 1.0,
            offensive: 1.0,
            no_longer_needed: 0.5,
            other: 0.75,
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            quality: QualityModel::default(),
            template_quality: QualityModel {
                min_volume: 200.0,
                ..QualityModel::default()
            },
            block_weight: BlockWeights::default(),
            report_weight: 1.0,
            mute_weight: 0.05,
            legacy_webhooks: false,
            flag_days: 7,
            limits_mode: LimitsMode::Portfolio,
            limit_behavior: LimitBehavior::FailAsync,
            scale_delay_hours: 6,
            scale_usage_ratio: 0.5,
            initial_scale_users_30d: 2_000,
            limit_review_deny_ratio: 0.0,
            limit_review_retry_hours: 72,
            throughput_upgrade_users: 100_000,
            throughput_upgrade_s: 60,
            throughput_high_mps: 1_000,
            pause_hours: [3, 6],
            require_opt_in: false,
            per_user_marketing: [2, 6],
            us_marketing_blocked: true,
            restrict_after_red_hours: 72,
            restriction_hours: 7 * 24,
        }
    }
}

impl QualityModel {
    fn validate(&self, f: &str) -> Result<(), (String, String)> {
        if self.window_hours == 0 || self.window_hours > 24 * 90 {
            return Err((format!("{f}.window_hours"), "must be 1..=2160".into()));
        }
        if !(self.half_life_hours > 0.0 && self.half_life_hours.is_finite()) {
            return Err((format!("{f}.half_life_hours"), "must be above 0".into()));
        }
        if !(self.min_volume >= 1.0 && self.min_volume.is_finite()) {
            return Err((format!("{f}.min_volume"), "must be at least 1".into()));
        }
        if !(self.yellow_at > 0.0 && self.yellow_at <= self.red_at && self.red_at.is_finite()) {
            return Err((
                format!("{f}.yellow_at"),
                "need 0 < yellow_at <= red_at".into(),
            ));
        }
        Ok(())
    }
}

impl PolicyConfig {
    /// Checks ranges; returns `(field, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        self.quality.validate("policy.quality")?;
        self.template_quality.validate("policy.template_quality")?;
        let w = &self.block_weight;
        for (f, v) in [
            ("policy.block_weight.spam", w.spam),
            ("policy.block_weight.didnt_sign_up", w.didnt_sign_up),
            ("policy.block_weight.offensive", w.offensive),
            ("policy.block_weight.no_longer_needed", w.no_longer_needed),
            ("policy.block_weight.other", w.other),
            ("policy.report_weight", self.report_weight),
            ("policy.mute_weight", self.mute_weight),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err((f.into(), format!("{v} must be a non-negative number")));
            }
        }
        if !(self.scale_usage_ratio > 0.0 && self.scale_usage_ratio <= 1.0) {
            return Err((
                "policy.scale_usage_ratio".into(),
                "must be in (0, 1]".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.limit_review_deny_ratio) {
            return Err((
                "policy.limit_review_deny_ratio".into(),
                format!("{} must be between 0 and 1", self.limit_review_deny_ratio),
            ));
        }
        if self.throughput_high_mps == 0 {
            return Err((
                "policy.throughput_high_mps".into(),
                "must be at least 1".into(),
            ));
        }
        if self.pause_hours[0] == 0 || self.pause_hours[1] == 0 {
            return Err(("policy.pause_hours".into(), "must be at least 1".into()));
        }
        let [lo, hi] = self.per_user_marketing;
        {
            if (lo == 0) != (hi == 0) || lo > hi {
                return Err((
                    "policy.per_user_marketing".into(),
                    "need 1 <= min <= max, or [0, 0] for off".into(),
                ));
            }
        }
        if self.restrict_after_red_hours > 0 && self.restriction_hours == 0 {
            return Err((
                "policy.restriction_hours".into(),
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        PolicyConfig::default().validate().unwrap();
        let mut p = PolicyConfig::default();
        p.quality.red_at = 0.001;
        assert_eq!(p.validate().unwrap_err().0, "policy.quality.yellow_at");
        let p = PolicyConfig {
            per_user_marketing: [3, 2],
            ..Default::default()
        };
        assert_eq!(p.validate().unwrap_err().0, "policy.per_user_marketing");
        let p = PolicyConfig {
            limit_review_deny_ratio: 1.5,
            ..Default::default()
        };
        assert_eq!(
            p.validate().unwrap_err().0,
            "policy.limit_review_deny_ratio"
        );
    }
}
