//! Errors of the pricing module. Every variant names what the user has to fix: the file and
//! line of a bad rate card cell, the card and market of a missing rate, the choices available
//! when a name is unknown.

use super::types::{Date, PricingModelId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A rate-card file could not be read. `line` is 1-based (the header is line 1).
    #[error("{file}:{line}: field `{field}`: {message}")]
    Card {
        file: String,
        line: u64,
        field: String,
        message: String,
    },
    #[error("unknown rate card `{name}` (known cards: {known})")]
    UnknownCard { name: String, known: String },
    #[error(
        "no rate card for {model} in effect on {date}{currency} (cards for this model{currency}: {known}); load one with --rates FILE.csv (docs/pricing.md §2)"
    )]
    NoCard {
        model: PricingModelId,
        date: Date,
        currency: String,
        known: String,
    },
    #[error("rate card `{card}` cannot price model {model}: {reason}")]
    Incompatible {
        card: String,
        model: PricingModelId,
        reason: String,
    },
    #[error("unknown market `{spec}` in rate card `{card}` (markets: {known}; ISO country codes and calling codes are accepted too)")]
    UnknownMarket {
        spec: String,
        card: String,
        known: String,
    },
    #[error("`{0}` is not a phone number or calling code (expected digits, optionally after `+`)")]
    BadNumber(String),
    #[error("rate card `{card}` is partial and does not cover +{number}; pick a complete card with --card or a date")]
    NotCovered { card: String, number: String },
    #[error("rate card `{card}` has no calling-code match for +{number} and no `Other` market")]
    NoMarket { card: String, number: String },
    #[error("rate card `{card}` has no {column} rate for market `{market}`")]
    MissingRate {
        card: String,
        market: String,
        column: String,
    },
    #[error("{0}")]
    Config(String),
}
