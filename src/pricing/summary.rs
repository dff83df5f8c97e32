//! [`CostSummary`]: the exact totals of one or more ledgers (one per WABA in the engine), for
//! `GET /_sim/ledger` and the cost section of run reports.
//!
//! Data only, serde-serialisable, in a fixed order (rows by model, category, market, type,
//! currency; currencies alphabetically), so two runs with the same seed serialise byte for byte
//! the same and reports from several machines can be merged row by row.

use super::ledger::{CurrencyTotal, Ledger, TotalKey, TotalRow, TotalValue};
use super::money::Amount;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Totals over every delivered message the engine charged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostSummary {
    /// Ledger lines (delivered messages) ever recorded.
    pub lines_total: u64,
    /// Lines still held for `GET /_sim/ledger`.
    pub lines_kept: u64,
    /// Lines no longer held (bounded memory); counted here, and still in every total.
    pub lines_evicted: u64,
    /// Lines that could not be priced (unknown market, missing rate): zero amount, counted.
    pub unpriced_lines: u64,
    /// Whether a BSP markup is configured (otherwise `bsp_price` equals `amount`).
    pub markup: bool,
    /// Grand totals per currency: messages, charged units, platform cost (`amount`), BSP
    /// price and margin.
    pub by_currency: BTreeMap<String, CurrencyTotal>,
    /// One row per (model, category, market, type, currency, volume tier).
    pub totals: Vec<TotalRow>,
}

impl CostSummary {
    /// Sums `ledgers`; `markup` says whether any of them applies a BSP markup.
    pub fn from_ledgers<'a>(ledgers: impl IntoIterator<Item = &'a Ledger>, markup: bool) -> Self {
        let mut sum: BTreeMap<TotalKey, TotalValue> = BTreeMap::new();
        let mut out = CostSummary {
            markup,
            ..Default::default()
        };
        for l in ledgers {
            out.lines_total += l.lines_total();
            out.lines_kept += l.recent().count() as u64;
            out.lines_evicted += l.lines_dropped() + l.lines_drained();
            out.unpriced_lines += l.unpriced_lines();
            for (k, v) in l.totals() {
                sum.entry(k).or_default().merge(&v);
            }
        }
        for (k, v) in sum {
            out.by_currency
                .entry(k.currency.to_string())
                .or_default()
                .add(&v);
            out.totals.push(TotalRow::of(&k, &v));
        }
        out
    }

    /// Platform cost in `currency` (zero if none).
    pub fn amount(&self, currency: &str) -> Amount {
        self.by_currency
            .get(currency)
            .map_or(Amount::ZERO, |c| c.amount)
    }
}
