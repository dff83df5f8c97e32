//! The stateful, deterministic pricer the engine calls for every outbound message.
//!
//! # Contract
//! The engine calls [`Pricer::price`] at two points of a message's life, with the same
//! [`MessageFacts`] apart from `delivered`:
//! 1. when the message is accepted / `sent` (`delivered: false`): the returned [`Charge`] fills
//!    the `pricing` and `conversation` objects of the `sent` status webhook. Nothing is
//!    charged, but under CBP the conversation the message belongs to is opened here (Meta's
//!    `sent` webhook already carries the conversation id and expiry);
//! 2. when it is delivered (`delivered: true`): the charge is final, recorded in the
//!    [`Ledger`], and its `pricing` object goes on the `delivered` webhook.
//!
//! Failed messages get no second call and are never charged. Calling only at delivery also
//! works (the conversation then opens at delivery).
//!
//! # Determinism and memory
//! No clock, no randomness: ids come from counters and the message key through a fixed mixing
//! function; maps are ordered. State is bounded:
//! - open conversations (CBP) and free-entry-point windows (PMP) live in a map keyed by
//!   (business phone number id, recipient) and are removed when they expire — every call first
//!   sweeps everything that expired by `now`, through an index ordered by expiry. The live set
//!   is therefore at most the recipients contacted in the last 24 h (72 h for free entry
//!   points) times four categories;
//! - monthly counters (CBP free tier per WABA, volume tiers per market × rate column,
//!   free service messages per phone number) keep only the current month: a counter is reset
//!   the first time it is touched in a new month.

use super::card::{Market, RateBook, RateCard, RateColumn};
use super::error::PricingError;
use super::ledger::{Ledger, LedgerLine, LineTotals, DEFAULT_LEDGER_LINES};
use super::markup::Markup;
use super::money::{Amount, Percent};
use super::name::Name;
use super::types::{Category, Date, PricingModelId, PricingType, Unit};
use crate::clock::{SimTime, MICROS_PER_HOUR};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What the engine knows about one outbound message.
#[derive(Clone, Copy, Debug)]
pub struct MessageFacts<'a> {
    /// A number unique to this message in the run (the engine's message sequence). Per-message
    /// conversation ids are derived from it, so the `sent` and `delivered` webhooks agree.
    pub message_key: u64,
    pub waba_id: u64,
    pub phone_number_id: u64,
    /// Recipient wa_id: digits of the international number. Its market is found by longest
    /// calling-code prefix in the rate card in force.
    pub recipient: &'a str,
    /// The same number as an integer, when the caller holds it that way (the engine): the
    /// market is then found without parsing text, and `recipient` may be left empty.
    pub recipient_number: Option<u64>,
    /// A market name of the card in force, if already known; skips the calling-code lookup.
    pub market: Option<&'a str>,
    /// The template's category, or [`Category::Service`] for a free-form (non-template)
    /// message. Send [`Category::Authentication`] even for international authentication: the
    /// pricer decides from the business's eligibility.
    pub category: Category,
    /// A customer service window (24 h from the user's last message) is open.
    pub csw_open: bool,
    /// A free-entry-point window (user came from a Click-to-WhatsApp ad or Page CTA and the
    /// business replied within 24 h) is open.
    pub fep_open: bool,
    /// False at send time, true at delivery (the only time anything is charged).
    pub delivered: bool,
}

/// The conversation a charge belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationInfo {
    pub id: ConversationId,
    /// When the conversation / window closes; `None` for PMP per-message ids. Serialized as
    /// microseconds since the epoch (`SimTime` itself is not serde).
    #[serde(rename = "expires_at_us", with = "opt_simtime")]
    pub expires_at: Option<SimTime>,
    /// `conversation.origin.type`.
    pub origin: Category,
    /// CBP: this message opened the conversation (at delivery: and paid for it).
    pub opened: bool,
}

mod opt_simtime {
    use crate::clock::SimTime;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<SimTime>, s: S) -> Result<S::Ok, S::Error> {
        t.map(|t| t.as_micros()).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SimTime>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(SimTime))
    }
}

/// Everything about one priced message: the ledger line and the webhook objects derive from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub model: PricingModelId,
    pub unit: Unit,
    /// Billed category (`pricing.category`).
    pub category: Category,
    /// What the business sent.
    pub message_category: Category,
    #[serde(rename = "type")]
    pub pricing_type: PricingType,
    pub billable: bool,
    /// Platform cost carried by this message: for CBP, the conversation's price on the message
    /// that opens it, zero on the others.
    pub amount: Amount,
    pub bsp_price: Amount,
    pub currency: Name,
    pub market: Name,
    pub card: Name,
    /// Display precision of the card.
    pub decimals: u32,
    /// True when this call recorded the charge in the ledger (delivery).
    pub recorded: bool,
    pub conversation: Option<ConversationInfo>,
    /// The volume tier the message was priced in, when the market and rate column have bands.
    pub tier: Option<Tier>,
    /// At delivery: this message was the first of its tier this month (a tier above the first):
    /// Meta's `VOLUME_BASED_PRICING_TIER_UPDATE` goes out.
    pub tier_entered: bool,
    /// A rule decided by an option rather than by confirmed facts (e.g. authentication priced
    /// at the utility rate on a card without authentication rates).
    pub note: Option<String>,
    /// Why this message could not be priced; the amount is then zero.
    pub unpriced: Option<String>,
}

/// `statuses[].pricing` of a status webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPricing {
    pub billable: bool,
    pub pricing_model: String,
    /// PMP only (the CBP webhook had no `type`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub pricing_type: Option<PricingType>,
    pub category: String,
}

/// `statuses[].conversation.origin`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookOrigin {
    #[serde(rename = "type")]
    pub origin_type: String,
}

/// `statuses[].conversation` of a status webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookConversation {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_timestamp: Option<String>,
    pub origin: WebhookOrigin,
}

impl Charge {
    /// The `pricing` object, or `None` under the template era (the reference material has no
    /// `pricing` object before conversation-based pricing).
    ///
    /// `authentication_international` is written with a hyphen here, as in Meta's pricing
    /// table, and with an underscore in `conversation.origin.type`.
    pub fn webhook_pricing(&self) -> Option<WebhookPricing> {
        let name = self.model.webhook_name()?;
        let category = match self.category {
            Category::AuthenticationInternational => "authentication-international".to_string(),
            c => c.wire().to_string(),
        };
        Some(WebhookPricing {
            billable: self.billable,
            pricing_model: name.to_string(),
            pricing_type: (!self.model.is_cbp()).then_some(self.pricing_type),
            category,
        })
    }

    /// The `conversation` object for a status webhook of Graph API version `graph_major`
    /// (v24+ drops it under PMP except inside a free-entry-point window). The expiry goes only
    /// on the `sent` status.
    pub fn webhook_conversation(
        &self,
        graph_major: u32,
        for_sent_status: bool,
    ) -> Option<WebhookConversation> {
        let conv = self.conversation.as_ref()?;
        if !self.model.is_cbp()
            && graph_major >= 24
            && self.pricing_type != PricingType::FreeEntryPoint
        {
            return None;
        }
        Some(WebhookConversation {
            id: conv.id.to_string(),
            expiration_timestamp: if for_sent_status {
                conv.expires_at.map(|t| t.unix_secs().to_string())
            } else {
                None
            },
            origin: WebhookOrigin {
                origin_type: conv.origin.wire().to_string(),
            },
        })
    }

    /// The amount printed at the card's precision.
    pub fn amount_text(&self) -> String {
        self.amount.format(self.decimals)
    }
}

/// Which model prices a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelChoice {
    Fixed(PricingModelId),
    /// The model in force on the message's date (switches at local midnight).
    ByDate,
}

/// Which rate card prices a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CardChoice {
    Named(String),
    /// The newest compatible card in effect on the message's date, in `currency` (USD first
    /// when none is given).
    ByDate {
        currency: Option<String>,
    },
    /// By date, complete cards first (see [`RateBook::select_auto`]): what a simulation uses
    /// unless the scenario names a card.
    Auto {
        currency: Option<String>,
    },
}

/// One volume band: from the `from`-th billable message of the month on (1-based), the list
/// rate is reduced by `discount`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierBand {
    pub from: u64,
    pub discount: Percent,
}

/// The volume tier a message fell in: its 1-based number among the bands of its market and
/// rate column, its band of monthly messages (`from` to `to`, inclusive; `None`: no upper
/// bound) and the discount on the list rate. Bands that start above 1 have an implicit first
/// tier at the list rate.
/// In JSON: `{"tier": 2, "band": "100001:1000000", "discount": "5"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "TierWire", try_from = "TierWire")]
pub struct Tier {
    pub index: u32,
    pub from: u64,
    pub to: Option<u64>,
    pub discount: Percent,
}

#[derive(Clone, Serialize, Deserialize)]
struct TierWire {
    tier: u32,
    band: String,
    discount: Percent,
}

impl From<Tier> for TierWire {
    fn from(t: Tier) -> TierWire {
        TierWire {
            tier: t.index,
            band: t.band(),
            discount: t.discount,
        }
    }
}

impl TryFrom<TierWire> for Tier {
    type Error = String;
    fn try_from(w: TierWire) -> Result<Tier, String> {
        let bad = || format!("`{}` is not a band (FROM:TO or FROM:)", w.band);
        let (from, to) = w.band.split_once(':').ok_or_else(bad)?;
        Ok(Tier {
            index: w.tier,
            from: from.parse().map_err(|_| bad())?,
            to: match to {
                "" => None,
                t => Some(t.parse().map_err(|_| bad())?),
            },
            discount: w.discount,
        })
    }
}

impl Tier {
    /// The band as Meta's webhook writes it: `"25000001:50000000"`; the top band, whose upper
    /// bound Meta's examples never show, as `"100000001:"` (our choice).
    pub fn band(&self) -> String {
        match self.to {
            Some(to) => format!("{}:{to}", self.from),
            None => format!("{}:", self.from),
        }
    }
}

/// Volume tiers. Meta does not publish thresholds or tier rates, so they are configuration.
/// Bands are per rate column (`utility`, `authentication`, `authentication_international`
/// under PMP; `template` for the template era), with optional per-market overrides. Counting
/// is per WABA, market, rate column and calendar month, over billable (regular) messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeTiers {
    pub default: BTreeMap<RateColumn, Vec<TierBand>>,
    /// Market name → column → bands; replaces the default for that market and column.
    pub per_market: BTreeMap<String, BTreeMap<RateColumn, Vec<TierBand>>>,
}

impl VolumeTiers {
    pub fn is_empty(&self) -> bool {
        self.default.is_empty() && self.per_market.is_empty()
    }

    fn bands(&self, market: &str, column: RateColumn) -> &[TierBand] {
        self.per_market
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(market))
            .and_then(|(_, cols)| cols.get(&column))
            .or_else(|| self.default.get(&column))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The band for the `n`-th message (1-based).
    pub fn band_for(&self, market: &str, column: RateColumn, n: u64) -> Option<TierBand> {
        self.bands(market, column)
            .iter()
            .rev()
            .find(|b| b.from <= n)
            .copied()
    }

    /// The tier of the `n`-th message (1-based) of the month; `None` when the market and
    /// column have no bands.
    pub fn tier_for(&self, market: &str, column: RateColumn, n: u64) -> Option<Tier> {
        let bands = self.bands(market, column);
        let first = bands.first()?;
        let implicit = u32::from(first.from > 1);
        let Some(i) = bands.iter().rposition(|b| b.from <= n) else {
            return Some(Tier {
                index: 1,
                from: 1,
                to: Some(first.from - 1),
                discount: Percent::ZERO,
            });
        };
        Some(Tier {
            index: i as u32 + 1 + implicit,
            from: bands[i].from,
            to: bands.get(i + 1).map(|b| b.from - 1),
            discount: bands[i].discount,
        })
    }

    /// Bands must start at 1 or later, rise strictly, and discount between 0 and 100 %.
    pub fn validate(&self) -> Result<(), PricingError> {
        let check = |what: String, bands: &[TierBand]| -> Result<(), PricingError> {
            let mut prev = 0;
            for b in bands {
                if b.from <= prev {
                    return Err(PricingError::Config(format!(
                        "volume tiers for {what}: `from` must start at 1 or more and rise strictly ({} after {prev})",
                        b.from
                    )));
                }
                if b.discount.0 < 0 || b.discount.0 > 1_000_000 {
                    return Err(PricingError::Config(format!(
                        "volume tiers for {what}: discount {} is not between 0 and 100%",
                        b.discount
                    )));
                }
                prev = b.from;
            }
            Ok(())
        };
        for (c, b) in &self.default {
            check(c.to_string(), b)?;
        }
        for (m, cols) in &self.per_market {
            for (c, b) in cols {
                check(format!("{m} / {c}"), b)?;
            }
        }
        Ok(())
    }
}

/// A business eligible for authentication-international rates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthIntlEligibility {
    /// Start time (Meta sets it 30 days after eligibility).
    pub start: SimTime,
    /// Calling code of the primary business location: authentication to that market is never
    /// international.
    pub home_calling_code: String,
}

/// Rules that are options because the facts are unconfirmed or business-specific.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricingOptions {
    /// CBP free conversations per WABA per month (all conversations in 2022, service only
    /// from 2023-06).
    pub cbp_free_tier_per_month: u32,
    /// CBP: service conversations free and unlimited from this date (2024-11-01).
    pub cbp_service_free_from: Date,
    /// pmp-2026-10: free service messages per business phone number per month. Reported by
    /// third parties, unconfirmed by Meta: off (`None`) by default.
    pub free_service_messages_per_number: Option<u32>,
    /// Price authentication at the utility rate when the card has no authentication cell
    /// (the 2026-10 USD card lists none; the 2026-10 AED card shows authentication equal to
    /// utility). Inferred: on by default, and every such charge carries a note.
    pub authentication_falls_back_to_utility: bool,
    /// Offset of the WABA time zone from UTC, in minutes: models, cards and months switch at
    /// local midnight.
    pub utc_offset_minutes: i32,
    /// Businesses (by WABA id) eligible for authentication-international rates.
    pub auth_international: BTreeMap<u64, AuthIntlEligibility>,
    /// Recent ledger lines kept (totals are always exact).
    pub ledger_lines: usize,
}

impl Default for PricingOptions {
    fn default() -> Self {
        PricingOptions {
            cbp_free_tier_per_month: 1_000,
            cbp_service_free_from: Date::new(2024, 11, 1),
            free_service_messages_per_number: None,
            authentication_falls_back_to_utility: true,
            utc_offset_minutes: 0,
            auth_international: BTreeMap::new(),
            ledger_lines: DEFAULT_LEDGER_LINES,
        }
    }
}

/// Everything a [`Pricer`] is built from, besides the rate book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricerConfig {
    pub model: ModelChoice,
    pub card: CardChoice,
    pub markup: Markup,
    pub tiers: VolumeTiers,
    pub options: PricingOptions,
}

impl PricerConfig {
    /// A fixed model, cards chosen by date (USD first), no markup, default options.
    pub fn for_model(model: PricingModelId) -> PricerConfig {
        PricerConfig {
            model: ModelChoice::Fixed(model),
            card: CardChoice::ByDate { currency: None },
            markup: Markup::none(),
            tiers: VolumeTiers::default(),
            options: PricingOptions::default(),
        }
    }
}

const CONVERSATION_HOURS: u64 = 24;
const FEP_HOURS_2023: u64 = 72;

#[derive(Clone, Debug)]
struct Conversation {
    id: ConversationId,
    /// The slot it occupies: its template category (authentication-international shares the
    /// authentication slot), `Service`, `ReferralConversion`, or for cbp-2022 `UserInitiated`
    /// / `BusinessInitiated` (one slot for both).
    slot: Category,
    category: Category,
    pricing_type: PricingType,
    expires_at: SimTime,
    amount: Amount,
    charged: bool,
    market: Name,
    card: Name,
    decimals: u32,
    currency: Name,
    note: Option<String>,
    unpriced: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct PairState {
    conversations: Vec<Conversation>,
    /// PMP: the free-entry-point window id and its end.
    fep_window: Option<(ConversationId, SimTime)>,
}

type Month = (i32, u8);

/// Volume-tier counters: billable messages this month per (market, rate column). Meta counts
/// them over every WABA of the business portfolio [M:pricing], so a portfolio's pricers
/// share one (see [`Pricer::price_into_shared`]).
pub type VolumeCounts = BTreeMap<(String, RateColumn), (Month, u64)>;

/// See the module documentation.
#[derive(Debug)]
pub struct Pricer {
    book: Arc<RateBook>,
    config: PricerConfig,
    pairs: BTreeMap<(u64, String), PairState>,
    expiry: BTreeSet<(SimTime, u64, String)>,
    /// The first end in `expiry` (`u64::MAX` when none).
    next_expiry: SimTime,
    free_tier: BTreeMap<u64, (Month, u32)>,
    /// Volume-tier positions this month by (market, rate column): see [`VolumeCounts`].
    volume: VolumeCounts,
    free_service: BTreeMap<u64, (Month, u32)>,
    next_conversation: u64,
    ledger: Ledger,
    /// Date, model and card of the local day the last message fell in: working them out
    /// (calendar arithmetic, a scan of every card) is done once per simulated day instead of
    /// once per message.
    /// Boxed so that taking and putting it back (every call) moves one pointer: a wider value
    /// written at the end of one call and read at the start of the next defeats store
    /// forwarding, and that load then waits for every pending store (6 % of a simulation).
    day: Option<Box<DayCache>>,
    /// The last market found by number, with the span of numbers sure to share it (see
    /// [`RateCard::market_span_for_wa`]), for the day card: recipients of one country skip the
    /// lookup. Cleared with the day cache.
    market_span: Option<(u64, u64, usize)>,
}

#[derive(Debug)]
struct DayCache {
    from: SimTime,
    until: SimTime,
    date: Date,
    model: PricingModelId,
    card: Arc<RateCard>,
}

/// The recipient as the key of per-user state (conversations, free-entry-point windows).
fn recipient_key(msg: &MessageFacts<'_>) -> String {
    match (msg.recipient, msg.recipient_number) {
        ("", Some(n)) => n.to_string(),
        (r, _) => r.to_string(),
    }
}

impl Charge {
    /// A zero charge of nothing: a buffer for [`Pricer::price_into`].
    pub fn empty() -> Charge {
        BLANK
    }
}

/// Every field of a charge at its starting value: what [`fill_blank`] does not set.
const BLANK: Charge = Charge {
    model: PricingModelId::Pmp2025_07,
    unit: Unit::Message,
    category: Category::Service,
    message_category: Category::Service,
    pricing_type: PricingType::Regular,
    billable: true,
    amount: Amount::ZERO,
    bsp_price: Amount::ZERO,
    currency: Name::EMPTY,
    market: Name::EMPTY,
    card: Name::EMPTY,
    decimals: 4,
    recorded: false,
    conversation: None,
    tier: None,
    tier_entered: false,
    note: None,
    unpriced: None,
};

/// Makes `c` a regular, billable, zero-amount charge of `msg` under `model`, priced with
/// `card` (`None`: no card could be chosen) in `market`: what every pricing path starts from.
/// Filled in place: the engine prices every message into one reused charge, and a ~200-byte
/// value returned through three calls is copied at each.
fn fill_blank(
    c: &mut Charge,
    msg: &MessageFacts<'_>,
    model: PricingModelId,
    card: Option<&RateCard>,
    market: Name,
) {
    *c = Charge {
        model,
        unit: model.unit(),
        category: msg.category,
        message_category: msg.category,
        currency: card.map_or(Name::EMPTY, |c| c.shared_currency),
        market,
        card: card.map_or(Name::EMPTY, |c| c.shared_name),
        decimals: card.map_or(4, |c| c.decimals),
        ..BLANK
    };
}

/// Under pmp-2025-07 a utility template sent while the customer service window is open is
/// free; pmp-2026-10 charges it (docs/pricing.md).
fn utility_free_in_window(model: PricingModelId, csw_open: bool) -> bool {
    csw_open && model == PricingModelId::Pmp2025_07
}

/// splitmix64: a fixed, well-mixed function, so ids look like Meta's opaque hex but are
/// reproducible.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A conversation id from two mixed words, kept as numbers (no allocation per message).
fn hex_id(a: u64, b: u64) -> ConversationId {
    ConversationId(mix(a), mix(b ^ 0x5DEE_CE66_D1CE_4E5B))
}

/// A conversation id (`conversation.id` of status webhooks): 128 bits as two words (8-byte
/// aligned, so it packs into the engine's per-message timers), shown as 32 lowercase hex
/// digits in JSON and in `Display`, as Meta's ids look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConversationId(pub u64, pub u64);

impl std::fmt::Display for ConversationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}{:016x}", self.0, self.1)
    }
}

impl Serialize for ConversationId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConversationId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = String::deserialize(d)?;
        let bad = || serde::de::Error::custom(format!("`{t}` is not a conversation id"));
        if t.len() != 32 || !t.is_ascii() {
            return Err(bad());
        }
        let hi = u64::from_str_radix(&t[..16], 16).map_err(|_| bad())?;
        let lo = u64::from_str_radix(&t[16..], 16).map_err(|_| bad())?;
        Ok(ConversationId(hi, lo))
    }
}

struct Ctx<'c> {
    model: PricingModelId,
    card: &'c RateCard,
    market: &'c Market,
    date: Date,
}

impl Pricer {
    /// Builds a pricer. Fails if a named card is unknown or cannot price a fixed model, or if
    /// the tiers are malformed.
    pub fn new(book: Arc<RateBook>, config: PricerConfig) -> Result<Pricer, PricingError> {
        if let CardChoice::Named(name) = &config.card {
            let card = book.get(name)?;
            if let ModelChoice::Fixed(m) = config.model {
                card.check_supports(m)?;
            }
        }
        config.tiers.validate()?;
        Ok(Pricer {
            ledger: Ledger::with_capacity(config.options.ledger_lines),
            book,
            config,
            pairs: BTreeMap::new(),
            expiry: BTreeSet::new(),
            next_expiry: SimTime(u64::MAX),
            free_tier: BTreeMap::new(),
            volume: BTreeMap::new(),
            free_service: BTreeMap::new(),
            next_conversation: 0,
            day: None,
            market_span: None,
        })
    }

    /// A pricer over the embedded rate cards.
    pub fn with_embedded_cards(config: PricerConfig) -> Result<Pricer, PricingError> {
        Pricer::new(Arc::new(RateBook::embedded()?), config)
    }

    pub fn config(&self) -> &PricerConfig {
        &self.config
    }
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
    pub fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }
    /// Open CBP conversations (for metrics).
    pub fn open_conversations(&self) -> usize {
        self.pairs.values().map(|p| p.conversations.len()).sum()
    }
    /// (phone, recipient) pairs with state (for metrics and the memory bound).
    pub fn tracked_pairs(&self) -> usize {
        self.pairs.len()
    }

    /// The model in force at `now` under this configuration.
    pub fn model_at(&self, now: SimTime) -> PricingModelId {
        match self.config.model {
            ModelChoice::Fixed(m) => m,
            ModelChoice::ByDate => PricingModelId::in_force_on(Date::of_instant(
                now,
                self.config.options.utc_offset_minutes,
            )),
        }
    }

    /// The card that prices `model` on `date`.
    pub fn card_for(&self, model: PricingModelId, date: Date) -> Result<&RateCard, PricingError> {
        self.card_for_book(&self.book, model, date)
    }

    /// Drops every conversation and free-entry-point window that ended by `now`.
    #[inline]
    pub fn expire(&mut self, now: SimTime) {
        // Checked on every call, so kept to one comparison when nothing is due.
        if self.next_expiry <= now {
            self.expire_due(now);
        }
    }

    fn expire_due(&mut self, now: SimTime) {
        while let Some(first) = self.expiry.first() {
            if first.0 > now {
                break;
            }
            let (_, phone, recipient) = self.expiry.pop_first().expect("non-empty");
            let key = (phone, recipient);
            if let Some(p) = self.pairs.get_mut(&key) {
                p.conversations.retain(|c| c.expires_at > now);
                if p.fep_window.as_ref().is_some_and(|(_, end)| *end <= now) {
                    p.fep_window = None;
                }
                if p.conversations.is_empty() && p.fep_window.is_none() {
                    self.pairs.remove(&key);
                }
            }
        }
        self.next_expiry = self.expiry.first().map_or(SimTime(u64::MAX), |e| e.0);
    }

    /// Indexes a conversation or window ending at `end`.
    fn expires(&mut self, end: SimTime, phone: u64, recipient: String) {
        self.next_expiry = self.next_expiry.min(end);
        self.expiry.insert((end, phone, recipient));
    }

    /// Prices one message; see the module documentation for when to call it.
    pub fn price(&mut self, now: SimTime, msg: &MessageFacts<'_>) -> Charge {
        let mut c = BLANK;
        self.price_into(now, msg, &mut c);
        c
    }

    /// [`Self::price_into`] with the volume-tier counters `shared` (a portfolio's, common to
    /// its WABAs' pricers) in place of this pricer's own.
    pub fn price_into_shared(
        &mut self,
        now: SimTime,
        msg: &MessageFacts<'_>,
        c: &mut Charge,
        shared: &mut VolumeCounts,
    ) {
        std::mem::swap(&mut self.volume, shared);
        self.price_into(now, msg, c);
        std::mem::swap(&mut self.volume, shared);
    }

    /// [`Self::price`] into `c`, whatever it held: for callers that price many messages and
    /// keep none of the charges.
    pub fn price_into(&mut self, now: SimTime, msg: &MessageFacts<'_>, c: &mut Charge) {
        self.expire(now);
        // The day's card is taken out and put back, not cloned: an `Arc` clone is a locked
        // instruction, which waits for every pending store (twice per message). Boxed: see
        // `day`.
        let day = match self.day.take() {
            Some(d) if d.from <= now && now < d.until => d,
            _ => {
                let tz = self.config.options.utc_offset_minutes;
                let date = Date::of_instant(now, tz);
                let model = self.model_at(now);
                let book = Arc::clone(&self.book);
                let card = match self.card_for_book(&book, model, date) {
                    Ok(c) => book.get_shared(&c.name).expect("the card is in the book"),
                    Err(e) => return self.unpriced(now, msg, model, None, e, c),
                };
                self.market_span = None;
                Box::new(DayCache {
                    from: date.midnight(tz),
                    until: Date::from_days_since_epoch(date.days_since_epoch() + 1).midnight(tz),
                    date,
                    model,
                    card,
                })
            }
        };
        self.price_on_day(now, msg, &day, c);
        self.day = Some(day);
    }

    /// [`Self::price_into`] once the day's model and card are known.
    fn price_on_day(
        &mut self,
        now: SimTime,
        msg: &MessageFacts<'_>,
        day: &DayCache,
        c: &mut Charge,
    ) {
        let (date, model) = (day.date, day.model);
        let card: &RateCard = &day.card;
        let market = match msg.market {
            Some(name) => card
                .market_by_name(name)
                .ok_or_else(|| PricingError::UnknownMarket {
                    spec: name.to_string(),
                    card: card.name.clone(),
                    known: card
                        .markets
                        .iter()
                        .map(|m| m.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            None => match msg.recipient_number {
                Some(n) => match self.market_span {
                    Some((lo, hi, i)) if lo <= n && n < hi => Ok(&card.markets[i]),
                    _ => card.market_span_for_wa(n).map(|(i, span)| {
                        if let Some((lo, hi)) = span {
                            self.market_span = Some((lo, hi, i));
                        }
                        &card.markets[i]
                    }),
                },
                None => card.market_for_number(msg.recipient),
            },
        };
        let market = match market {
            Ok(m) => m,
            Err(e) => return self.unpriced(now, msg, model, Some(card), e, c),
        };
        let ctx = Ctx {
            model,
            card,
            market,
            date,
        };
        match model {
            PricingModelId::TemplateEra => self.price_template_era(msg, &ctx, c),
            PricingModelId::Cbp2022 | PricingModelId::Cbp2023 => self.price_cbp(now, msg, &ctx, c),
            PricingModelId::Pmp2025_07 | PricingModelId::Pmp2026_10 => {
                self.price_pmp(now, msg, &ctx, c)
            }
        }
        self.finish(now, msg, c);
    }

    fn card_for_book<'b>(
        &self,
        book: &'b RateBook,
        model: PricingModelId,
        date: Date,
    ) -> Result<&'b RateCard, PricingError> {
        match &self.config.card {
            CardChoice::Named(n) => {
                let c = book.get(n)?;
                c.check_supports(model)?;
                Ok(c)
            }
            CardChoice::ByDate { currency } => book.select(model, date, currency.as_deref()),
            CardChoice::Auto { currency } => book.select_auto(model, date, currency.as_deref()),
        }
    }

    fn fill_base(&self, c: &mut Charge, msg: &MessageFacts<'_>, ctx: &Ctx<'_>) {
        fill_blank(c, msg, ctx.model, Some(ctx.card), ctx.market.shared_name);
    }

    /// A charge that could not be priced (no card, or no market for the number): zero amount,
    /// market "unknown", the reason kept, still recorded at delivery so the ledger counts it.
    fn unpriced(
        &mut self,
        now: SimTime,
        msg: &MessageFacts<'_>,
        model: PricingModelId,
        card: Option<&RateCard>,
        e: PricingError,
        c: &mut Charge,
    ) {
        fill_blank(c, msg, model, card, Name::new("unknown"));
        c.unpriced = Some(e.to_string());
        self.finish(now, msg, c);
    }

    /// Rate of `column` in the context's market, with the authentication fallback.
    fn rate(
        &self,
        ctx: &Ctx<'_>,
        column: RateColumn,
    ) -> Result<(Amount, Option<String>), PricingError> {
        if let Some(r) = ctx.market.rate(column) {
            return Ok((r, None));
        }
        let fallback = match column {
            RateColumn::Authentication
                if self.config.options.authentication_falls_back_to_utility =>
            {
                Some(RateColumn::Utility)
            }
            // From 2026-10 service is billed at the utility rate (a `service` column wins).
            RateColumn::Service if ctx.model == PricingModelId::Pmp2026_10 => {
                Some(RateColumn::Utility)
            }
            _ => None,
        };
        if let Some(fb) = fallback {
            if let Some(r) = ctx.market.rate(fb) {
                let note = (column == RateColumn::Authentication).then(|| {
                    format!(
                        "card `{}` has no authentication rate for {}: utility rate used (inferred)",
                        ctx.card.name, ctx.market.name
                    )
                });
                return Ok((r, note));
            }
        }
        Err(PricingError::MissingRate {
            card: ctx.card.name.clone(),
            market: ctx.market.name.clone(),
            column: column.to_string(),
        })
    }

    fn auth_intl_applies(&self, now: SimTime, waba: u64, ctx: &Ctx<'_>) -> bool {
        let Some(e) = self.config.options.auth_international.get(&waba) else {
            return false;
        };
        if now < e.start
            || ctx
                .market
                .rate(RateColumn::AuthenticationInternational)
                .is_none()
        {
            return false;
        }
        match ctx.card.market_for_number(&e.home_calling_code) {
            Ok(home) => home.name != ctx.market.name,
            Err(_) => true,
        }
    }

    /// Applies the volume tier for the next billable message of `column`; counts it when
    /// `commit`. Gives the rate, the tier and whether this message entered it.
    fn apply_tier(
        &mut self,
        ctx: &Ctx<'_>,
        column: RateColumn,
        rate: Amount,
        commit: bool,
    ) -> (Amount, Option<Tier>, bool) {
        if self.config.tiers.is_empty() {
            return (rate, None, false);
        }
        let month = ctx.date.month_key();
        // Authentication-international keeps the authentication position [M:pricing].
        let counted = match column {
            RateColumn::AuthenticationInternational => RateColumn::Authentication,
            c => c,
        };
        let key = (ctx.market.name.clone(), counted);
        let entry = self.volume.entry(key).or_insert((month, 0));
        if entry.0 != month {
            *entry = (month, 0);
        }
        let n = entry.1 + 1;
        if commit {
            entry.1 = n;
        }
        match self.config.tiers.tier_for(&ctx.market.name, column, n) {
            Some(t) => (
                rate.minus(t.discount.of(rate)),
                Some(t),
                commit && t.from == n && n > 1,
            ),
            None => (rate, None, false),
        }
    }

    fn price_template_era(&mut self, msg: &MessageFacts<'_>, ctx: &Ctx<'_>, c: &mut Charge) {
        self.fill_base(c, msg, ctx);
        if msg.category == Category::Service {
            c.pricing_type = PricingType::FreeCustomerService;
            c.billable = false;
            return;
        }
        if !msg.category.is_template() {
            c.unpriced = Some(format!(
                "category {} cannot be sent under template-era",
                msg.category
            ));
            return;
        }
        match self.rate(ctx, RateColumn::Template) {
            Ok((r, _)) => {
                let (amount, tier, entered) =
                    self.apply_tier(ctx, RateColumn::Template, r, msg.delivered);
                c.amount = amount;
                c.tier = tier;
                c.tier_entered = entered;
            }
            Err(e) => c.unpriced = Some(e.to_string()),
        }
    }

    /// The PMP decisions that need no rate: the conversation id, the free entry point, the
    /// authentication-international category and free customer service. Returns whether the
    /// message is paid at a rate (false: free or unpriced).
    fn pmp_kind(
        &mut self,
        now: SimTime,
        msg: &MessageFacts<'_>,
        ctx: &Ctx<'_>,
        c: &mut Charge,
    ) -> bool {
        let (model, date) = (ctx.model, ctx.date);
        // Per-message conversation id (v23 and earlier), or the free-entry-point window id.
        c.conversation = Some(ConversationInfo {
            id: hex_id(
                msg.message_key,
                msg.phone_number_id ^ msg.waba_id.rotate_left(17),
            ),
            expires_at: None,
            origin: msg.category,
            opened: false,
        });
        if !msg.category.is_sendable() {
            c.unpriced = Some(format!(
                "category {} cannot be sent under {model}",
                msg.category
            ));
            return false;
        }
        if msg.fep_open {
            let key = (msg.phone_number_id, recipient_key(msg));
            let pair = self.pairs.entry(key.clone()).or_default();
            let (id, end) = match &pair.fep_window {
                Some(w) => *w,
                None => {
                    self.next_conversation += 1;
                    let w = (
                        hex_id(self.next_conversation, msg.phone_number_id),
                        now.plus(FEP_HOURS_2023 * MICROS_PER_HOUR),
                    );
                    pair.fep_window = Some(w);
                    self.expires(w.1, key.0, key.1);
                    w
                }
            };
            c.category = Category::ReferralConversion;
            c.pricing_type = PricingType::FreeEntryPoint;
            c.billable = false;
            c.conversation = Some(ConversationInfo {
                id,
                expires_at: Some(end),
                origin: Category::ReferralConversion,
                opened: false,
            });
            return false;
        }
        let mut category = msg.category;
        if category == Category::Authentication && self.auth_intl_applies(now, msg.waba_id, ctx) {
            category = Category::AuthenticationInternational;
        }
        c.category = category;
        if let Some(conv) = c.conversation.as_mut() {
            conv.origin = category;
        }
        let free_cs = match category {
            Category::Service => match model {
                PricingModelId::Pmp2025_07 => true,
                _ => self.take_free_service(msg, date, msg.delivered),
            },
            Category::Utility => utility_free_in_window(model, msg.csw_open),
            _ => false,
        };
        if free_cs {
            c.pricing_type = PricingType::FreeCustomerService;
            c.billable = false;
            return false;
        }
        true
    }

    fn price_pmp(&mut self, now: SimTime, msg: &MessageFacts<'_>, ctx: &Ctx<'_>, c: &mut Charge) {
        self.fill_base(c, msg, ctx);
        if !self.pmp_kind(now, msg, ctx, c) {
            return;
        }
        let category = c.category;
        let Some(column) = RateColumn::for_category(category) else {
            c.unpriced = Some(format!("category {category} has no rate column"));
            return;
        };
        match self.rate(ctx, column) {
            Ok((r, note)) => {
                let tier_col = match column {
                    // Tiers apply to the rate actually used.
                    RateColumn::Service if ctx.market.rate(RateColumn::Service).is_none() => {
                        RateColumn::Utility
                    }
                    _ => column,
                };
                let (amount, tier, entered) = self.apply_tier(ctx, tier_col, r, msg.delivered);
                c.amount = amount;
                c.tier = tier;
                c.tier_entered = entered;
                c.note = note;
            }
            Err(e) => c.unpriced = Some(e.to_string()),
        }
    }

    /// pmp-2026-10 option: is this service message one of the free ones this month? Counts it
    /// when `commit`.
    fn take_free_service(&mut self, msg: &MessageFacts<'_>, date: Date, commit: bool) -> bool {
        let Some(limit) = self.config.options.free_service_messages_per_number else {
            return false;
        };
        let month = date.month_key();
        let e = self
            .free_service
            .entry(msg.phone_number_id)
            .or_insert((month, 0));
        if e.0 != month {
            *e = (month, 0);
        }
        if e.1 < limit {
            if commit {
                e.1 += 1;
            }
            true
        } else {
            false
        }
    }

    fn price_cbp(&mut self, now: SimTime, msg: &MessageFacts<'_>, ctx: &Ctx<'_>, c: &mut Charge) {
        self.fill_base(c, msg, ctx);
        if !msg.category.is_sendable() {
            c.unpriced = Some(format!(
                "category {} cannot be sent under {}",
                msg.category, ctx.model
            ));
            return;
        }
        let key = (msg.phone_number_id, recipient_key(msg));
        let is_2022 = ctx.model == PricingModelId::Cbp2022;
        // The slot this message would occupy, and the billed category if it opens one.
        let mut category = match msg.category {
            _ if is_2022 => {
                if msg.csw_open {
                    Category::UserInitiated
                } else {
                    Category::BusinessInitiated
                }
            }
            Category::MarketingLite => Category::Marketing,
            other => other,
        };
        let slot = if is_2022 {
            Category::BusinessInitiated
        } else if category == Category::AuthenticationInternational {
            Category::Authentication
        } else {
            category
        };
        if !is_2022
            && category == Category::Authentication
            && self.auth_intl_applies(now, msg.waba_id, ctx)
        {
            category = Category::AuthenticationInternational;
        }

        let pair = self.pairs.entry(key.clone()).or_default();
        // 1. An open free-entry-point conversation takes every message.
        let mut found = pair
            .conversations
            .iter()
            .position(|cv| cv.slot == Category::ReferralConversion);
        // 2. A reply to an ad / CTA user opens one (cbp-2023), whatever else is open.
        let opens_fep = found.is_none() && msg.fep_open && !is_2022;
        // 3. Otherwise a conversation in the same slot; a service message joins any open one.
        if found.is_none() && !opens_fep {
            found = if !is_2022 && msg.category == Category::Service {
                pair.conversations
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, cv)| (cv.expires_at, std::cmp::Reverse(cv.slot)))
                    .map(|(i, _)| i)
            } else {
                pair.conversations.iter().position(|cv| cv.slot == slot)
            };
        }
        let opened;
        let idx = match found {
            Some(i) => {
                opened = false;
                i
            }
            None => {
                opened = true;
                let conv = self.open_conversation(now, msg, ctx, category, slot);
                self.expires(conv.expires_at, key.0, key.1.clone());
                let pair = self.pairs.entry(key.clone()).or_default();
                if conv.slot == Category::ReferralConversion && !is_2022 {
                    // A free-entry-point conversation closes every other one.
                    pair.conversations.clear();
                }
                pair.conversations.push(conv);
                pair.conversations.len() - 1
            }
        };
        let pair = self.pairs.get_mut(&key).expect("pair exists");
        let conv = &mut pair.conversations[idx];
        c.category = conv.category;
        c.pricing_type = conv.pricing_type;
        c.billable = !matches!(
            conv.pricing_type,
            PricingType::FreeEntryPoint | PricingType::FreeCustomerService
        );
        c.market = conv.market;
        c.card = conv.card;
        c.decimals = conv.decimals;
        c.currency = conv.currency;
        c.note = conv.note.clone();
        c.unpriced = conv.unpriced.clone();
        let pays_now = !conv.charged;
        c.amount = if pays_now { conv.amount } else { Amount::ZERO };
        if msg.delivered && pays_now {
            conv.charged = true;
        }
        c.conversation = Some(ConversationInfo {
            id: conv.id,
            expires_at: Some(conv.expires_at),
            origin: conv.category,
            opened: pays_now || opened,
        });
    }

    fn open_conversation(
        &mut self,
        now: SimTime,
        msg: &MessageFacts<'_>,
        ctx: &Ctx<'_>,
        category: Category,
        slot: Category,
    ) -> Conversation {
        self.next_conversation += 1;
        let id = hex_id(self.next_conversation, msg.phone_number_id);
        let is_2022 = ctx.model == PricingModelId::Cbp2022;
        let mut conv = Conversation {
            id,
            slot,
            category,
            pricing_type: PricingType::Regular,
            expires_at: now.plus(CONVERSATION_HOURS * MICROS_PER_HOUR),
            amount: Amount::ZERO,
            charged: false,
            market: ctx.market.shared_name,
            card: ctx.card.shared_name,
            decimals: ctx.card.decimals,
            currency: ctx.card.shared_currency,
            note: None,
            unpriced: None,
        };
        if msg.fep_open {
            conv.slot = Category::ReferralConversion;
            conv.category = Category::ReferralConversion;
            conv.pricing_type = PricingType::FreeEntryPoint;
            if !is_2022 {
                conv.expires_at = now.plus(FEP_HOURS_2023 * MICROS_PER_HOUR);
            }
            return conv;
        }
        let service_free = !is_2022
            && category == Category::Service
            && ctx.date >= self.config.options.cbp_service_free_from;
        if service_free {
            conv.pricing_type = PricingType::FreeCustomerService;
            return conv;
        }
        // The monthly free tier: every conversation in 2022, service only from 2023-06.
        if is_2022 || category == Category::Service {
            let month = ctx.date.month_key();
            let limit = self.config.options.cbp_free_tier_per_month;
            let e = self.free_tier.entry(msg.waba_id).or_insert((month, 0));
            if e.0 != month {
                *e = (month, 0);
            }
            if e.1 < limit {
                e.1 += 1;
                conv.pricing_type = PricingType::FreeTier;
                return conv;
            }
        }
        let column = RateColumn::for_category(category).expect("sendable category has a column");
        match self.rate(ctx, column) {
            Ok((r, note)) => {
                conv.amount = r;
                conv.note = note;
            }
            Err(e) => conv.unpriced = Some(e.to_string()),
        }
        conv
    }

    /// Adds the BSP price and, at delivery, records the ledger line.
    fn finish(&mut self, now: SimTime, msg: &MessageFacts<'_>, c: &mut Charge) {
        let free = c.pricing_type != PricingType::Regular;
        c.bsp_price = self
            .config
            .markup
            .bsp_price(c.message_category, c.amount, free);
        if !msg.delivered {
            return;
        }
        let opened_conversation =
            c.model.is_cbp() && c.conversation.as_ref().is_some_and(|cv| cv.opened);
        if !self.ledger.keeps_lines() {
            // Totals only (e.g. `simulate`): the same sums, no line built.
            self.ledger.record_totals(&LineTotals {
                model: c.model,
                unit: c.unit,
                category: c.category,
                market: c.market,
                pricing_type: c.pricing_type,
                currency: c.currency,
                opened_conversation,
                amount: c.amount,
                bsp_price: c.bsp_price,
                unpriced: c.unpriced.is_some(),
                tier: c.tier,
            });
            c.recorded = true;
            return;
        }
        let line = LedgerLine {
            seq: 0,
            at_us: now.as_micros(),
            message_key: msg.message_key,
            waba_id: msg.waba_id,
            phone_number_id: msg.phone_number_id,
            model: c.model,
            card: c.card,
            unit: c.unit,
            category: c.category,
            message_category: c.message_category,
            market: c.market,
            pricing_type: c.pricing_type,
            billable: c.billable,
            opened_conversation,
            conversation_id: c.conversation.as_ref().map(|cv| cv.id),
            amount: c.amount,
            bsp_price: c.bsp_price,
            currency: c.currency,
            unpriced: c.unpriced.clone(),
            tier: c.tier,
        };
        self.ledger.record(line);
        c.recorded = true;
    }
}
