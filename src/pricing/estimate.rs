//! Cost estimates: a plan of messages priced under a model.
//!
//! An estimate does not multiply rates by counts itself. It feeds synthetic messages through
//! the same [`Pricer`] the engine uses, so conversation reuse, free tiers, volume tiers,
//! free-entry points and markup behave exactly as in a simulation. The synthetic traffic is:
//! - each plan line has its own audience of `recipients` users (default: one per message), in
//!   the line's market; the line's messages are spread evenly over them;
//! - the first `from_ads` share of the audience came from a Click-to-WhatsApp ad / Page CTA
//!   (free-entry-point window open, which implies an open service window), the next
//!   `in_window` share has an open customer service window, the rest has none;
//! - every message is delivered at noon (local time) of the estimate date, so all messages to
//!   one user fall in one 24 h conversation, and the month's free allowances are used in plan
//!   order;
//! - a line with `days = N` spreads its messages evenly over N days from the estimate date
//!   (noon each day; the day's messages spread over the audience as above), and a line with a
//!   recategorisation on day D sends its template as the new category from day D on (Meta
//!   charges the category a template has at the time of use). Its result is then two rows,
//!   before and after the change.

use super::card::{RateBook, RateColumn};
use super::error::PricingError;
use super::markup::Markup;
use super::money::{Amount, Share};
use super::pricer::{
    CardChoice, Charge, MessageFacts, ModelChoice, Pricer, PricerConfig, PricingOptions, TierBand,
    VolumeTiers,
};
use super::types::{Category, Date, PricingModelId, PricingType};
use crate::clock::MICROS_PER_HOUR;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

/// Safety limit on the messages of one estimate (each is priced individually).
pub const MAX_PLAN_MESSAGES: u64 = 200_000_000;

/// One line of an estimate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EstimateLine {
    pub template: Option<String>,
    pub category: Category,
    /// Market name, ISO country code, country name or calling code.
    pub market: String,
    pub messages: u64,
    pub in_window: Share,
    pub from_ads: Share,
    pub recipients: Option<u64>,
    /// Days the messages are spread over, from the estimate date (1: all on that day).
    pub days: u32,
    /// Meta recategorises the line's template during the plan.
    pub recategorise: Option<LineRecategorise>,
    /// Where the line came from (`plan.toml:12:1`), prefixed to its errors.
    pub origin: String,
}

/// A template recategorisation inside a plan: from day `on_day` (0 = the estimate date) the
/// line's messages are sent, and priced, as `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRecategorise {
    pub to: Category,
    pub on_day: u32,
}

/// Longest plan line, in days (a year).
pub const MAX_PLAN_DAYS: u32 = 366;

impl EstimateLine {
    /// Checks `days` and the recategorisation against the line; the message names the field.
    fn check_schedule(&self) -> Result<(), (&'static str, String)> {
        if self.days == 0 || self.days > MAX_PLAN_DAYS {
            return Err((
                "days",
                format!("{} is not between 1 and {MAX_PLAN_DAYS}", self.days),
            ));
        }
        if let Some(r) = self.recategorise {
            if !matches!(r.to, Category::Marketing | Category::Utility) {
                return Err((
                    "recategorise.to",
                    format!(
                        "`{}`: Meta recategorises templates only to marketing or utility",
                        r.to
                    ),
                ));
            }
            if !matches!(
                self.category,
                Category::Marketing | Category::Utility | Category::Authentication
            ) {
                return Err((
                    "recategorise",
                    format!("a `{}` line has no template to recategorise", self.category),
                ));
            }
            if r.to == self.category {
                return Err((
                    "recategorise.to",
                    format!("the line is already `{}`", self.category),
                ));
            }
            if r.on_day >= self.days {
                return Err((
                    "recategorise.on_day",
                    format!(
                        "day {} is not inside the line's {} day(s) (day 0 is the estimate date; set `days`)",
                        r.on_day, self.days
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// What to estimate and how.
#[derive(Clone, Debug)]
pub struct EstimateRequest {
    pub model: PricingModelId,
    /// Card names to use; the first that can price the model wins. None fits: chosen by date.
    pub cards: Vec<String>,
    /// Only use a named card whose effective date falls in the model's period (comparisons:
    /// a 2026-01 card named for pmp-2025-07 should not also price pmp-2026-10).
    pub cards_in_model_period: bool,
    /// Date of the estimate; default: [`RateBook::default_date`].
    pub date: Option<Date>,
    pub currency: Option<String>,
    pub markup: Markup,
    pub tiers: VolumeTiers,
    pub options: PricingOptions,
    pub lines: Vec<EstimateLine>,
}

/// Counts and money for a group of messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sums {
    pub messages: u64,
    /// Messages with pricing type `regular` (CBP: inside a paid conversation).
    pub billable_messages: u64,
    /// Messages that were free (free entry point, free customer service, free tier).
    pub free_messages: u64,
    /// Conversations opened (CBP only).
    pub conversations: u64,
    /// Charged units: messages (per-message models) or paid conversations (CBP).
    pub charged_units: u64,
    pub platform_cost: Amount,
    pub bsp_price: Amount,
    pub margin: Amount,
}

impl Sums {
    fn add(&mut self, c: &Charge) {
        self.messages += 1;
        let regular = c.pricing_type == PricingType::Regular;
        if regular {
            self.billable_messages += 1;
        } else {
            self.free_messages += 1;
        }
        let opened = c.conversation.as_ref().is_some_and(|cv| cv.opened);
        if c.model.is_cbp() {
            if opened {
                self.conversations += 1;
                if regular {
                    self.charged_units += 1;
                }
            }
        } else if regular {
            self.charged_units += 1;
        }
        self.platform_cost = self.platform_cost.plus(c.amount);
        self.bsp_price = self.bsp_price.plus(c.bsp_price);
        self.margin = self.bsp_price.minus(self.platform_cost);
    }

    fn merge(&mut self, o: &Sums) {
        self.messages += o.messages;
        self.billable_messages += o.billable_messages;
        self.free_messages += o.free_messages;
        self.conversations += o.conversations;
        self.charged_units += o.charged_units;
        self.platform_cost = self.platform_cost.plus(o.platform_cost);
        self.bsp_price = self.bsp_price.plus(o.bsp_price);
        self.margin = self.bsp_price.minus(self.platform_cost);
    }
}

/// The result of one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineResult {
    pub template: Option<String>,
    pub category: Category,
    pub market: String,
    /// The days of the plan this row covers (`"0-11"`), for a line split by a
    /// recategorisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<String>,
    #[serde(flatten)]
    pub sums: Sums,
}

/// A breakdown row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    pub key: String,
    #[serde(flatten)]
    pub sums: Sums,
}

/// An estimate under one model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Estimate {
    pub model: PricingModelId,
    pub card: String,
    pub card_effective_from: Date,
    pub date: Date,
    pub currency: String,
    /// Display precision of the card.
    pub decimals: u32,
    pub lines: Vec<LineResult>,
    pub by_template: Vec<Group>,
    pub by_category: Vec<Group>,
    pub by_market: Vec<Group>,
    /// Messages by volume tier and band (`Indonesia utility tier 2 (100001:1000000, 5% off)`),
    /// when tiers apply.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_tier: Vec<Group>,
    pub total: Sums,
    /// Caveats: example / partial card, rules decided by options.
    pub notes: Vec<String>,
}

impl Estimate {
    pub fn fmt(&self, a: Amount) -> String {
        a.format(self.decimals)
    }
}

/// Prices a plan under one model.
pub fn estimate(book: &Arc<RateBook>, req: &EstimateRequest) -> Result<Estimate, PricingError> {
    let model = req.model;
    let card_name = req
        .cards
        .iter()
        .find(|n| {
            book.get(n).is_ok_and(|c| {
                c.check_supports(model).is_ok()
                    && (!req.cards_in_model_period
                        || (c.effective_from >= model.starts()
                            && model.ends().is_none_or(|end| c.effective_from < end)))
            })
        })
        .cloned();
    if card_name.is_none() {
        // A named card that exists but does not fit: say why, unless another was meant for
        // another model of a comparison.
        if let (false, [only]) = (req.cards_in_model_period, req.cards.as_slice()) {
            book.get(only)?.check_supports(model)?;
        }
    }
    let date = match (req.date, &card_name) {
        (Some(d), _) => d,
        (None, Some(n)) => book.get(n)?.effective_from.max(model.starts()),
        (None, None) => book.default_date(model, req.currency.as_deref()),
    };
    let card = match &card_name {
        Some(n) => book.get(n)?,
        None => book.select(model, date, req.currency.as_deref())?,
    };
    if let Some(cur) = &req.currency {
        if !card.currency.eq_ignore_ascii_case(cur) {
            return Err(PricingError::Config(format!(
                "card `{}` is in {}, not {cur}",
                card.name, card.currency
            )));
        }
    }
    let mut options = req.options.clone();
    options.ledger_lines = 0;
    let config = PricerConfig {
        model: ModelChoice::Fixed(model),
        card: CardChoice::Named(card.name.clone()),
        markup: req.markup.clone(),
        tiers: req.tiers.clone(),
        options,
    };
    let mut pricer = Pricer::new(Arc::clone(book), config)?;
    let now = date
        .midnight(req.options.utc_offset_minutes)
        .plus(12 * MICROS_PER_HOUR);

    let total_messages: u64 = req.lines.iter().map(|l| l.messages).sum();
    if total_messages > MAX_PLAN_MESSAGES {
        return Err(PricingError::Config(format!(
            "the plan has {total_messages} messages; estimates are limited to {MAX_PLAN_MESSAGES}"
        )));
    }
    let mut notes: Vec<String> = card.caveat().into_iter().collect();
    let mut by_tier: BTreeMap<(String, String, u32), (String, Sums)> = BTreeMap::new();
    let mut lines = Vec::new();
    let mut key = 0u64;
    for (li, line) in req.lines.iter().enumerate() {
        let at = |e: PricingError| PricingError::Config(format!("{}: {e}", line.origin));
        line.check_schedule()
            .map_err(|(field, e)| at(PricingError::Config(format!("{field}: {e}"))))?;
        let market = card.resolve_market(&line.market).map_err(at)?;
        let m = line.messages;
        let r = line.recipients.unwrap_or(m);
        if m > 0 && (r == 0 || r > m) {
            return Err(at(PricingError::Config(format!(
                "recipients ({r}) must be between 1 and messages ({m})"
            ))));
        }
        if u64::from(line.in_window.0) + u64::from(line.from_ads.0) > 1_000_000 {
            return Err(at(PricingError::Config(
                "in_window + from_ads must not exceed 1".into(),
            )));
        }
        let fep_users = line.from_ads.of(r);
        let csw_users = line.in_window.of(r).min(r - fep_users);
        let days = u64::from(line.days);
        // Before and after the recategorisation (one part without one).
        let change_day = line.recategorise.map_or(days, |c| u64::from(c.on_day));
        let mut parts = [Sums::default(), Sums::default()];
        let mut sent = 0u64;
        for day in 0..days {
            let after = day >= change_day;
            let category = match line.recategorise {
                Some(c) if after => c.to,
                _ => line.category,
            };
            let day_now = now.plus(day * 24 * MICROS_PER_HOUR);
            let md = m / days + u64::from(day < m % days);
            let sums = &mut parts[usize::from(after)];
            // The day's messages go round the audience from where the last day stopped.
            let first = sent % r.max(1);
            sent += md;
            for user in 0..r {
                let count = md / r + u64::from((user + r - first) % r < md % r);
                if count == 0 {
                    continue;
                }
                let recipient = format!("plan-{li}-{user}");
                let fep = user < fep_users;
                let csw = fep || user < fep_users + csw_users;
                for _ in 0..count {
                    key += 1;
                    let facts = MessageFacts {
                        message_key: key,
                        waba_id: 1,
                        phone_number_id: 1,
                        recipient: &recipient,
                        recipient_number: None,
                        market: Some(&market.name),
                        category,
                        csw_open: csw,
                        fep_open: fep,
                        delivered: true,
                    };
                    let c = pricer.price(day_now, &facts);
                    if let Some(why) = &c.unpriced {
                        return Err(at(PricingError::Config(format!("cannot price: {why}"))));
                    }
                    if let Some(n) = &c.note {
                        if !notes.contains(n) {
                            notes.push(n.clone());
                        }
                    }
                    sums.add(&c);
                    if let Some(t) = c.tier {
                        let key = (market.name.clone(), c.category.to_string(), t.index);
                        let label = format!(
                            "{} {} tier {} ({}, {} off)",
                            market.name,
                            c.category,
                            t.index,
                            t.band(),
                            t.discount
                        );
                        by_tier
                            .entry(key)
                            .or_insert((label, Sums::default()))
                            .1
                            .add(&c);
                    }
                }
            }
        }
        let [before, after] = parts;
        match line.recategorise {
            None => lines.push(LineResult {
                template: line.template.clone(),
                category: line.category,
                market: market.name.clone(),
                days: None,
                sums: before,
            }),
            Some(c) => {
                // `change_day` < `days` (checked): the second row is never empty of days.
                let span = |a: u64, b: u64| match b.checked_sub(1) {
                    Some(last) if a <= last => format!("{a}-{last}"),
                    _ => "none".to_string(),
                };
                lines.push(LineResult {
                    template: line.template.clone(),
                    category: line.category,
                    market: market.name.clone(),
                    days: Some(span(0, change_day)),
                    sums: before,
                });
                lines.push(LineResult {
                    template: line.template.clone(),
                    category: c.to,
                    market: market.name.clone(),
                    days: Some(span(change_day, days)),
                    sums: after,
                });
                notes.push(format!(
                    "{}: recategorised {} → {} on day {} (day 0 = {date}); priced at the category in force on each day",
                    line.template.as_deref().unwrap_or("(unnamed template)"),
                    line.category,
                    c.to,
                    c.on_day
                ));
            }
        }
    }
    if model == PricingModelId::Pmp2026_10 {
        if let Some(n) = req.options.free_service_messages_per_number {
            notes.push(format!(
                "first {n} service messages per phone number per month free: reported, unconfirmed by Meta"
            ));
        }
    }
    if !req.tiers.is_empty() {
        notes.push("volume tiers from your configuration (Meta does not publish them)".into());
    }
    let group = |f: &dyn Fn(&LineResult) -> String| -> Vec<Group> {
        let mut g: BTreeMap<String, Sums> = BTreeMap::new();
        for l in &lines {
            g.entry(f(l)).or_default().merge(&l.sums);
        }
        g.into_iter()
            .map(|(key, sums)| Group { key, sums })
            .collect()
    };
    let by_template = group(&|l| {
        l.template.clone().unwrap_or_else(|| {
            if l.category == Category::Service {
                "(free-form)".into()
            } else {
                "(unnamed)".into()
            }
        })
    });
    let by_category = group(&|l| l.category.wire().to_string());
    let by_market = group(&|l| l.market.clone());
    let mut total = Sums::default();
    for l in &lines {
        total.merge(&l.sums);
    }
    Ok(Estimate {
        model,
        card: card.name.clone(),
        card_effective_from: card.effective_from,
        date,
        currency: card.currency.clone(),
        decimals: card.decimals,
        lines,
        by_template,
        by_category,
        by_market,
        by_tier: by_tier
            .into_values()
            .map(|(key, sums)| Group { key, sums })
            .collect(),
        total,
        notes,
    })
}

// ---------------------------------------------------------------------------------------
// Plan files

/// One `[[send]]` table of a plan.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanSend {
    template: Option<String>,
    category: Spanned<String>,
    market: Option<Spanned<String>>,
    calling_code: Option<Spanned<String>>,
    messages: Spanned<u64>,
    in_window: Option<Spanned<Share>>,
    from_ads: Option<Spanned<Share>>,
    recipients: Option<Spanned<u64>>,
    days: Option<Spanned<u32>>,
    recategorise: Option<Spanned<PlanRecategorise>>,
}

/// `recategorise = { to = "marketing", on_day = 12 }` of a `[[send]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanRecategorise {
    to: Spanned<String>,
    on_day: Spanned<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    model: Option<Spanned<String>>,
    compare: Option<Vec<Spanned<String>>>,
    card: Option<Spanned<String>>,
    cards: Option<Vec<String>>,
    date: Option<Spanned<String>>,
    currency: Option<String>,
    rate_files: Option<Vec<String>>,
    markup: Option<Markup>,
    tiers: Option<BTreeMap<String, Vec<TierBand>>>,
    market_tiers: Option<BTreeMap<String, BTreeMap<String, Vec<TierBand>>>>,
    free_service_messages_per_number: Option<u32>,
    cbp_free_tier_per_month: Option<u32>,
    utc_offset_minutes: Option<i32>,
    #[serde(default)]
    send: Vec<Spanned<PlanSend>>,
}

/// A parsed plan: defaults for the estimate plus its lines.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub models: Vec<PricingModelId>,
    pub compare: Vec<PricingModelId>,
    pub cards: Vec<String>,
    pub date: Option<Date>,
    pub currency: Option<String>,
    /// Rate-card files, resolved against the plan's directory.
    pub rate_files: Vec<PathBuf>,
    pub markup: Option<Markup>,
    pub tiers: VolumeTiers,
    pub free_service_messages_per_number: Option<u32>,
    pub cbp_free_tier_per_month: Option<u32>,
    pub utc_offset_minutes: Option<i32>,
    pub lines: Vec<EstimateLine>,
}

/// `(line, column)`, 1-based, of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Plan {
    /// Reads a plan file.
    pub fn from_file(path: &Path) -> Result<Plan, PricingError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            PricingError::Config(format!("{}: cannot read plan: {e}", path.display()))
        })?;
        Plan::parse(&path.display().to_string(), &text, path.parent())
    }

    /// Parses plan text; `file` names it in errors, `base` resolves relative `rate_files`.
    pub fn parse(file: &str, text: &str, base: Option<&Path>) -> Result<Plan, PricingError> {
        let raw: PlanFile = toml::from_str(text).map_err(|e| {
            let pos = e
                .span()
                .map(|s| {
                    let (l, c) = line_col(text, s.start);
                    format!("{l}:{c}")
                })
                .unwrap_or_else(|| "?".into());
            PricingError::Config(format!("{file}:{pos}: {}", e.message()))
        })?;
        let at = |span: std::ops::Range<usize>, field: &str, msg: String| {
            let (l, c) = line_col(text, span.start);
            PricingError::Config(format!("{file}:{l}:{c}: field `{field}`: {msg}"))
        };
        let mut plan = Plan::default();
        if let Some(m) = &raw.model {
            plan.models
                .push(m.get_ref().parse().map_err(|e| at(m.span(), "model", e))?);
        }
        for m in raw.compare.iter().flatten() {
            plan.compare.push(
                m.get_ref()
                    .parse()
                    .map_err(|e| at(m.span(), "compare", e))?,
            );
        }
        if let Some(c) = &raw.card {
            plan.cards.push(c.get_ref().clone());
        }
        plan.cards.extend(raw.cards.iter().flatten().cloned());
        if let Some(d) = &raw.date {
            plan.date = Some(d.get_ref().parse().map_err(|e| at(d.span(), "date", e))?);
        }
        plan.currency = raw.currency;
        plan.rate_files = raw
            .rate_files
            .iter()
            .flatten()
            .map(|f| match base {
                Some(b) if Path::new(f).is_relative() => b.join(f),
                _ => PathBuf::from(f),
            })
            .collect();
        plan.markup = raw.markup;
        let column = |name: &str| {
            RateColumn::from_header(name).ok_or_else(|| {
                PricingError::Config(format!(
                    "{file}: tiers: unknown rate column `{name}` (utility, authentication, authentication_international, template, ...)"
                ))
            })
        };
        for (c, bands) in raw.tiers.into_iter().flatten() {
            plan.tiers.default.insert(column(&c)?, bands);
        }
        for (m, cols) in raw.market_tiers.into_iter().flatten() {
            let mut map = BTreeMap::new();
            for (c, bands) in cols {
                map.insert(column(&c)?, bands);
            }
            plan.tiers.per_market.insert(m, map);
        }
        plan.tiers
            .validate()
            .map_err(|e| PricingError::Config(format!("{file}: {e}")))?;
        plan.free_service_messages_per_number = raw.free_service_messages_per_number;
        plan.cbp_free_tier_per_month = raw.cbp_free_tier_per_month;
        plan.utc_offset_minutes = raw.utc_offset_minutes;
        for s in &raw.send {
            let span = s.span();
            let span_of_line = span.clone();
            let s = s.get_ref();
            let (l, c) = line_col(text, span.start);
            let category: Category = s
                .category
                .get_ref()
                .parse()
                .map_err(|e| at(s.category.span(), "category", e))?;
            if !category.is_sendable() {
                return Err(at(
                    s.category.span(),
                    "category",
                    format!("`{category}` is assigned by the pricing rules and cannot be planned"),
                ));
            }
            let (market, origin) = match (&s.market, &s.calling_code) {
                (Some(m), None) => {
                    let (ml, mc) = line_col(text, m.span().start);
                    (
                        m.get_ref().clone(),
                        format!("{file}:{ml}:{mc}: field `market`"),
                    )
                }
                (None, Some(cc)) => {
                    let digits = cc.get_ref().trim().trim_start_matches('+');
                    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(at(
                            cc.span(),
                            "calling_code",
                            format!("`{}` is not a calling code", cc.get_ref()),
                        ));
                    }
                    let (ml, mc) = line_col(text, cc.span().start);
                    (
                        digits.to_string(),
                        format!("{file}:{ml}:{mc}: field `calling_code`"),
                    )
                }
                _ => {
                    return Err(PricingError::Config(format!(
                        "{file}:{l}:{c}: [[send]] needs exactly one of `market` or `calling_code`"
                    )))
                }
            };
            if let Some(r) = &s.recipients {
                if *r.get_ref() == 0 || r.get_ref() > s.messages.get_ref() {
                    return Err(at(
                        r.span(),
                        "recipients",
                        format!("must be between 1 and messages ({})", s.messages.get_ref()),
                    ));
                }
            }
            let in_window = s.in_window.as_ref().map_or(Share::ZERO, |v| *v.get_ref());
            let from_ads = s.from_ads.as_ref().map_or(Share::ZERO, |v| *v.get_ref());
            if u64::from(in_window.0) + u64::from(from_ads.0) > 1_000_000 {
                let span = s.in_window.as_ref().map_or(span.clone(), |v| v.span());
                return Err(at(
                    span,
                    "in_window",
                    "in_window + from_ads must not exceed 1".into(),
                ));
            }
            let recategorise = match &s.recategorise {
                Some(r) => {
                    let r = r.get_ref();
                    let to: Category =
                        r.to.get_ref()
                            .parse()
                            .map_err(|e| at(r.to.span(), "recategorise.to", e))?;
                    Some(LineRecategorise {
                        to,
                        on_day: *r.on_day.get_ref(),
                    })
                }
                None => None,
            };
            let line = EstimateLine {
                template: s.template.clone(),
                category,
                market,
                messages: *s.messages.get_ref(),
                in_window,
                from_ads,
                recipients: s.recipients.as_ref().map(|r| *r.get_ref()),
                days: s.days.as_ref().map_or(1, |d| *d.get_ref()),
                recategorise,
                origin,
            };
            if let Err((field, e)) = line.check_schedule() {
                let span = match field {
                    "days" => s.days.as_ref().map(|d| d.span()),
                    "recategorise.to" => s.recategorise.as_ref().map(|r| r.get_ref().to.span()),
                    "recategorise.on_day" => {
                        s.recategorise.as_ref().map(|r| r.get_ref().on_day.span())
                    }
                    _ => s.recategorise.as_ref().map(|r| r.span()),
                };
                return Err(at(span.unwrap_or(span_of_line.clone()), field, e));
            }
            plan.lines.push(line);
        }
        if plan.lines.is_empty() {
            return Err(PricingError::Config(format!(
                "{file}: the plan has no [[send]] lines"
            )));
        }
        Ok(plan)
    }
}
