//! The BSP layer on top of Meta's price.
//!
//! BSPs bill in three ways (see docs/pricing.md, "BSP markup"): a fixed fee per message
//! (Gupshup's USD 0.001, Twilio, AWS), a percentage of the Meta fee (Gupshup's 6 % on Cloud API
//! marketing from 2026), or a subscription. The first two are per message and modelled here; a
//! subscription does not depend on traffic and is left to the report.

use super::money::{Amount, Percent};
use super::types::Category;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A fixed fee and/or a percentage; in a per-category override, an absent field falls back to
/// the default rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkupRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_per_message: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Percent>,
}

/// How a BSP turns the platform cost of one delivered message into its own price.
///
/// `bsp_price = platform + fixed + platform × percent`. Amounts are in the rate card's
/// currency. The fixed fee is charged on every delivered message, free ones included (that is
/// how Gupshup and Twilio bill), unless `fixed_on_free_messages` is false; the percentage of a
/// free message is zero either way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Markup {
    #[serde(default)]
    pub fixed_per_message: Amount,
    #[serde(default)]
    pub percent: Percent,
    /// Overrides by the category the business sent (`marketing`, `utility`, `service`, …).
    #[serde(default, rename = "category")]
    pub per_category: BTreeMap<Category, MarkupRule>,
    #[serde(default = "yes")]
    pub fixed_on_free_messages: bool,
}

fn yes() -> bool {
    true
}

impl Default for Markup {
    fn default() -> Self {
        Markup {
            fixed_per_message: Amount::ZERO,
            percent: Percent::ZERO,
            per_category: BTreeMap::new(),
            fixed_on_free_messages: true,
        }
    }
}

impl Markup {
    /// No markup: BSP price equals platform cost.
    pub fn none() -> Markup {
        Markup::default()
    }

    pub fn is_none(&self) -> bool {
        *self == Markup::default()
    }

    /// The (fixed, percent) that applies to `category`.
    pub fn rule_for(&self, category: Category) -> (Amount, Percent) {
        let o = self.per_category.get(&category);
        (
            o.and_then(|r| r.fixed_per_message)
                .unwrap_or(self.fixed_per_message),
            o.and_then(|r| r.percent).unwrap_or(self.percent),
        )
    }

    /// The BSP's price for one delivered message whose platform cost is `platform`.
    /// `free` says the platform did not charge it (free tier, free entry point, free customer
    /// service, or a message inside an already-paid conversation is *not* free: it is part of
    /// a regular conversation).
    pub fn bsp_price(&self, category: Category, platform: Amount, free: bool) -> Amount {
        // No markup (the usual case): the platform price, without the rule lookup.
        if self.per_category.is_empty()
            && self.fixed_per_message == Amount::ZERO
            && self.percent == Percent::ZERO
        {
            return platform;
        }
        let (fixed, pct) = self.rule_for(category);
        let fixed = if free && !self.fixed_on_free_messages {
            Amount::ZERO
        } else {
            fixed
        };
        platform.plus(fixed).plus(pct.of(platform))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        Amount::parse(s).unwrap()
    }

    #[test]
    fn fixed_percent_and_overrides() {
        let mut m = Markup {
            fixed_per_message: a("0.001"),
            percent: Percent::parse("10").unwrap(),
            ..Markup::default()
        };
        m.per_category.insert(
            Category::Marketing,
            MarkupRule {
                fixed_per_message: None,
                percent: Some(Percent::parse("6").unwrap()),
            },
        );
        // Utility: 0.025 + 0.001 + 10% × 0.025 = 0.0285
        assert_eq!(
            m.bsp_price(Category::Utility, a("0.025"), false),
            a("0.0285")
        );
        // Marketing: 0.0411 + 0.001 + 6% × 0.0411 = 0.044566
        assert_eq!(
            m.bsp_price(Category::Marketing, a("0.0411"), false),
            a("0.044566")
        );
        // Free service message: fixed fee only.
        assert_eq!(
            m.bsp_price(Category::Service, Amount::ZERO, true),
            a("0.001")
        );
        m.fixed_on_free_messages = false;
        assert_eq!(
            m.bsp_price(Category::Service, Amount::ZERO, true),
            Amount::ZERO
        );
        assert_eq!(
            Markup::none().bsp_price(Category::Marketing, a("0.05"), false),
            a("0.05")
        );
    }

    #[test]
    fn deserializes_from_toml() {
        let m: Markup = toml::from_str(
            "fixed_per_message = \"0.001\"\npercent = 15\n[category.marketing]\npercent = 6.5\n",
        )
        .unwrap();
        assert_eq!(m.fixed_per_message, a("0.001"));
        assert_eq!(m.percent, Percent::parse("15").unwrap());
        assert_eq!(
            m.rule_for(Category::Marketing),
            (a("0.001"), Percent::parse("6.5").unwrap())
        );
        assert!(toml::from_str::<Markup>("percnt = 5").is_err());
    }
}
