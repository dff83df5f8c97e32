//! Charging: the core's side of pricing. One [`Pricer`] per WABA of the portfolio prices every
//! outbound message twice, as the pricer's contract asks:
//!
//! 1. when the message is accepted (`sent` status): nothing is charged, but the `sent` webhook
//!    gets its `pricing` / `conversation` objects, and under CBP the conversation the message
//!    belongs to opens (Meta's `sent` status already names it and its expiry);
//! 2. when it is delivered: the charge is final, recorded in the WABA's ledger, and the
//!    `delivered` webhook carries exactly that charge. Failed messages get no second call and
//!    are never charged; under CBP a conversation is paid by its first delivered message.
//!
//! What the second call needs from the first (category, window, free entry point) rides in the
//! status timer as a 3-byte [`PriceFacts`]; no per-message table is kept.
//!
//! # Memory
//! Per WABA: the pricer's open conversations / free-entry-point windows (bounded by the
//! recipients of the last 24–72 h, dropped on expiry), its monthly counters (current month
//! only) and its ledger (exact totals, plus at most `ledger_lines` recent lines; older lines
//! are counted as evicted).

use super::events::{BilledConversation, Billing};
use super::ids::{WaId, WabaId};
use super::world::TemplateCategory;
use super::WorldError;
use crate::clock::{SimTime, MICROS_PER_HOUR};
use crate::pricing::{
    Category, Charge, CostSummary, Date, Ledger, LedgerLine, MessageFacts, Name, Pricer,
    PricingModelId, PricingSection, RateBook, Tier, VolumeCounts,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the delivery-time pricing call needs to repeat the send-time facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceFacts {
    /// Template category, or `Service` for a free-form message.
    pub category: Category,
    /// The customer service window was open when the message was sent.
    pub csw_open: bool,
    /// A free-entry-point window was open (or opened by this message).
    pub fep_open: bool,
}

/// The pricing reference of message `wamid` of number `s` to `recipient`.
pub(super) fn message_ref(
    s: &super::number::Number,
    recipient: WaId,
    wamid: super::events::Wamid,
) -> MessageRef {
    MessageRef {
        waba: s.waba,
        phone: s.id.0,
        recipient,
        key: message_key(wamid.tag, wamid.seq),
    }
}

/// Which message is priced: its WABA, business number, recipient and pricer key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRef {
    pub waba: WabaId,
    pub phone: u64,
    pub recipient: WaId,
    /// See [`message_key`].
    pub key: u64,
}

/// The pricing category of a template category.
pub fn category_of(t: TemplateCategory) -> Category {
    match t {
        TemplateCategory::Marketing => Category::Marketing,
        TemplateCategory::Utility => Category::Utility,
        TemplateCategory::Authentication => Category::Authentication,
    }
}

/// The pricer's message key: the wamid's number tag and per-number sequence, so it is unique
/// in the run and the ledger line can be matched to its message.
pub fn message_key(tag: u16, seq: u64) -> u64 {
    ((tag as u64) << 48) | (seq & ((1 << 48) - 1))
}

/// Free-entry-point windows last 72 h from the business's reply [Meta CBP doc; PMP doc].
pub const FREE_ENTRY_POINT_HOURS: u64 = 72;
/// A user who came from an ad must get a reply within 24 h for the window to open [Meta].
pub const REFERRAL_REPLY_HOURS: u64 = 24;

/// A user who wrote from a Click-to-WhatsApp ad or a Page CTA [Meta: free entry point].
/// 16 bytes per such user, dropped by the hourly sweep once both instants have passed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryPoint {
    /// A business reply before this instant opens the window (the ad message + 24 h).
    pub reply_by: SimTime,
    /// End of the window the reply opened (+72 h); zero while none is open.
    pub window_until: SimTime,
}

impl EntryPoint {
    /// The user (again) writes from an ad.
    pub fn user_came_from_ad(&mut self, now: SimTime) {
        self.reply_by = now.plus(REFERRAL_REPLY_HOURS * MICROS_PER_HOUR);
    }

    /// Whether a message sent at `now` is inside a free entry point (or opens one).
    pub fn open(&self, now: SimTime) -> bool {
        now < self.window_until || now < self.reply_by
    }

    /// The business replies at `now` (with [`Self::open`] true): opens the 72 h window unless
    /// one is running.
    pub fn reply(&mut self, now: SimTime) {
        if now >= self.window_until {
            self.window_until = now.plus(FREE_ENTRY_POINT_HOURS * MICROS_PER_HOUR);
            self.reply_by = SimTime::ZERO;
        }
    }

    /// Still worth keeping.
    pub fn live(&self, now: SimTime) -> bool {
        self.open(now)
    }
}

/// The embedded rate cards, parsed once per world (about a millisecond) and shared read-only
/// by its portfolios: nothing is kept for the life of the process.
pub fn embedded_book() -> Result<Arc<RateBook>, WorldError> {
    RateBook::embedded().map(Arc::new).map_err(|e| WorldError {
        field: "pricing".into(),
        message: e.to_string(),
    })
}

/// A WABA's pricer and the charge every message is priced into (no charge is kept: only its
/// [`Billing`] is returned).
struct Slot {
    pricer: Pricer,
    scratch: Charge,
}

/// The pricers of a portfolio's WABAs.
pub struct Charging {
    pricers: BTreeMap<WabaId, Slot>,
    markup: bool,
    /// The cards every pricer prices with (kept so a re-configuration reuses them).
    book: Arc<RateBook>,
    /// Volume-tier positions of the portfolio this month: Meta counts them over all its WABAs
    /// [M:pricing], so every pricer prices with these.
    volume: VolumeCounts,
    /// A tier the last delivery entered, until the engine takes it for its webhook.
    tier_entered: Option<TierEntered>,
}

/// The portfolio entered a new volume tier: `VOLUME_BASED_PRICING_TIER_UPDATE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierEntered {
    /// The billed category (`utility`, `authentication`, `authentication_international`).
    pub category: Category,
    pub market: Name,
    pub tier: Tier,
    /// The month it applies to, in the WABA's time zone.
    pub month: (i32, u8),
}

/// Meta sends the tier webhook from October 1, 2025 [M:pricing].
const TIER_WEBHOOK_FROM: Date = Date::new(2025, 10, 1);

impl Charging {
    /// One pricer per WABA from `section`, all pricing with the cards of `book`; `wabas` gives
    /// each WABA's billing currency.
    pub fn new<'a>(
        book: Arc<RateBook>,
        section: &PricingSection,
        wabas: impl IntoIterator<Item = (WabaId, &'a str)>,
    ) -> Result<Charging, WorldError> {
        let mut pricers = BTreeMap::new();
        let mut markup = false;
        for (id, currency) in wabas {
            let config = section
                .config(&book, currency)
                .map_err(|(field, message)| WorldError { field, message })?;
            markup |= !config.markup.is_none();
            let p = Pricer::new(book.clone(), config).map_err(|e| WorldError {
                field: "pricing".into(),
                message: e.to_string(),
            })?;
            pricers.insert(
                id,
                Slot {
                    pricer: p,
                    scratch: Charge::empty(),
                },
            );
        }
        Ok(Charging {
            pricers,
            markup,
            book,
            volume: VolumeCounts::new(),
            tier_entered: None,
        })
    }

    /// The rate cards the pricers use.
    pub fn book(&self) -> Arc<RateBook> {
        Arc::clone(&self.book)
    }

    /// Prices one message (see the module documentation for when) and gives its webhook
    /// objects; the charge itself stays in the pricer (and its ledger at delivery), so only
    /// the small [`Billing`] is returned. `None` only for a WABA the portfolio does not
    /// know, which cannot happen for a number's own.
    // Inlined: as a call, its 32-byte `MessageRef` went through the stack, and reading it back
    // with one 16-byte load across two 8-byte stores defeats store forwarding.
    #[inline(always)]
    pub fn price(
        &mut self,
        now: SimTime,
        m: MessageRef,
        facts: PriceFacts,
        delivered: bool,
        sent_at: SimTime,
    ) -> Option<Billing> {
        let MessageRef {
            waba,
            phone,
            recipient,
            key,
        } = m;
        let facts = MessageFacts {
            message_key: key,
            waba_id: waba.0,
            phone_number_id: phone,
            recipient: "",
            recipient_number: Some(recipient.0),
            market: None,
            category: facts.category,
            csw_open: facts.csw_open,
            fep_open: facts.fep_open,
            delivered,
        };
        let Slot { pricer, scratch } = self.pricers.get_mut(&waba)?;
        pricer.price_into_shared(now, &facts, scratch, &mut self.volume);
        if scratch.tier_entered {
            let date = Date::of_instant(now, pricer.config().options.utc_offset_minutes);
            let webhook = matches!(
                scratch.model,
                PricingModelId::Pmp2025_07 | PricingModelId::Pmp2026_10
            ) && date >= TIER_WEBHOOK_FROM;
            if let (true, Some(tier)) = (webhook, scratch.tier) {
                self.tier_entered = Some(TierEntered {
                    category: scratch.category,
                    market: scratch.market,
                    tier,
                    month: date.month_key(),
                });
            }
        }
        Some(billing(scratch, sent_at))
    }

    /// The volume tier the last delivery entered, if it did (once).
    pub fn take_tier_entered(&mut self) -> Option<TierEntered> {
        self.tier_entered.take()
    }

    /// The WABAs' ledgers, in WABA id order.
    pub fn ledgers(&self) -> impl Iterator<Item = (WabaId, &Ledger)> {
        self.pricers.iter().map(|(id, p)| (*id, p.pricer.ledger()))
    }

    /// Whether a BSP markup is configured for any WABA.
    pub fn markup(&self) -> bool {
        self.markup
    }
}

/// Ledger lines at position `since` or later, at most `limit`, with `summary`. Positions
/// number the lines of every WABA of the world as one list: the WABAs in id order
/// (`ledgers` must come in that order), each WABA's lines in the order its ledger numbered them
/// (see [`page_position`]); each line's `seq` is given as its position.
pub fn ledger_page<'a>(
    ledgers: impl IntoIterator<Item = &'a Ledger>,
    since: u64,
    limit: usize,
    summary: CostSummary,
) -> LedgerPage {
    let mut lines: Vec<LedgerLine> = Vec::new();
    for (i, ledger) in ledgers.into_iter().enumerate() {
        if lines.len() > limit {
            break; // every later WABA's lines come after this page
        }
        if page_position(i, (1 << WABA_SHIFT) - 1) < since {
            continue;
        }
        lines.extend(ledger.recent().filter_map(|l| {
            let seq = page_position(i, l.seq);
            (seq >= since).then(|| LedgerLine { seq, ..l.clone() })
        }));
    }
    let more = lines.len() > limit;
    lines.truncate(limit);
    LedgerPage {
        next: lines.last().map_or(since, |l| l.seq + 1),
        more,
        summary,
        lines,
    }
}

/// Bits of a page position below the WABA's index: room for 2^40 lines per WABA.
const WABA_SHIFT: u32 = 40;

/// The position in [`ledger_page`] of line `seq` of the `waba_index`-th WABA (in id
/// order). With one WABA it is the ledger's own number; with several, a cursor walks them one
/// after the other, so a line a WABA records after the cursor has passed it is not returned
/// again (page from 0 to see every line still held).
fn page_position(waba_index: usize, seq: u64) -> u64 {
    ((waba_index as u64) << WABA_SHIFT) | seq
}

/// `GET /_sim/ledger`: the totals and one page of lines.
#[derive(Clone, Debug, Serialize)]
pub struct LedgerPage {
    /// Pass as `since` for the next page.
    pub next: u64,
    /// More lines are held after this page.
    pub more: bool,
    pub summary: CostSummary,
    pub lines: Vec<LedgerLine>,
}

/// The webhook objects of a charge. Under PMP the pricer gives per-message conversations no
/// expiry; Meta's `sent` example shows one 24 h after sending (cloud-api.md §3), so that is
/// used for the `sent` status.
pub fn billing(charge: &Charge, sent_at: SimTime) -> Billing {
    Billing {
        model: Some(charge.model),
        category: charge.category,
        pricing_type: charge.pricing_type,
        billable: charge.billable,
        conversation: charge.conversation.as_ref().map(|c| BilledConversation {
            id: c.id,
            expires_at: c
                .expires_at
                .unwrap_or_else(|| sent_at.plus(24 * MICROS_PER_HOUR)),
            origin: c.origin,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_are_unique_per_number_and_sequence() {
        assert_ne!(message_key(1, 5), message_key(2, 5));
        assert_eq!(message_key(0, 7), 7);
    }
}

#[cfg(test)]
#[path = "charging_tests.rs"]
mod engine_tests;
