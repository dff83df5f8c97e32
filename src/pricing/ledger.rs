//! The ledger: every charge the pricer makes on delivery.
//!
//! A load test delivers millions of messages, so the ledger keeps two things:
//! - **exact totals** by (model, category, market, pricing type, currency), never truncated;
//! - the **most recent lines** up to a capacity, plus counters saying how many lines there were
//!   in all and how many fell out of the window. Nothing is lost silently: if
//!   `lines_dropped > 0`, the totals are still complete and the snapshot says the line list is
//!   not.
//!
//! A consumer that needs every line calls [`Ledger::drain_lines`] regularly (the lines it takes
//! are counted as `lines_drained`, not dropped).

use super::money::Amount;
use super::name::Name;
use super::pricer::{ConversationId, Tier};
use super::types::{Category, PricingModelId, PricingType, Unit};
#[cfg(test)]
use crate::clock::SimTime;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// One delivered message as billed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerLine {
    /// 1-based sequence number of the line in this ledger.
    pub seq: u64,
    /// Instant of delivery, microseconds since the epoch.
    pub at_us: u64,
    pub message_key: u64,
    pub waba_id: u64,
    pub phone_number_id: u64,
    pub model: PricingModelId,
    pub card: Name,
    pub unit: Unit,
    /// The billed category (the webhook's `pricing.category`).
    pub category: Category,
    /// What the business sent (template category or `service`).
    pub message_category: Category,
    pub market: Name,
    #[serde(rename = "type")]
    pub pricing_type: PricingType,
    pub billable: bool,
    /// CBP: true on the message that opened (and paid for) its conversation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub opened_conversation: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<ConversationId>,
    /// Platform (Meta) cost of this line.
    pub amount: Amount,
    /// What the BSP bills for this line.
    pub bsp_price: Amount,
    pub currency: Name,
    /// Set when the message could not be priced (unknown market, missing rate cell): the
    /// amount is then zero and the reason is kept here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpriced: Option<String>,
    /// The volume tier it was priced in (`tier`, `from`, `to`, `discount`), when tiers apply.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
}

/// Key of the exact totals.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TotalKey {
    pub model: PricingModelId,
    pub category: Category,
    pub market: Name,
    pub pricing_type: PricingType,
    pub currency: Name,
    pub tier: Option<Tier>,
}

/// Sums for one key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalValue {
    /// Delivered messages.
    pub messages: u64,
    /// Charged units: messages under per-message models, conversations opened under CBP.
    pub units: u64,
    pub amount: Amount,
    pub bsp_price: Amount,
    /// Messages that could not be priced (counted in `messages`, not in `amount`).
    pub unpriced: u64,
}

/// What the exact totals need from one line (all of it `Copy`): a ledger that keeps no lines
/// records only this, and no line is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineTotals {
    pub model: PricingModelId,
    pub unit: Unit,
    pub category: Category,
    pub market: Name,
    pub pricing_type: PricingType,
    pub currency: Name,
    pub opened_conversation: bool,
    pub amount: Amount,
    pub bsp_price: Amount,
    pub unpriced: bool,
    pub tier: Option<Tier>,
}

/// Read access to what the totals need, so a kept line is summed in place (no copy) and a
/// line that is not kept is summed from its [`LineTotals`].
trait Sums {
    fn totals_key_matches(&self, k: &TotalKey) -> bool;
    fn key(&self) -> TotalKey;
    fn counts_unit(&self) -> bool;
    fn amounts(&self) -> (Amount, Amount);
    fn is_unpriced(&self) -> bool;
}

macro_rules! sums {
    ($t:ty, $unpriced:expr) => {
        impl Sums for $t {
            fn totals_key_matches(&self, k: &TotalKey) -> bool {
                k.model == self.model
                    && k.category == self.category
                    && k.pricing_type == self.pricing_type
                    && k.market == self.market
                    && k.currency == self.currency
                    && k.tier == self.tier
            }
            fn key(&self) -> TotalKey {
                TotalKey {
                    model: self.model,
                    category: self.category,
                    market: self.market,
                    pricing_type: self.pricing_type,
                    currency: self.currency,
                    tier: self.tier,
                }
            }
            fn counts_unit(&self) -> bool {
                self.unit == Unit::Message || self.opened_conversation
            }
            fn amounts(&self) -> (Amount, Amount) {
                (self.amount, self.bsp_price)
            }
            fn is_unpriced(&self) -> bool {
                ($unpriced)(self)
            }
        }
    };
}
sums!(LedgerLine, |l: &LedgerLine| l.unpriced.is_some());
sums!(LineTotals, |l: &LineTotals| l.unpriced);

impl LedgerLine {
    pub fn totals(&self) -> LineTotals {
        LineTotals {
            model: self.model,
            unit: self.unit,
            category: self.category,
            market: self.market,
            pricing_type: self.pricing_type,
            currency: self.currency,
            opened_conversation: self.opened_conversation,
            amount: self.amount,
            bsp_price: self.bsp_price,
            unpriced: self.unpriced.is_some(),
            tier: self.tier,
        }
    }
}

impl TotalValue {
    fn add(&mut self, line: &impl Sums) {
        self.messages += 1;
        if line.counts_unit() {
            self.units += 1;
        }
        let (amount, bsp_price) = line.amounts();
        self.amount = self.amount.plus(amount);
        self.bsp_price = self.bsp_price.plus(bsp_price);
        if line.is_unpriced() {
            self.unpriced += 1;
        }
    }

    /// Adds another key's sums (the same key).
    pub fn merge(&mut self, o: &TotalValue) {
        self.messages += o.messages;
        self.units += o.units;
        self.amount = self.amount.plus(o.amount);
        self.bsp_price = self.bsp_price.plus(o.bsp_price);
        self.unpriced += o.unpriced;
    }
}

/// One row of [`LedgerSnapshot::totals`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalRow {
    pub model: PricingModelId,
    pub unit: Unit,
    pub category: Category,
    pub market: Name,
    #[serde(rename = "type")]
    pub pricing_type: PricingType,
    pub currency: Name,
    pub messages: u64,
    pub units: u64,
    pub amount: Amount,
    pub bsp_price: Amount,
    pub margin: Amount,
    #[serde(default)]
    pub unpriced: u64,
    /// The volume tier and band of these messages, when tiers apply.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
}

/// Grand totals for one currency.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyTotal {
    pub messages: u64,
    pub units: u64,
    pub amount: Amount,
    pub bsp_price: Amount,
    pub margin: Amount,
    pub unpriced: u64,
}

impl CurrencyTotal {
    /// Adds one row of the exact totals.
    pub fn add(&mut self, v: &TotalValue) {
        self.messages += v.messages;
        self.units += v.units;
        self.amount = self.amount.plus(v.amount);
        self.bsp_price = self.bsp_price.plus(v.bsp_price);
        self.margin = self.bsp_price.minus(self.amount);
        self.unpriced += v.unpriced;
    }
}

impl TotalRow {
    /// The row of one entry of the exact totals.
    pub fn of(k: &TotalKey, v: &TotalValue) -> TotalRow {
        TotalRow {
            model: k.model,
            unit: k.model.unit(),
            category: k.category,
            market: k.market,
            pricing_type: k.pricing_type,
            currency: k.currency,
            messages: v.messages,
            units: v.units,
            amount: v.amount,
            bsp_price: v.bsp_price,
            margin: v.bsp_price.minus(v.amount),
            unpriced: v.unpriced,
            tier: k.tier,
        }
    }
}

/// The serialisable view of a ledger (served at `GET /_sim/ledger`, embedded in reports).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    /// Lines ever recorded.
    pub lines_total: u64,
    /// Lines still in `recent`.
    pub lines_kept: u64,
    /// Lines taken out by `drain_lines`.
    pub lines_drained: u64,
    /// Lines that fell out of the bounded window: if non-zero, `recent` is incomplete (the
    /// totals are not).
    pub lines_dropped: u64,
    pub unpriced_lines: u64,
    pub by_currency: BTreeMap<String, CurrencyTotal>,
    pub totals: Vec<TotalRow>,
    pub recent: Vec<LedgerLine>,
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct Ledger {
    totals: BTreeMap<TotalKey, TotalValue>,
    /// Sums of the latest line's key, not yet in `totals`: a run of lines under one key (the
    /// common case) costs no map search and no key clone. Readers merge it in.
    pending: Option<(TotalKey, TotalValue)>,
    recent: VecDeque<LedgerLine>,
    capacity: usize,
    lines_total: u64,
    lines_drained: u64,
    lines_dropped: u64,
    unpriced_lines: u64,
}

/// Default number of recent lines kept.
pub const DEFAULT_LEDGER_LINES: usize = 10_000;

impl Default for Ledger {
    fn default() -> Self {
        Ledger::with_capacity(DEFAULT_LEDGER_LINES)
    }
}

impl Ledger {
    /// A ledger keeping at most `capacity` recent lines (0 keeps totals only).
    pub fn with_capacity(capacity: usize) -> Ledger {
        Ledger {
            totals: BTreeMap::new(),
            pending: None,
            // Room for the first lines up front: growing a deque of 150-byte lines copies them.
            recent: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            lines_total: 0,
            lines_drained: 0,
            lines_dropped: 0,
            unpriced_lines: 0,
        }
    }

    /// Whether lines are kept (`capacity` > 0); when not, [`Self::record_totals`] is enough.
    pub fn keeps_lines(&self) -> bool {
        self.capacity > 0
    }

    /// Records a line; its `seq` is assigned here: the count of lines this ledger has recorded,
    /// this one included. (Several ledgers viewed as one, as `GET /_sim/ledger` does, order
    /// lines by ledger, then by this number.)
    pub fn record(&mut self, mut line: LedgerLine) -> u64 {
        self.lines_total += 1;
        line.seq = self.lines_total;
        self.add_sums(&line);
        let line_seq = line.seq;
        if self.capacity == 0 {
            self.lines_dropped += 1;
        } else {
            if self.recent.len() == self.capacity {
                self.recent.pop_front();
                self.lines_dropped += 1;
            }
            self.recent.push_back(line);
        }
        line_seq
    }

    /// Records a line that is not kept (the ledger keeps none): counted, numbered and added to
    /// the totals exactly as [`Self::record`] would, without building it.
    pub fn record_totals(&mut self, t: &LineTotals) {
        self.lines_dropped += 1;
        self.lines_total += 1;
        self.add_sums(t);
    }

    /// Adds a line to the totals.
    fn add_sums(&mut self, t: &impl Sums) {
        if t.is_unpriced() {
            self.unpriced_lines += 1;
        }
        match &mut self.pending {
            Some((k, v)) if t.totals_key_matches(k) => v.add(t),
            _ => {
                let key = t.key();
                let mut v = TotalValue::default();
                v.add(t);
                if let Some((k, old)) = self.pending.replace((key, v)) {
                    self.totals.entry(k).or_default().merge(&old);
                }
            }
        }
    }

    /// Takes the recent lines out (oldest first), e.g. to stream them to a file.
    pub fn drain_lines(&mut self) -> Vec<LedgerLine> {
        let v: Vec<LedgerLine> = self.recent.drain(..).collect();
        self.lines_drained += v.len() as u64;
        v
    }

    pub fn lines_total(&self) -> u64 {
        self.lines_total
    }
    pub fn lines_drained(&self) -> u64 {
        self.lines_drained
    }
    pub fn lines_dropped(&self) -> u64 {
        self.lines_dropped
    }
    pub fn unpriced_lines(&self) -> u64 {
        self.unpriced_lines
    }
    pub fn recent(&self) -> impl Iterator<Item = &LedgerLine> {
        self.recent.iter()
    }
    /// The exact totals by key.
    pub fn totals(&self) -> BTreeMap<TotalKey, TotalValue> {
        let mut t = self.totals.clone();
        if let Some((k, v)) = &self.pending {
            t.entry(k.clone()).or_default().merge(v);
        }
        t
    }

    /// Sum of platform cost in `currency`.
    pub fn total_amount(&self, currency: &str) -> Amount {
        self.totals
            .iter()
            .chain(self.pending.as_ref().map(|(k, v)| (k, v)))
            .filter(|(k, _)| &*k.currency == currency)
            .fold(Amount::ZERO, |acc, (_, v)| acc.plus(v.amount))
    }

    pub fn snapshot(&self) -> LedgerSnapshot {
        let mut by_currency: BTreeMap<String, CurrencyTotal> = BTreeMap::new();
        let totals = self
            .totals()
            .iter()
            .map(|(k, v)| {
                by_currency
                    .entry(k.currency.to_string())
                    .or_default()
                    .add(v);
                TotalRow::of(k, v)
            })
            .collect();
        LedgerSnapshot {
            lines_total: self.lines_total,
            lines_kept: self.recent.len() as u64,
            lines_drained: self.lines_drained,
            lines_dropped: self.lines_dropped,
            unpriced_lines: self.unpriced_lines,
            by_currency,
            totals,
            recent: self.recent.iter().cloned().collect(),
        }
    }
}

impl Serialize for Ledger {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.snapshot().serialize(s)
    }
}

/// A blank line at `at`, for tests.
#[cfg(test)]
pub(crate) fn line_at(at: SimTime) -> LedgerLine {
    LedgerLine {
        seq: 0,
        at_us: at.as_micros(),
        message_key: 0,
        waba_id: 0,
        phone_number_id: 0,
        model: PricingModelId::Pmp2025_07,
        card: Name::new(""),
        unit: Unit::Message,
        category: Category::Marketing,
        message_category: Category::Marketing,
        market: Name::new(""),
        pricing_type: PricingType::Regular,
        billable: true,
        opened_conversation: false,
        conversation_id: None,
        amount: Amount::ZERO,
        bsp_price: Amount::ZERO,
        currency: "USD".into(),
        unpriced: None,
        tier: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(market: &str, amount: i64) -> LedgerLine {
        let mut l = line_at(SimTime(5));
        l.market = market.into();
        l.amount = Amount(amount);
        l.bsp_price = Amount(amount + 1_000);
        l
    }

    #[test]
    fn totals_stay_exact_when_lines_drop() {
        let mut ledger = Ledger::with_capacity(2);
        for i in 0..5 {
            ledger.record(line(
                if i % 2 == 0 { "Indonesia" } else { "Brazil" },
                41_100,
            ));
        }
        let s = ledger.snapshot();
        assert_eq!(s.lines_total, 5);
        assert_eq!(s.lines_kept, 2);
        assert_eq!(s.lines_dropped, 3);
        assert_eq!(s.recent[0].seq, 4);
        assert_eq!(s.by_currency["USD"].amount, Amount(205_500));
        assert_eq!(s.by_currency["USD"].margin, Amount(5_000));
        assert_eq!(s.totals.len(), 2);
        assert_eq!(&*s.totals[0].market, "Brazil");
        assert_eq!(s.totals[0].messages, 2);
        assert_eq!(ledger.total_amount("USD"), Amount(205_500));
    }

    /// A ledger that keeps no lines records totals only: the same numbers, sums and counters
    /// as recording the lines.
    #[test]
    fn totals_only_equals_recording_the_lines() {
        let mut with_lines = Ledger::with_capacity(0);
        let mut totals_only = Ledger::with_capacity(0);
        for i in 0..7i64 {
            let mut l = line(if i % 3 == 0 { "Indonesia" } else { "Brazil" }, 100 * i);
            if i == 4 {
                l.unpriced = Some("no rate".into());
            }
            l.unit = if i % 2 == 0 {
                Unit::Message
            } else {
                Unit::Conversation
            };
            l.opened_conversation = i == 3;
            assert!(!totals_only.keeps_lines());
            with_lines.record(l.clone());
            totals_only.record_totals(&l.totals());
            assert_eq!(with_lines.lines_total(), totals_only.lines_total());
        }
        assert_eq!(with_lines.snapshot(), totals_only.snapshot());
        assert_eq!(totals_only.snapshot().lines_dropped, 7);
        assert!(Ledger::with_capacity(1).keeps_lines());
    }

    /// Runs of one key, keys coming back, and names built from different strings: the sums
    /// are those of adding every line to its key one by one.
    #[test]
    fn totals_are_exact_whatever_the_order_of_keys() {
        let mut ledger = Ledger::with_capacity(4);
        let id: Name = Name::new("Indonesia");
        let order = ["ID", "ID", "BR", "ID", "BR", "BR", "IN", "ID"];
        let mut want: BTreeMap<String, (u64, i64)> = BTreeMap::new();
        for (i, m) in order.iter().enumerate() {
            let mut l = match *m {
                "ID" if i % 2 == 0 => line("Indonesia", 10),
                "ID" => {
                    let mut l = line("", 10);
                    l.market = id;
                    l
                }
                "BR" => line("Brazil", 20),
                _ => line("India", 30),
            };
            l.amount = Amount(l.amount.0 + i as i64);
            let e = want.entry(l.market.to_string()).or_default();
            e.0 += 1;
            e.1 += l.amount.0;
            ledger.record(l);
        }
        let got: BTreeMap<String, (u64, i64)> = ledger
            .totals()
            .into_iter()
            .map(|(k, v)| (k.market.to_string(), (v.messages, v.amount.0)))
            .collect();
        assert_eq!(got, want);
        let all: i64 = want.values().map(|v| v.1).sum();
        assert_eq!(ledger.total_amount("USD"), Amount(all));
        assert_eq!(ledger.snapshot().totals.len(), 3);
    }

    #[test]
    fn drain_is_not_drop() {
        let mut ledger = Ledger::with_capacity(10);
        ledger.record(line("Brazil", 1));
        ledger.record(line("Brazil", 1));
        assert_eq!(ledger.drain_lines().len(), 2);
        let s = ledger.snapshot();
        assert_eq!((s.lines_drained, s.lines_dropped, s.lines_kept), (2, 0, 0));
        assert_eq!(s.totals[0].messages, 2);
    }

    #[test]
    fn zero_capacity_counts_everything_as_dropped_and_serializes() {
        let mut ledger = Ledger::with_capacity(0);
        let mut l = line("Other", 0);
        l.unpriced = Some("no rate".into());
        ledger.record(l);
        let json = serde_json::to_value(&ledger).unwrap();
        assert_eq!(json["lines_dropped"], 1);
        assert_eq!(json["unpriced_lines"], 1);
        assert_eq!(json["totals"][0]["type"], "regular");
        assert_eq!(json["totals"][0]["amount"], "0.00");
        let back: LedgerSnapshot = serde_json::from_value(json).unwrap();
        assert_eq!(back, ledger.snapshot());
    }
}
