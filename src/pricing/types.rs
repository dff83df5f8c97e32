//! Vocabulary shared by the pricing code: categories, pricing types, units, model names and
//! calendar dates.

use crate::clock::{SimTime, MICROS_PER_DAY, MICROS_PER_SEC};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

macro_rules! wire_enum_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.wire())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.wire())
            }
        }
    };
}

/// What a message (or the conversation it belongs to) is billed as.
///
/// The first seven are the categories of the status-webhook `pricing.category` field; the last
/// two are the conversation types of the 2022 conversation-based model, which had no template
/// categories yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Marketing,
    /// Marketing sent through the Marketing Messages Lite API: billed at marketing rates,
    /// reported under its own name.
    MarketingLite,
    Utility,
    Authentication,
    /// Authentication to a market with an international rate, by an eligible business.
    AuthenticationInternational,
    /// A non-template (free-form) message, or a service conversation.
    Service,
    /// Anything inside a free-entry-point window (Click-to-WhatsApp ad, Page CTA).
    ReferralConversion,
    /// cbp-2022: a conversation opened by a template outside the 24 h window.
    BusinessInitiated,
    /// cbp-2022: a conversation opened by a reply inside the 24 h window.
    UserInitiated,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Marketing,
        Category::MarketingLite,
        Category::Utility,
        Category::Authentication,
        Category::AuthenticationInternational,
        Category::Service,
        Category::ReferralConversion,
        Category::BusinessInitiated,
        Category::UserInitiated,
    ];

    /// The lowercase name used on the wire and in files.
    pub fn wire(self) -> &'static str {
        match self {
            Category::Marketing => "marketing",
            Category::MarketingLite => "marketing_lite",
            Category::Utility => "utility",
            Category::Authentication => "authentication",
            Category::AuthenticationInternational => "authentication_international",
            Category::Service => "service",
            Category::ReferralConversion => "referral_conversion",
            Category::BusinessInitiated => "business_initiated",
            Category::UserInitiated => "user_initiated",
        }
    }

    /// True for the categories a business can send a message as (template categories and
    /// free-form service). The others are assigned by the pricing rules.
    pub fn is_sendable(self) -> bool {
        matches!(
            self,
            Category::Marketing
                | Category::MarketingLite
                | Category::Utility
                | Category::Authentication
                | Category::AuthenticationInternational
                | Category::Service
        )
    }

    /// True for template categories (everything sendable except free-form service).
    pub fn is_template(self) -> bool {
        self.is_sendable() && self != Category::Service
    }
}

impl FromStr for Category {
    type Err = String;
    /// Accepts the wire names in any case, with `-` or `_`, plus the aliases seen in the wild:
    /// `authentication-international` (Meta's pricing table) and `customer_initiated` (Meta's
    /// old Node SDK).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        let c = match norm.as_str() {
            "marketing" => Category::Marketing,
            "marketing_lite" => Category::MarketingLite,
            "utility" => Category::Utility,
            "authentication" | "auth" => Category::Authentication,
            "authentication_international" | "auth_international" | "auth_intl" => {
                Category::AuthenticationInternational
            }
            "service" => Category::Service,
            "referral_conversion" | "free_entry_point" => Category::ReferralConversion,
            "business_initiated" => Category::BusinessInitiated,
            "user_initiated" | "customer_initiated" => Category::UserInitiated,
            _ => {
                return Err(format!(
                    "unknown category `{s}` (expected one of: marketing, marketing_lite, utility, \
                     authentication, authentication_international, service)"
                ))
            }
        };
        Ok(c)
    }
}
wire_enum_serde!(Category);

/// The `pricing.type` of a status webhook, plus the CBP free tier (analytics `FREE_TIER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PricingType {
    /// Charged at the rate card's price.
    Regular,
    /// Free because it is a utility template or a non-template message inside an open
    /// customer service window (PMP), or service became free (CBP from 2024-11-01).
    FreeCustomerService,
    /// Free because a free-entry-point window is open.
    FreeEntryPoint,
    /// CBP only: one of the monthly free conversations.
    FreeTier,
}

impl PricingType {
    pub fn wire(self) -> &'static str {
        match self {
            PricingType::Regular => "regular",
            PricingType::FreeCustomerService => "free_customer_service",
            PricingType::FreeEntryPoint => "free_entry_point",
            PricingType::FreeTier => "free_tier",
        }
    }
}

impl FromStr for PricingType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "regular" => Ok(PricingType::Regular),
            "free_customer_service" => Ok(PricingType::FreeCustomerService),
            "free_entry_point" | "free_entry" => Ok(PricingType::FreeEntryPoint),
            "free_tier" => Ok(PricingType::FreeTier),
            _ => Err(format!("unknown pricing type `{s}`")),
        }
    }
}
wire_enum_serde!(PricingType);

/// What one charge is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    Message,
    Conversation,
}

impl Unit {
    pub fn wire(self) -> &'static str {
        match self {
            Unit::Message => "message",
            Unit::Conversation => "conversation",
        }
    }
    /// The spelling used in the `unit` column of rate cards.
    pub fn card_name(self) -> &'static str {
        match self {
            Unit::Message => "per_message",
            Unit::Conversation => "per_conversation",
        }
    }
}

impl FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "message" | "per_message" => Ok(Unit::Message),
            "conversation" | "per_conversation" => Ok(Unit::Conversation),
            _ => Err(format!(
                "unknown unit `{s}` (expected per_message or per_conversation)"
            )),
        }
    }
}
wire_enum_serde!(Unit);

/// A named, dated rule set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PricingModelId {
    /// 2018 – 2022-01-31: each delivered template message charged by market; session free.
    TemplateEra,
    /// 2022-02-01 – 2023-05-31: 24 h business- / user-initiated conversations.
    Cbp2022,
    /// 2023-06-01 – 2025-06-30: marketing / utility / authentication / service conversations.
    Cbp2023,
    /// 2025-07-01 – 2026-09-30: per delivered template message by category.
    Pmp2025_07,
    /// From 2026-10-01: as PMP 2025, plus service and in-window utility charged.
    Pmp2026_10,
}

impl PricingModelId {
    pub const ALL: [PricingModelId; 5] = [
        PricingModelId::TemplateEra,
        PricingModelId::Cbp2022,
        PricingModelId::Cbp2023,
        PricingModelId::Pmp2025_07,
        PricingModelId::Pmp2026_10,
    ];

    pub fn wire(self) -> &'static str {
        match self {
            PricingModelId::TemplateEra => "template-era",
            PricingModelId::Cbp2022 => "cbp-2022",
            PricingModelId::Cbp2023 => "cbp-2023",
            PricingModelId::Pmp2025_07 => "pmp-2025-07",
            PricingModelId::Pmp2026_10 => "pmp-2026-10",
        }
    }

    /// First day the model applied (00:00 in the WABA's time zone).
    pub fn starts(self) -> Date {
        match self {
            PricingModelId::TemplateEra => Date::new(2018, 8, 1),
            PricingModelId::Cbp2022 => Date::new(2022, 2, 1),
            PricingModelId::Cbp2023 => Date::new(2023, 6, 1),
            PricingModelId::Pmp2025_07 => Date::new(2025, 7, 1),
            PricingModelId::Pmp2026_10 => Date::new(2026, 10, 1),
        }
    }

    /// First day of the next model, if any.
    pub fn ends(self) -> Option<Date> {
        match self {
            PricingModelId::TemplateEra => Some(PricingModelId::Cbp2022.starts()),
            PricingModelId::Cbp2022 => Some(PricingModelId::Cbp2023.starts()),
            PricingModelId::Cbp2023 => Some(PricingModelId::Pmp2025_07.starts()),
            PricingModelId::Pmp2025_07 => Some(PricingModelId::Pmp2026_10.starts()),
            PricingModelId::Pmp2026_10 => None,
        }
    }

    /// The model in force on `date`; before the API launch, the template era.
    pub fn in_force_on(date: Date) -> PricingModelId {
        let mut m = PricingModelId::TemplateEra;
        for candidate in PricingModelId::ALL {
            if candidate.starts() <= date {
                m = candidate;
            }
        }
        m
    }

    /// Whether charges are per message or per conversation.
    pub fn unit(self) -> Unit {
        match self {
            PricingModelId::Cbp2022 | PricingModelId::Cbp2023 => Unit::Conversation,
            _ => Unit::Message,
        }
    }

    pub fn is_cbp(self) -> bool {
        self.unit() == Unit::Conversation
    }

    /// Per-message pricing (July 2025 onwards).
    pub fn is_pmp(self) -> bool {
        matches!(
            self,
            PricingModelId::Pmp2025_07 | PricingModelId::Pmp2026_10
        )
    }

    /// The `pricing.pricing_model` value in status webhooks. The template era predates the
    /// `pricing` object in the reference material, so it has none.
    pub fn webhook_name(self) -> Option<&'static str> {
        match self {
            PricingModelId::TemplateEra => None,
            PricingModelId::Cbp2022 | PricingModelId::Cbp2023 => Some("CBP"),
            PricingModelId::Pmp2025_07 | PricingModelId::Pmp2026_10 => Some("PMP"),
        }
    }
}

impl FromStr for PricingModelId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        PricingModelId::ALL
            .into_iter()
            .find(|m| m.wire() == norm)
            .ok_or_else(|| {
                format!(
                    "unknown pricing model `{s}` (expected one of: template-era, cbp-2022, \
                     cbp-2023, pmp-2025-07, pmp-2026-10)"
                )
            })
    }
}
wire_enum_serde!(PricingModelId);

/// A calendar date (proleptic Gregorian), used for card effective dates and model switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Builds a date; callers with untrusted input go through `FromStr`, which validates.
    pub const fn new(year: i32, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    fn days_in_month(year: i32, month: u8) -> u8 {
        match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
            2 => 28,
            _ => 0,
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01 (`civil_from_days`).
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        Date::new((y + i64::from(m <= 2)) as i32, m, d)
    }

    /// The local date of `t` in a zone `offset_minutes` east of UTC.
    pub fn of_instant(t: SimTime, offset_minutes: i32) -> Date {
        let secs = (t.as_micros() / MICROS_PER_SEC) as i64 + i64::from(offset_minutes) * 60;
        Date::from_days_since_epoch(secs.div_euclid(86_400))
    }

    /// Local midnight of this date, as an instant, for a zone `offset_minutes` east of UTC.
    /// Dates before 1970 clamp to the epoch (SimTime is unsigned).
    pub fn midnight(self, offset_minutes: i32) -> SimTime {
        let micros = self.days_since_epoch() * MICROS_PER_DAY as i64
            - i64::from(offset_minutes) * 60 * MICROS_PER_SEC as i64;
        SimTime(micros.max(0) as u64)
    }

    /// `(year, month)`: the key of monthly allowances and volume tiers.
    pub fn month_key(self) -> (i32, u8) {
        (self.year, self.month)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = || format!("`{t}` is not a date (expected YYYY-MM-DD)");
        let mut parts = t.split('-');
        let (y, m, d) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(y), Some(m), Some(d), None) if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
                (y, m, d)
            }
            _ => return Err(bad()),
        };
        let y: i32 = y.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        let d: u8 = d.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&m) || d == 0 || d > Date::days_in_month(y, m) {
            return Err(format!("`{t}` is not a valid calendar date"));
        }
        Ok(Date::new(y, m, d))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_round_trip_and_aliases() {
        for c in Category::ALL {
            assert_eq!(c.wire().parse::<Category>().unwrap(), c);
        }
        assert_eq!(
            "authentication-international".parse::<Category>().unwrap(),
            Category::AuthenticationInternational
        );
        assert_eq!(
            "customer_initiated".parse::<Category>().unwrap(),
            Category::UserInitiated
        );
        assert_eq!(
            "MARKETING".parse::<Category>().unwrap(),
            Category::Marketing
        );
        assert!("promo".parse::<Category>().is_err());
        assert_eq!(
            serde_json::to_string(&Category::AuthenticationInternational).unwrap(),
            "\"authentication_international\""
        );
    }

    #[test]
    fn pricing_type_wire_names() {
        assert_eq!(PricingType::Regular.wire(), "regular");
        assert_eq!(
            PricingType::FreeCustomerService.to_string(),
            "free_customer_service"
        );
        assert_eq!(
            "free_entry_point".parse::<PricingType>().unwrap(),
            PricingType::FreeEntryPoint
        );
    }

    #[test]
    fn model_names_and_dates() {
        for m in PricingModelId::ALL {
            assert_eq!(m.to_string().parse::<PricingModelId>().unwrap(), m);
        }
        assert!("pmp-2024".parse::<PricingModelId>().is_err());
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(
            PricingModelId::in_force_on(d("2022-01-31")),
            PricingModelId::TemplateEra
        );
        assert_eq!(
            PricingModelId::in_force_on(d("2022-02-01")),
            PricingModelId::Cbp2022
        );
        assert_eq!(
            PricingModelId::in_force_on(d("2023-05-31")),
            PricingModelId::Cbp2022
        );
        assert_eq!(
            PricingModelId::in_force_on(d("2023-06-01")),
            PricingModelId::Cbp2023
        );
        assert_eq!(
            PricingModelId::in_force_on(d("2025-06-30")),
            PricingModelId::Cbp2023
        );
        assert_eq!(
            PricingModelId::in_force_on(d("2025-07-01")),
            PricingModelId::Pmp2025_07
        );
        assert_eq!(
            PricingModelId::in_force_on(d("2026-09-30")),
            PricingModelId::Pmp2025_07
        );
        assert_eq!(
            PricingModelId::in_force_on(d("2026-10-01")),
            PricingModelId::Pmp2026_10
        );
    }

    #[test]
    fn dates_convert_both_ways() {
        let d: Date = "2025-07-01".parse().unwrap();
        assert_eq!(d.days_since_epoch(), 20_270);
        assert_eq!(Date::from_days_since_epoch(20_270), d);
        assert_eq!(d.midnight(0), SimTime::from_secs(1_751_328_000));
        // 23:30 UTC on June 30 is already July 1 at UTC+1.
        let t = SimTime::from_secs(1_751_328_000 - 1_800);
        assert_eq!(Date::of_instant(t, 0).to_string(), "2025-06-30");
        assert_eq!(Date::of_instant(t, 60).to_string(), "2025-07-01");
        assert_eq!(Date::new(2024, 2, 29).to_string(), "2024-02-29");
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2023-2-1".parse::<Date>().is_err());
        for days in [0, 59, 60, 365, 10_000, 20_000, 30_000] {
            assert_eq!(Date::from_days_since_epoch(days).days_since_epoch(), days);
        }
    }
}
