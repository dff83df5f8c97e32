//! `[pricing]` of a scenario (re-exported as `scenario::PricingSection`): which pricing model and rate card bill the simulated traffic, the
//! BSP markup on top, and the options for rules Meta has not confirmed.
//!
//! Every key is optional; the defaults (documented in `docs/pricing.md`, "Scenario keys") bill
//! like WhatsApp did on each simulated day, with the most complete card known for that day:
//!
//! ```toml
//! [pricing]
//! model = "by-date"        # or template-era, cbp-2022, cbp-2023, pmp-2025-07, pmp-2026-10
//! card = "auto"            # or "by-date", or a card name such as "pmp-2026-01"
//! # currency = "USD"       # default: each WABA's `currency`
//! utc_offset_minutes = 0
//! ledger_lines = 10000     # recent ledger lines kept per WABA (totals are always exact)
//! # free_service_messages_per_number = 1000   # pmp-2026-10, unconfirmed: off by default
//! cbp_free_tier_per_month = 1000
//! authentication_falls_back_to_utility = true
//!
//! [pricing.markup]
//! fixed_per_message = "0.001"
//! percent = 0
//! [pricing.markup.category.marketing]
//! percent = 6
//!
//! [[pricing.tiers.utility]]
//! from = 100001
//! discount = 5
//! ```

use super::card::{RateBook, RateColumn};
use super::markup::Markup;
use super::pricer::{CardChoice, ModelChoice, PricerConfig, PricingOptions, TierBand, VolumeTiers};
use super::types::PricingModelId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[pricing]`. See the module documentation for the keys and their defaults.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PricingSection {
    /// A model id, or `by-date`: the model in force on each simulated day (switching at local
    /// midnight, so a run across 2026-10-01 changes model mid-run, as WhatsApp did).
    pub model: String,
    /// A card name, `auto` (by date, complete cards first) or `by-date` (strictly the newest
    /// card in effect, partial ones included).
    pub card: String,
    /// Currency of the cards; default: each WABA's `currency`. `any` takes USD first, then
    /// any currency that has a card.
    pub currency: Option<String>,
    /// Offset of the WABAs' time zone from UTC: months and models switch at local midnight.
    pub utc_offset_minutes: i32,
    /// Recent ledger lines kept per WABA for `GET /_sim/ledger` (older ones are counted as
    /// evicted; the totals never lose anything).
    pub ledger_lines: usize,
    /// pmp-2026-10: free service messages per business number per month. Reported by
    /// third parties only, so off unless set.
    pub free_service_messages_per_number: Option<u32>,
    /// CBP: free conversations per WABA per month.
    pub cbp_free_tier_per_month: u32,
    /// Price authentication at the utility rate on cards without authentication rates
    /// (inferred; each such charge carries a note).
    pub authentication_falls_back_to_utility: bool,
    /// BSP markup (none by default): `fixed_per_message`, `percent`, `fixed_on_free_messages`,
    /// and per-category overrides under `category.<name>`.
    pub markup: Option<Markup>,
    /// Volume tiers by rate column (`utility`, `authentication`,
    /// `authentication_international`, `template`): none by default (Meta publishes no bands).
    pub tiers: BTreeMap<String, Vec<TierBand>>,
    /// Per-market tier overrides: market name → rate column → bands.
    pub market_tiers: BTreeMap<String, BTreeMap<String, Vec<TierBand>>>,
    /// `simulate` only: more pricing models to price the same traffic under, side by side in
    /// the report's `cost_compare` (`serve` and `run` ignore it). See [`Self::for_comparison`].
    pub compare: Vec<String>,
}

impl Default for PricingSection {
    fn default() -> Self {
        let o = PricingOptions::default();
        PricingSection {
            model: "by-date".into(),
            card: "auto".into(),
            currency: None,
            utc_offset_minutes: o.utc_offset_minutes,
            ledger_lines: o.ledger_lines,
            free_service_messages_per_number: o.free_service_messages_per_number,
            cbp_free_tier_per_month: o.cbp_free_tier_per_month,
            authentication_falls_back_to_utility: o.authentication_falls_back_to_utility,
            markup: None,
            tiers: BTreeMap::new(),
            market_tiers: BTreeMap::new(),
            compare: Vec::new(),
        }
    }
}

/// `(field path, problem)`, like the other scenario checks.
pub type FieldError = (String, String);

fn err(field: &str, message: impl Into<String>) -> FieldError {
    (format!("pricing.{field}"), message.into())
}

impl PricingSection {
    /// The section a comparison under `model` uses: this one with the model replaced, the card
    /// chosen by date (`auto`: the newest complete card for that model at the simulated date)
    /// and any currency (USD first; CBP 2022 only has a EUR card), since one named card or
    /// currency cannot price every era.
    pub fn for_comparison(&self, model: &str) -> PricingSection {
        PricingSection {
            model: model.to_string(),
            card: "auto".into(),
            currency: Some("any".into()),
            compare: Vec::new(),
            ..self.clone()
        }
    }

    /// The pricer configuration for a WABA billed in `waba_currency`. Checks every key against
    /// the rate `book`, naming the field on error.
    pub fn config(&self, book: &RateBook, waba_currency: &str) -> Result<PricerConfig, FieldError> {
        let model = match self.model.trim() {
            "by-date" | "by_date" => ModelChoice::ByDate,
            m => ModelChoice::Fixed(m.parse::<PricingModelId>().map_err(|_| {
                err(
                    "model",
                    format!(
                        "`{m}` is not a pricing model (by-date, {})",
                        PricingModelId::ALL.map(|m| m.wire()).join(", ")
                    ),
                )
            })?),
        };
        let currency = match self.currency.as_deref().map(str::trim) {
            Some(c) if c.eq_ignore_ascii_case("any") => None,
            Some(c) => Some(c.to_ascii_uppercase()),
            None => Some(waba_currency.trim().to_ascii_uppercase()),
        };
        let card = match self.card.trim() {
            "auto" => CardChoice::Auto { currency },
            "by-date" | "by_date" => CardChoice::ByDate { currency },
            name => {
                let c = book.get(name).map_err(|e| err("card", e.to_string()))?;
                if let ModelChoice::Fixed(m) = model {
                    c.check_supports(m)
                        .map_err(|e| err("card", e.to_string()))?;
                }
                CardChoice::Named(name.to_string())
            }
        };
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err(err(
                "utc_offset_minutes",
                format!("{} is not between -840 and 840", self.utc_offset_minutes),
            ));
        }
        let column = |field: &str, name: &str| {
            RateColumn::from_header(name).ok_or_else(|| {
                err(
                    field,
                    format!("unknown rate column `{name}` (utility, authentication, authentication_international, template, ...)"),
                )
            })
        };
        let mut tiers = VolumeTiers::default();
        for (c, bands) in &self.tiers {
            tiers
                .default
                .insert(column(&format!("tiers.{c}"), c)?, bands.clone());
        }
        for (m, cols) in &self.market_tiers {
            let mut map = BTreeMap::new();
            for (c, bands) in cols {
                map.insert(column(&format!("market_tiers.{m}.{c}"), c)?, bands.clone());
            }
            tiers.per_market.insert(m.clone(), map);
        }
        tiers.validate().map_err(|e| err("tiers", e.to_string()))?;
        Ok(PricerConfig {
            model,
            card,
            markup: self.markup.clone().unwrap_or_default(),
            tiers,
            options: PricingOptions {
                cbp_free_tier_per_month: self.cbp_free_tier_per_month,
                free_service_messages_per_number: self.free_service_messages_per_number,
                authentication_falls_back_to_utility: self.authentication_falls_back_to_utility,
                utc_offset_minutes: self.utc_offset_minutes,
                ledger_lines: self.ledger_lines,
                ..PricingOptions::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> RateBook {
        RateBook::embedded().unwrap()
    }

    #[test]
    fn defaults_follow_the_calendar_in_the_wabas_currency() {
        let c = PricingSection::default().config(&book(), "usd").unwrap();
        assert_eq!(c.model, ModelChoice::ByDate);
        assert_eq!(
            c.card,
            CardChoice::Auto {
                currency: Some("USD".into())
            }
        );
        assert!(c.markup.is_none());
        assert_eq!(c.options.free_service_messages_per_number, None);
    }

    #[test]
    fn bad_values_name_the_field() {
        let b = book();
        let s = PricingSection {
            model: "pmp-2099".into(),
            ..Default::default()
        };
        assert_eq!(s.config(&b, "USD").unwrap_err().0, "pricing.model");
        let s = PricingSection {
            card: "no-such-card".into(),
            ..Default::default()
        };
        assert_eq!(s.config(&b, "USD").unwrap_err().0, "pricing.card");
        // A per-conversation card cannot price a per-message model.
        let s = PricingSection {
            model: "pmp-2025-07".into(),
            card: "cbp-2024-10".into(),
            ..Default::default()
        };
        assert_eq!(s.config(&b, "USD").unwrap_err().0, "pricing.card");
        let mut s = PricingSection::default();
        s.tiers.insert("colour".into(), vec![]);
        assert_eq!(s.config(&b, "USD").unwrap_err().0, "pricing.tiers.colour");
        let s = PricingSection {
            utc_offset_minutes: 5000,
            ..Default::default()
        };
        assert_eq!(
            s.config(&b, "USD").unwrap_err().0,
            "pricing.utc_offset_minutes"
        );
    }

    #[test]
    fn named_card_fixed_model_and_markup_are_kept() {
        let s: PricingSection = toml::from_str(
            "model = \"pmp-2026-10\"\ncard = \"pmp-2026-10\"\ncurrency = \"any\"\n[markup]\nfixed_per_message = \"0.001\"\n[[tiers.utility]]\nfrom = 1\ndiscount = 0\n[[tiers.utility]]\nfrom = 11\ndiscount = 10\n",
        )
        .unwrap();
        let c = s.config(&book(), "EUR").unwrap();
        assert_eq!(c.model, ModelChoice::Fixed(PricingModelId::Pmp2026_10));
        assert_eq!(c.card, CardChoice::Named("pmp-2026-10".into()));
        assert_eq!(c.markup.fixed_per_message.to_string(), "0.001");
        assert_eq!(c.tiers.default[&RateColumn::Utility].len(), 2);
    }
}
