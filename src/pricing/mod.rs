//! Pricing: models, rate cards, BSP markup, the ledger and `wabasim cost`.
//!
//! WhatsApp's pricing changed shape several times; each shape is a named, dated model
//! ([`PricingModelId`]):
//!
//! | model | in force | charges |
//! |---|---|---|
//! | `template-era` | 2018 – 2022-01-31 | each delivered template, by market; session messages free |
//! | `cbp-2022` | 2022-02-01 – 2023-05-31 | 24 h business- / user-initiated conversations, 1,000 free a month |
//! | `cbp-2023` | 2023-06-01 – 2025-06-30 | marketing / utility / authentication / service conversations |
//! | `pmp-2025-07` | 2025-07-01 – 2026-09-30 | each delivered template by category; in-window utility and service free |
//! | `pmp-2026-10` | from 2026-10-01 | as above, plus service and in-window utility charged |
//!
//! Rates come from [`RateCard`]s (CSV, embedded from `data/rates/` or loaded from user files),
//! held in a [`RateBook`] and chosen by name or by date. The engine owns one [`Pricer`] and
//! calls [`Pricer::price`] when a message is sent and when it is delivered; the returned
//! [`Charge`] gives the webhook `pricing` / `conversation` objects, and delivered charges land
//! in the [`Ledger`]. [`estimate`] and [`cli`] build `wabasim cost` on the same pricer, so an
//! estimate and a simulation bill identically.
//!
//! The rules, sources and confidence of every figure are in `docs/pricing.md`.

pub mod card;
pub mod countries;
pub mod error;
pub mod estimate;
pub mod ledger;
pub mod markup;
pub mod money;
pub mod name;
pub mod pricer;
pub mod section;
pub mod summary;
pub mod types;

pub use card::{Market, Provenance, RateBook, RateCard, RateColumn, EMBEDDED_CARDS};
pub use error::PricingError;
pub use ledger::{Ledger, LedgerLine, LedgerSnapshot, TotalRow};
pub use markup::{Markup, MarkupRule};
pub use money::{Amount, Percent, Share};
pub use name::Name;
pub use pricer::{
    AuthIntlEligibility, CardChoice, Charge, ConversationId, ConversationInfo, MessageFacts,
    ModelChoice, Pricer, PricerConfig, PricingOptions, Tier, TierBand, VolumeCounts, VolumeTiers,
    WebhookConversation, WebhookPricing,
};
pub use section::PricingSection;
pub use summary::CostSummary;
pub use types::{Category, Date, PricingModelId, PricingType, Unit};
