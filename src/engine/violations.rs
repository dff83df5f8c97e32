//! Repeated policy violations and the ban that follows.
//!
//! A business portfolio collects strikes: content violations (sensitive identifiers in outbound
//! text), running a prohibited vertical, and driving numbers through an unofficial provider.
//! At `disable_after` strikes the portfolio is disabled: every WABA of it gets an
//! `account_update` webhook (`DISABLED_UPDATE`, `ban_info.waba_ban_state = DISABLE`) and every
//! send of any of its numbers is refused with 368. The seed says a terminated business "and its
//! organisation" can be barred from all WhatsApp products, so the ban reaches the whole
//! portfolio, not one WABA. Strike counting and thresholds are our defaults (Meta publishes
//! none); see docs/policy-model.md.
//!
//! State is two atomics per portfolio (no per-event memory), read on the send hot path without
//! a lock.

use serde::{Deserialize, Serialize};

/// `[rules.violations]`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ViolationsConfig {
    /// Strikes after which the business portfolio is disabled (0: never disable).
    pub disable_after: u32,
    /// For a business running a prohibited vertical or going through an unofficial BSP: the
    /// share of its accepted sends that the platform's detection flags as a violation. A
    /// deterministic hash of (seed, number, message) decides, so runs repeat exactly.
    pub detection_rate: f64,
}

impl Default for ViolationsConfig {
    fn default() -> Self {
        ViolationsConfig {
            disable_after: 3,
            detection_rate: 0.01,
        }
    }
}

impl ViolationsConfig {
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(0.0..=1.0).contains(&self.detection_rate) {
            return Err((
                "rules.violations.detection_rate".into(),
                "must be between 0 and 1".into(),
            ));
        }
        Ok(())
    }

    /// Whether the send numbered `key` (any stable per-message value) is flagged.
    pub fn detected(&self, seed: u64, key: u64) -> bool {
        if self.detection_rate <= 0.0 {
            return false;
        }
        let h = super::audience::splitmix(seed ^ key.rotate_left(29) ^ 0x5EED_7101);
        (h >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - self.detection_rate
    }
}

/// What a strike was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Violation {
    /// A full payment card number in outbound text.
    PaymentCardNumber,
    /// A national identity number in outbound text.
    NationalIdNumber,
    /// The business runs a vertical the Commerce Policy (or its country) prohibits.
    ProhibitedVertical,
    /// Numbers driven through an unofficial (non-BSP) provider.
    UnofficialBsp,
}

impl Violation {
    pub fn as_str(self) -> &'static str {
        match self {
            Violation::PaymentCardNumber => "payment_card_number",
            Violation::NationalIdNumber => "national_identity_number",
            Violation::ProhibitedVertical => "prohibited_vertical",
            Violation::UnofficialBsp => "unofficial_bsp",
        }
    }
}

/// A portfolio's standing: strikes so far and whether it is disabled.
#[derive(Debug, Default)]
pub struct Standing {
    strikes: u32,
    disabled: bool,
}

impl Standing {
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    pub fn strikes(&self) -> u32 {
        self.strikes
    }

    /// Adds a strike. Returns true exactly once: for the strike that disables the portfolio.
    pub fn strike(&mut self, disable_after: u32) -> bool {
        self.strikes += 1;
        let disables = disable_after > 0 && self.strikes >= disable_after && !self.disabled;
        self.disabled |= disables;
        disables
    }

    /// Disables without a strike (a business refused at onboarding).
    pub fn disable(&mut self) {
        self.disabled = true;
    }

    /// Lifts a ban (control API): strikes reset. Returns whether it was disabled.
    pub fn reinstate(&mut self) -> bool {
        self.strikes = 0;
        std::mem::replace(&mut self.disabled, false)
    }
}

/// `ban_info.waba_ban_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BanState {
    Disable,
    Reinstate,
}

impl BanState {
    pub fn as_str(self) -> &'static str {
        match self {
            BanState::Disable => "DISABLE",
            BanState::Reinstate => "REINSTATE",
        }
    }
}

/// `waba_ban_date` as Meta writes it: an English date, "April 17, 2025" (UTC).
pub fn ban_date(unix_secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (y, m, d) = civil_from_days((unix_secs / 86_400) as i64);
    format!("{} {}, {}", MONTHS[(m - 1) as usize], d, y)
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_strike_disables_once() {
        let mut s = Standing::default();
        assert!(!s.strike(3));
        assert!(!s.strike(3));
        assert!(!s.is_disabled());
        assert!(s.strike(3));
        assert!(s.is_disabled());
        assert!(!s.strike(3), "only the disabling strike reports it");
        assert!(s.reinstate());
        assert!(!s.is_disabled());
        assert_eq!(s.strikes(), 0);
    }

    #[test]
    fn zero_threshold_never_disables() {
        let mut s = Standing::default();
        for _ in 0..100 {
            assert!(!s.strike(0));
        }
        assert!(!s.is_disabled());
    }

    #[test]
    fn ban_dates_read_like_metas() {
        assert_eq!(ban_date(1_744_848_000), "April 17, 2025");
        assert_eq!(ban_date(0), "January 1, 1970");
        assert_eq!(ban_date(951_782_400), "February 29, 2000");
    }

    #[test]
    fn detection_rate_is_deterministic_and_roughly_right() {
        let c = ViolationsConfig {
            detection_rate: 0.1,
            ..Default::default()
        };
        let hits = (0..10_000).filter(|k| c.detected(7, *k)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        let again = (0..10_000).filter(|k| c.detected(7, *k)).count();
        assert_eq!(hits, again);
        let off = ViolationsConfig {
            detection_rate: 0.0,
            ..Default::default()
        };
        assert!(!(0..10_000).any(|k| off.detected(7, k)));
    }
}
