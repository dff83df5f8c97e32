//! Rate cards: loading, validation, market lookup and selection by name or date.
//!
//! A card is a CSV file with one row per market:
//!
//! ```text
//! market,calling_codes,marketing,utility,authentication,authentication_international,currency,unit,effective_from,source
//! Indonesia,62,0.0411,0.025,0.025,0.136,USD,per_message,2026-01-01,...
//! ```
//!
//! The header decides which rate columns a card has, so the same loader reads the reference
//! cards, the 2022 cards (`business_initiated`, `user_initiated`), the template-era card
//! (`template`) and cards with a `service` column. `calling_codes` is a space-separated list of
//! dialling prefixes; NANP exceptions are written with their area code (`1876` = Jamaica). An
//! empty list means the market is reachable by name only (the `Other` row catches every number
//! no prefix matches).

use super::countries;
use super::error::PricingError;
use super::money::Amount;
use super::name::Name;
use super::types::{Category, Date, PricingModelId, Unit};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A price column of a rate card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateColumn {
    Marketing,
    Utility,
    Authentication,
    AuthenticationInternational,
    Service,
    BusinessInitiated,
    UserInitiated,
    Template,
}

impl RateColumn {
    pub const ALL: [RateColumn; 8] = [
        RateColumn::Marketing,
        RateColumn::Utility,
        RateColumn::Authentication,
        RateColumn::AuthenticationInternational,
        RateColumn::Service,
        RateColumn::BusinessInitiated,
        RateColumn::UserInitiated,
        RateColumn::Template,
    ];

    pub fn header(self) -> &'static str {
        match self {
            RateColumn::Marketing => "marketing",
            RateColumn::Utility => "utility",
            RateColumn::Authentication => "authentication",
            RateColumn::AuthenticationInternational => "authentication_international",
            RateColumn::Service => "service",
            RateColumn::BusinessInitiated => "business_initiated",
            RateColumn::UserInitiated => "user_initiated",
            RateColumn::Template => "template",
        }
    }

    /// The column with this header name (`utility`, `authentication-international`, …).
    pub fn from_header(h: &str) -> Option<RateColumn> {
        let h = h.trim().to_ascii_lowercase().replace('-', "_");
        RateColumn::ALL.into_iter().find(|c| c.header() == h)
    }

    /// The column that prices a message or conversation of `category` (marketing lite pays
    /// marketing rates).
    pub fn for_category(category: Category) -> Option<RateColumn> {
        Some(match category {
            Category::Marketing | Category::MarketingLite => RateColumn::Marketing,
            Category::Utility => RateColumn::Utility,
            Category::Authentication => RateColumn::Authentication,
            Category::AuthenticationInternational => RateColumn::AuthenticationInternational,
            Category::Service => RateColumn::Service,
            Category::BusinessInitiated => RateColumn::BusinessInitiated,
            Category::UserInitiated => RateColumn::UserInitiated,
            Category::ReferralConversion => return None,
        })
    }
}

impl fmt::Display for RateColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header())
    }
}

/// How complete a card is, read from its `source` column: a source starting with `EXAMPLE`
/// marks an illustrative card, one starting with `PARTIAL` a card that lists only some markets;
/// anything else is a complete card (its confidence is in its `source` text and in
/// docs/pricing.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    Complete,
    Partial,
    Example,
}

/// One market row.
#[derive(Clone, Debug, Serialize)]
pub struct Market {
    pub name: String,
    /// `name` as the charges and ledger lines of this market carry it.
    #[serde(skip)]
    pub shared_name: Name,
    pub calling_codes: Vec<String>,
    /// The rate of each column (index: the column's position in [`RateColumn::ALL`]), `None`
    /// for an empty or `n/a` cell. Shown as a map of the columns that have a rate.
    #[serde(rename = "rates", serialize_with = "rates_as_map")]
    by_column: [Option<Amount>; RateColumn::ALL.len()],
    pub source: String,
    /// Line of the row in its file, for messages.
    pub line: u64,
}

impl Market {
    pub fn rate(&self, column: RateColumn) -> Option<Amount> {
        self.by_column[column as usize]
    }

    /// The columns that have a rate, in column order, with their rates.
    pub fn rates(&self) -> impl Iterator<Item = (RateColumn, Amount)> + '_ {
        RateColumn::ALL
            .into_iter()
            .filter_map(|c| self.rate(c).map(|a| (c, a)))
    }
}

fn rates_as_map<S: serde::Serializer>(
    rates: &[Option<Amount>; RateColumn::ALL.len()],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(
        RateColumn::ALL
            .into_iter()
            .filter_map(|c| rates[c as usize].map(|a| (c, a))),
    )
}

/// A validated rate card.
#[derive(Clone, Debug, Serialize)]
pub struct RateCard {
    pub name: String,
    pub currency: String,
    /// `name` and `currency` as the charges and ledger lines priced with this card carry them.
    #[serde(skip)]
    pub shared_name: Name,
    #[serde(skip)]
    pub shared_currency: Name,
    pub unit: Unit,
    pub effective_from: Date,
    pub provenance: Provenance,
    /// Columns present in the header.
    pub columns: Vec<RateColumn>,
    /// Most decimals written in any rate cell: amounts are printed with at least this many.
    pub decimals: u32,
    pub markets: Vec<Market>,
    /// Where the card came from: `embedded` or a file path.
    pub origin: String,
    #[serde(skip)]
    prefixes: BTreeMap<String, usize>,
    #[serde(skip)]
    max_prefix_len: usize,
    /// Prefixes of up to [`FAST_PREFIX_DIGITS`] digits as a flat table (index: the prefix's
    /// offset for its length plus its value; entry: market index + 1, 0 = none), so the market
    /// of a number is found with a few array reads on the send path instead of string
    /// comparisons. Longer prefixes stay in `prefixes` only.
    #[serde(skip)]
    prefix_table: Vec<u16>,
    #[serde(skip)]
    other: Option<usize>,
}

/// Prefix lengths held in [`RateCard::prefix_table`]: 10 + 100 + 1,000 + 10,000 entries (22 KB
/// per card) cover every calling code and NANP exception Meta lists.
const FAST_PREFIX_DIGITS: usize = 4;

/// Start of the entries for prefixes of `len` digits in the flat table (index = length).
const TABLE_OFFSET: [usize; FAST_PREFIX_DIGITS + 2] = [0, 0, 10, 110, 1_110, 11_110];

fn table_offset(len: usize) -> usize {
    TABLE_OFFSET[len]
}

fn build_prefix_table(prefixes: &BTreeMap<String, usize>) -> Vec<u16> {
    let mut t = vec![0u16; table_offset(FAST_PREFIX_DIGITS + 1)];
    for (code, &idx) in prefixes {
        if code.len() <= FAST_PREFIX_DIGITS {
            let v: usize = code.parse().expect("validated digits");
            t[table_offset(code.len()) + v] = u16::try_from(idx + 1).unwrap_or(0);
        }
    }
    t
}

const REQUIRED: [&str; 5] = [
    "market",
    "calling_codes",
    "currency",
    "unit",
    "effective_from",
];

impl RateCard {
    /// Parses and validates a card. `name` names it in errors and in `--card`.
    pub fn from_csv(name: &str, text: &str) -> Result<RateCard, PricingError> {
        Self::parse(name, name, text)
    }

    /// Reads a card from a file; the card is named after the file stem (`my-card.csv` →
    /// `my-card`) and errors name the path.
    pub fn from_file(path: &Path) -> Result<RateCard, PricingError> {
        let text = std::fs::read_to_string(path).map_err(|e| PricingError::Card {
            file: path.display().to_string(),
            line: 0,
            field: "-".into(),
            message: format!("cannot read file: {e}"),
        })?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("card")
            .to_string();
        let mut card = Self::parse(&name, &path.display().to_string(), &text)?;
        card.origin = path.display().to_string();
        Ok(card)
    }

    fn parse(name: &str, file: &str, text: &str) -> Result<RateCard, PricingError> {
        let err = |line: u64, field: &str, message: String| PricingError::Card {
            file: file.to_string(),
            line,
            field: field.to_string(),
            message,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = rdr
            .headers()
            .map_err(|e| err(1, "-", format!("cannot read header: {e}")))?
            .clone();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let mut columns = Vec::new();
        for (i, h) in headers.iter().enumerate() {
            let h = h.trim().to_ascii_lowercase();
            let known = REQUIRED.contains(&h.as_str()) || h == "source";
            let rate = RateColumn::from_header(&h);
            if !known && rate.is_none() {
                return Err(err(
                    1,
                    &h,
                    format!(
                        "unknown column (expected {}, source, and rate columns: {})",
                        REQUIRED.join(", "),
                        RateColumn::ALL.map(|c| c.header()).join(", ")
                    ),
                ));
            }
            if index.insert(h.clone(), i).is_some() {
                return Err(err(1, &h, "column appears twice".into()));
            }
            if let Some(c) = rate {
                columns.push(c);
            }
        }
        for r in REQUIRED {
            if !index.contains_key(r) {
                return Err(err(1, r, "required column is missing".into()));
            }
        }
        if columns.is_empty() {
            return Err(err(1, "-", "the card has no rate column".into()));
        }
        columns.sort();

        let mut markets: Vec<Market> = Vec::new();
        let mut prefixes: BTreeMap<String, usize> = BTreeMap::new();
        let mut currency: Option<String> = None;
        let mut unit: Option<Unit> = None;
        let mut effective: Option<Date> = None;
        let mut decimals = 0u32;
        let mut provenance = Provenance::Complete;
        for rec in rdr.records() {
            let rec = rec.map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                err(line, "-", format!("malformed CSV record: {e}"))
            })?;
            let line = rec.position().map(|p| p.line()).unwrap_or(0);
            let get = |f: &str| index.get(f).and_then(|&i| rec.get(i)).unwrap_or("").trim();
            let market = get("market");
            if market.is_empty() {
                return Err(err(line, "market", "market name is empty".into()));
            }
            if markets.iter().any(|m| m.name.eq_ignore_ascii_case(market)) {
                return Err(err(
                    line,
                    "market",
                    format!("market `{market}` is listed twice"),
                ));
            }
            let idx = markets.len();
            let mut codes = Vec::new();
            for code in get("calling_codes").split_whitespace() {
                let code = code.trim_start_matches('+');
                if code.is_empty() || code.len() > 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err(
                        line,
                        "calling_codes",
                        format!("`{code}` is not a calling code (digits, NANP exceptions with their area code)"),
                    ));
                }
                if let Some(&other) = prefixes.get(code) {
                    return Err(err(
                        line,
                        "calling_codes",
                        format!(
                            "calling code {code} already belongs to `{}`",
                            markets[other].name
                        ),
                    ));
                }
                prefixes.insert(code.to_string(), idx);
                codes.push(code.to_string());
            }
            let cur = get("currency").to_ascii_uppercase();
            if cur.len() != 3 || !cur.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(err(
                    line,
                    "currency",
                    format!("`{cur}` is not an ISO 4217 code"),
                ));
            }
            match &currency {
                None => currency = Some(cur),
                Some(c) if *c != cur => {
                    return Err(err(
                        line,
                        "currency",
                        format!(
                            "`{cur}` differs from `{c}` on earlier rows (one currency per card)"
                        ),
                    ))
                }
                _ => {}
            }
            let u: Unit = get("unit")
                .parse()
                .map_err(|e: String| err(line, "unit", e))?;
            match unit {
                None => unit = Some(u),
                Some(prev) if prev != u => {
                    return Err(err(line, "unit", "unit differs from earlier rows".into()))
                }
                _ => {}
            }
            let d: Date = get("effective_from")
                .parse()
                .map_err(|e: String| err(line, "effective_from", e))?;
            match effective {
                None => effective = Some(d),
                Some(prev) if prev != d => {
                    return Err(err(
                        line,
                        "effective_from",
                        format!("{d} differs from {prev} on earlier rows (one date per card)"),
                    ))
                }
                _ => {}
            }
            let mut by_column = [None; RateColumn::ALL.len()];
            for &c in &columns {
                let cell = get(c.header());
                if cell.is_empty() || cell.eq_ignore_ascii_case("n/a") {
                    continue;
                }
                let a = Amount::parse(cell).map_err(|e| err(line, c.header(), e.to_string()))?;
                if a.micros() < 0 {
                    return Err(err(line, c.header(), format!("rate `{cell}` is negative")));
                }
                if let Some((_, frac)) = cell.split_once('.') {
                    decimals = decimals.max(frac.len() as u32);
                }
                by_column[c as usize] = Some(a);
            }
            let source = get("source").to_string();
            let upper = source.to_ascii_uppercase();
            if upper.starts_with("EXAMPLE") {
                provenance = Provenance::Example;
            } else if upper.starts_with("PARTIAL") && provenance == Provenance::Complete {
                provenance = Provenance::Partial;
            }
            let shared_name = Name::try_new(market).ok_or_else(|| {
                err(
                    line,
                    "market",
                    format!(
                        "market name `{market}` is longer than {} bytes",
                        Name::CAPACITY
                    ),
                )
            })?;
            markets.push(Market {
                name: market.to_string(),
                shared_name,
                calling_codes: codes,
                by_column,
                source,
                line,
            });
        }
        let (Some(currency), Some(unit), Some(effective_from)) = (currency, unit, effective) else {
            return Err(err(2, "-", "the card has no market rows".into()));
        };
        let other = markets
            .iter()
            .position(|m| m.name.eq_ignore_ascii_case("other"));
        let max_prefix_len = prefixes.keys().map(String::len).max().unwrap_or(0);
        let prefix_table = build_prefix_table(&prefixes);
        let shared_name = Name::try_new(name).ok_or_else(|| {
            err(
                0,
                "-",
                format!(
                    "the card's name `{name}` is longer than {} bytes: rename the file",
                    Name::CAPACITY
                ),
            )
        })?;
        Ok(RateCard {
            name: name.to_string(),
            shared_name,
            shared_currency: Name::new(&currency),
            currency,
            unit,
            effective_from,
            provenance,
            columns,
            decimals: decimals.clamp(2, 6),
            markets,
            origin: "embedded".into(),
            prefixes,
            max_prefix_len,
            prefix_table,
            other,
        })
    }

    /// The market of a phone number (or bare calling code) by longest prefix: `+1 876 …` is
    /// Jamaica's "Rest of Latin America", `+1 212 …` is "North America". Numbers that match no
    /// prefix fall into `Other`, except on a partial card, where that would silently misprice
    /// a market the card simply does not list.
    pub fn market_for_number(&self, number: &str) -> Result<&Market, PricingError> {
        // The engine passes bare digits: look them up without copying.
        let plain =
            !number.is_empty() && number.len() <= 20 && number.bytes().all(|b| b.is_ascii_digit());
        let owned;
        let digits = if plain {
            number
        } else {
            owned = normalize_number(number)?;
            owned.as_str()
        };
        let top = self.max_prefix_len.min(digits.len());
        let fast = top.min(FAST_PREFIX_DIGITS);
        // The first `fast` digits as a number; dropping a digit is a division by ten.
        let mut v: usize = digits.as_bytes()[..fast]
            .iter()
            .fold(0, |a, b| a * 10 + (b - b'0') as usize);
        for k in (1..=top).rev() {
            let found = if k <= FAST_PREFIX_DIGITS {
                let e = self.prefix_table[table_offset(k) + v];
                v /= 10;
                (e > 0).then(|| e as usize - 1)
            } else {
                self.prefixes.get(&digits[..k]).copied()
            };
            if let Some(i) = found {
                return Ok(&self.markets[i]);
            }
        }
        if self.provenance == Provenance::Partial {
            return Err(PricingError::NotCovered {
                card: self.name.clone(),
                number: digits.to_string(),
            });
        }
        match self.other {
            Some(i) => Ok(&self.markets[i]),
            None => Err(PricingError::NoMarket {
                card: self.name.clone(),
                number: digits.to_string(),
            }),
        }
    }

    /// As [`Self::market_for_number`], for a number held as an integer (a wa_id): no text is
    /// built or parsed unless the card has prefixes longer than the fast table covers.
    pub fn market_for_wa(&self, number: u64) -> Result<&Market, PricingError> {
        self.market_span_for_wa(number)
            .map(|(i, _)| &self.markets[i])
    }

    /// The index in [`Self::markets`] of `number`'s market, and, when the fast table answered,
    /// the span `lo..hi` of numbers that certainly have the same market (the same length and
    /// the same leading digits, as many as the longest prefix), so that a caller can remember
    /// the answer for the numbers of one country without looking again.
    pub fn market_span_for_wa(
        &self,
        number: u64,
    ) -> Result<(usize, Option<(u64, u64)>), PricingError> {
        if self.max_prefix_len > FAST_PREFIX_DIGITS || number == 0 {
            let m = self.market_for_number(&number.to_string())?;
            let i = self
                .markets
                .iter()
                .position(|x| std::ptr::eq(x, m))
                .expect("the market is one of this card's");
            return Ok((i, None));
        }
        let digits = number.ilog10() as usize + 1;
        let top = self.max_prefix_len.min(digits);
        let scale = 10u64.pow((digits - top) as u32);
        let lead = number / scale;
        let span = Some((lead * scale, (lead + 1).saturating_mul(scale)));
        let mut v = lead as usize;
        for k in (1..=top).rev() {
            let e = self.prefix_table[table_offset(k) + v];
            if e > 0 {
                return Ok((e as usize - 1, span));
            }
            v /= 10;
        }
        if self.provenance == Provenance::Partial {
            return Err(PricingError::NotCovered {
                card: self.name.clone(),
                number: number.to_string(),
            });
        }
        match self.other {
            Some(i) => Ok((i, span)),
            None => Err(PricingError::NoMarket {
                card: self.name.clone(),
                number: number.to_string(),
            }),
        }
    }

    /// A market by its name in this card (case-insensitive).
    pub fn market_by_name(&self, name: &str) -> Option<&Market> {
        let name = name.trim();
        self.markets
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }

    /// Resolves what a user typed as a market: a market name of this card (`Indonesia`,
    /// `Rest of Africa`), an ISO country code (`ID`), a country name (`Jamaica`), or a calling
    /// code / number (`62`, `+1876`).
    pub fn resolve_market(&self, spec: &str) -> Result<&Market, PricingError> {
        if let Some(m) = self.market_by_name(spec) {
            return Ok(m);
        }
        let prefix = if spec.len() == 2 && spec.bytes().all(|b| b.is_ascii_alphabetic()) {
            countries::prefix_of_iso(spec)
        } else {
            countries::prefix_of_name(spec)
        };
        if let Some(p) = prefix {
            return self.market_for_number(p);
        }
        let t = spec.trim().trim_start_matches('+');
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return self.market_for_number(t);
        }
        Err(PricingError::UnknownMarket {
            spec: spec.to_string(),
            card: self.name.clone(),
            known: self
                .markets
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    pub fn has_column(&self, c: RateColumn) -> bool {
        self.columns.contains(&c)
    }

    /// Whether this card can price `model`, and if not why.
    pub fn check_supports(&self, model: PricingModelId) -> Result<(), PricingError> {
        let fail = |reason: String| {
            Err(PricingError::Incompatible {
                card: self.name.clone(),
                model,
                reason,
            })
        };
        if self.unit != model.unit() {
            return fail(format!(
                "the card is {} but the model charges {}",
                self.unit.card_name(),
                model.unit().card_name()
            ));
        }
        let needed: &[RateColumn] = match model {
            PricingModelId::TemplateEra => &[RateColumn::Template],
            PricingModelId::Cbp2022 => &[RateColumn::BusinessInitiated, RateColumn::UserInitiated],
            _ => &[RateColumn::Marketing],
        };
        for c in needed {
            if !self.has_column(*c) {
                return fail(format!("it has no `{c}` column"));
            }
        }
        Ok(())
    }

    /// The amount, in this card's currency, printed with the card's precision.
    pub fn fmt_amount(&self, a: Amount) -> String {
        a.format(self.decimals)
    }

    /// A one-line warning for example and partial cards, to print next to any estimate.
    pub fn caveat(&self) -> Option<String> {
        match self.provenance {
            Provenance::Complete => None,
            Provenance::Partial => Some(format!(
                "rate card `{}` is PARTIAL: only {} markets are known",
                self.name,
                self.markets.len()
            )),
            Provenance::Example => Some(format!(
                "rate card `{}` is an EXAMPLE built from fragments, not a published Meta card",
                self.name
            )),
        }
    }
}

fn normalize_number(number: &str) -> Result<String, PricingError> {
    let t = number.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || t.len() > 20 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PricingError::BadNumber(number.to_string()));
    }
    Ok(t.to_string())
}

/// The cards shipped with the binary (`data/rates/*.csv`).
pub const EMBEDDED_CARDS: &[(&str, &str)] = &[
    (
        "template-era-example",
        include_str!("../../data/rates/template-era-example.csv"),
    ),
    (
        "cbp-2022-eur",
        include_str!("../../data/rates/cbp-2022-eur.csv"),
    ),
    (
        "cbp-2024-10",
        include_str!("../../data/rates/cbp-2024-10.csv"),
    ),
    (
        "pmp-2025-07",
        include_str!("../../data/rates/pmp-2025-07.csv"),
    ),
    (
        "pmp-2025-10-inr",
        include_str!("../../data/rates/pmp-2025-10-inr.csv"),
    ),
    (
        "pmp-2026-01",
        include_str!("../../data/rates/pmp-2026-01.csv"),
    ),
    (
        "pmp-2026-07-eur",
        include_str!("../../data/rates/pmp-2026-07-eur.csv"),
    ),
    (
        "pmp-2026-10",
        include_str!("../../data/rates/pmp-2026-10.csv"),
    ),
];

/// A set of rate cards by name: the embedded ones plus any the user loads (a user card with an
/// embedded card's name replaces it).
#[derive(Clone, Debug, Default)]
pub struct RateBook {
    /// Shared so a pricer can keep the card of the day without a lookup per message.
    cards: BTreeMap<String, Arc<RateCard>>,
}

impl RateBook {
    /// An empty book (tests, or users who want only their own cards).
    pub fn empty() -> RateBook {
        RateBook::default()
    }

    /// The embedded cards. They are validated by the test suite, so a failure here is a build
    /// defect; it is still reported as an error rather than a panic.
    pub fn embedded() -> Result<RateBook, PricingError> {
        let mut book = RateBook::empty();
        for (name, text) in EMBEDDED_CARDS {
            book.insert(RateCard::from_csv(name, text)?);
        }
        Ok(book)
    }

    /// Adds or replaces a card.
    pub fn insert(&mut self, card: RateCard) {
        self.cards.insert(card.name.clone(), Arc::new(card));
    }

    pub fn get(&self, name: &str) -> Result<&RateCard, PricingError> {
        self.cards
            .get(name.trim())
            .map(|c| &**c)
            .ok_or_else(|| PricingError::UnknownCard {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    pub fn names(&self) -> Vec<&str> {
        self.cards.keys().map(String::as_str).collect()
    }

    pub fn cards(&self) -> impl Iterator<Item = &RateCard> {
        self.cards.values().map(|c| &**c)
    }

    /// A card by name, shared.
    pub fn get_shared(&self, name: &str) -> Option<Arc<RateCard>> {
        self.cards.get(name.trim()).cloned()
    }

    /// Cards able to price `model` in `currency` (or, with no currency given, in USD if any
    /// such card exists, else in any currency: Meta's reference currency is USD, but the only
    /// 2022 card we have is in EUR).
    fn candidates(&self, model: PricingModelId, currency: Option<&str>) -> Vec<&RateCard> {
        let ok: Vec<&RateCard> = self
            .cards
            .values()
            .map(|c| &**c)
            .filter(|c| c.check_supports(model).is_ok())
            .collect();
        match currency {
            Some(cur) => ok
                .into_iter()
                .filter(|c| c.currency.eq_ignore_ascii_case(cur))
                .collect(),
            None => {
                let usd: Vec<&RateCard> =
                    ok.iter().copied().filter(|c| c.currency == "USD").collect();
                if usd.is_empty() {
                    ok
                } else {
                    usd
                }
            }
        }
    }

    /// The card in effect on `date` for `model`: the latest compatible card whose effective
    /// date is on or before `date`. On the same date a complete card beats a partial one,
    /// which beats an example; then the name decides, so the choice is deterministic.
    pub fn select(
        &self,
        model: PricingModelId,
        date: Date,
        currency: Option<&str>,
    ) -> Result<&RateCard, PricingError> {
        let all = self.candidates(model, currency);
        all.iter()
            .copied()
            .filter(|c| c.effective_from <= date)
            .max_by_key(|c| {
                (
                    c.effective_from,
                    std::cmp::Reverse(c.provenance),
                    std::cmp::Reverse(c.name.clone()),
                )
            })
            .ok_or_else(|| PricingError::NoCard {
                model,
                date,
                currency: currency.map(|c| format!(" in {c}")).unwrap_or_default(),
                known: if all.is_empty() {
                    "none".into()
                } else {
                    all.iter()
                        .map(|c| format!("{} (from {})", c.name, c.effective_from))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }

    /// The card a simulation uses when the scenario names none (`card = "auto"`): the newest
    /// **complete** compatible card in effect on `date`; if none is in effect yet, the oldest
    /// complete one that takes effect later (e.g. `pmp-2026-01` for July–December 2025, for
    /// which only a six-row partial USD card is known); partial and example cards only when no
    /// complete card exists for the model at all (`template-era-example`). So the default
    /// prices every market instead of recording most messages as unpriced.
    pub fn select_auto(
        &self,
        model: PricingModelId,
        date: Date,
        currency: Option<&str>,
    ) -> Result<&RateCard, PricingError> {
        let all = self.candidates(model, currency);
        let complete: Vec<&RateCard> = all
            .iter()
            .copied()
            .filter(|c| c.provenance == Provenance::Complete)
            .collect();
        if complete.is_empty() {
            return self.select(model, date, currency);
        }
        let in_force = complete
            .iter()
            .copied()
            .filter(|c| c.effective_from <= date)
            .max_by(|a, b| {
                (a.effective_from, std::cmp::Reverse(&a.name))
                    .cmp(&(b.effective_from, std::cmp::Reverse(&b.name)))
            });
        Ok(in_force.unwrap_or_else(|| {
            complete
                .iter()
                .copied()
                .min_by(|a, b| (a.effective_from, &a.name).cmp(&(b.effective_from, &b.name)))
                .expect("non-empty")
        }))
    }

    /// The date a quick estimate for `model` uses when the user gives none: the effective date
    /// of the newest card that falls inside the model's period, or the model's first day.
    pub fn default_date(&self, model: PricingModelId, currency: Option<&str>) -> Date {
        self.candidates(model, currency)
            .iter()
            .map(|c| c.effective_from)
            .filter(|d| model.ends().is_none_or(|end| *d < end))
            .max()
            .map(|d| d.max(model.starts()))
            .unwrap_or_else(|| model.starts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> RateBook {
        RateBook::embedded().expect("embedded cards are valid")
    }

    #[test]
    fn market_of_an_integer_number_matches_the_text_lookup() {
        let b = book();
        for card in ["pmp-2026-01", "pmp-2026-10", "pmp-2025-07", "cbp-2024-10"] {
            let c = b.get(card).unwrap();
            for n in [
                6281300000001u64, // Indonesia
                18765550100,      // Jamaica: Rest of Latin America (4-digit prefix)
                14165550100,      // Canada: North America
                77012345678,      // Kazakhstan on 2026-10, Russia before
                85291234567,      // Hong Kong split in 2026
                2250700000000,    // Rest of Africa
                6761234567,       // Tonga: Other (or not covered on a partial card)
            ] {
                let text = c.market_for_number(&n.to_string()).map(|m| &m.name);
                let int = c.market_for_wa(n).map(|m| &m.name);
                match (text, int) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{card} {n}"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("{card} {n}: {a:?} vs {b:?}"),
                }
            }
        }
    }

    /// Every number inside the span a lookup reports has the market the text lookup gives
    /// (checked at the span's ends and inside, across prefixes of every length).
    #[test]
    fn numbers_inside_a_market_span_share_the_market() {
        let b = book();
        for card in ["pmp-2026-01", "pmp-2026-10", "cbp-2024-10"] {
            let c = b.get(card).unwrap();
            for n in [
                6281300000001u64,
                18765550100,
                14165550100,
                77012345678,
                85291234567,
            ] {
                let (i, span) = c.market_span_for_wa(n).unwrap();
                let (lo, hi) = span.expect("the fast table answers for these cards");
                assert!(lo <= n && n < hi, "{card} {n}");
                for m in [lo, lo + 1, (lo + hi) / 2, hi - 1] {
                    let text = c.market_for_number(&m.to_string()).unwrap();
                    assert_eq!(c.markets[i].name, text.name, "{card} {n} → {m}");
                }
            }
        }
    }

    #[test]
    fn embedded_cards_load() {
        let b = book();
        assert_eq!(b.names().len(), EMBEDDED_CARDS.len());
        let c = b.get("pmp-2026-01").unwrap();
        assert_eq!(c.markets.len(), 32);
        assert_eq!(c.currency, "USD");
        assert_eq!(c.decimals, 4);
        assert_eq!(c.provenance, Provenance::Complete);
        assert_eq!(
            b.get("pmp-2025-07").unwrap().provenance,
            Provenance::Partial
        );
        assert_eq!(
            b.get("template-era-example").unwrap().provenance,
            Provenance::Example
        );
        assert_eq!(b.get("pmp-2026-10").unwrap().markets.len(), 47);
        // Rates show as a map of the columns with a rate (the empty cells left out).
        let oct = b.get("pmp-2026-10").unwrap();
        let id = oct.market_by_name("Indonesia").unwrap();
        let json = serde_json::to_value(id).unwrap();
        let shown: Vec<&String> = json["rates"].as_object().unwrap().keys().collect();
        let columns: Vec<String> = id.rates().map(|(c, _)| c.to_string()).collect();
        assert_eq!(shown, columns.iter().collect::<Vec<_>>());
        assert!(id.rate(RateColumn::Authentication).is_none() && !columns.is_empty());
    }

    #[test]
    fn errors_name_line_and_field() {
        let text = "market,calling_codes,marketing,currency,unit,effective_from\n\
                    A,1,0.1,USD,per_message,2026-01-01\n\
                    B,2,abc,USD,per_message,2026-01-01\n";
        let e = RateCard::from_csv("t.csv", text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv:3: field `marketing`: `abc` is not a decimal number (expected digits with an optional `.` and sign)"
        );
        let dup = "market,calling_codes,marketing,currency,unit,effective_from\n\
                   A,1 44,0.1,USD,per_message,2026-01-01\n\
                   B,44,0.2,USD,per_message,2026-01-01\n";
        let e = RateCard::from_csv("d", dup).unwrap_err().to_string();
        assert!(e.starts_with("d:3: field `calling_codes`"), "{e}");
        let unknown = "market,calling_codes,marketting,currency,unit,effective_from\n";
        let e = RateCard::from_csv("u", unknown).unwrap_err().to_string();
        assert!(
            e.starts_with("u:1: field `marketting`: unknown column"),
            "{e}"
        );
        let mixed = "market,calling_codes,marketing,currency,unit,effective_from\n\
                     A,1,0.1,USD,per_message,2026-01-01\n\
                     B,2,0.1,EUR,per_message,2026-01-01\n";
        let e = RateCard::from_csv("m", mixed).unwrap_err().to_string();
        assert!(e.starts_with("m:3: field `currency`"), "{e}");
        let short = "market,calling_codes,marketing,currency,unit,effective_from\nA,1,0.1,USD\n";
        let e = RateCard::from_csv("s", short).unwrap_err().to_string();
        assert!(e.starts_with("s:2:"), "{e}");
        let neg = "market,calling_codes,marketing,currency,unit,effective_from\nA,1,-0.1,USD,per_message,2026-01-01\n";
        assert!(RateCard::from_csv("n", neg).is_err());
        let empty = "market,calling_codes,marketing,currency,unit,effective_from\n";
        assert!(RateCard::from_csv("e", empty).is_err());
        let long = "market,calling_codes,marketing,currency,unit,effective_from\n\
                    Rest of Central and Eastern Europe,7,0.1,USD,per_message,2026-01-01\n";
        let e = RateCard::from_csv("l", long).unwrap_err().to_string();
        assert!(e.starts_with("l:2: field `market`"), "{e}");
    }

    #[test]
    fn longest_prefix_and_nanp_exceptions() {
        let b = book();
        let c = b.get("pmp-2026-01").unwrap();
        let m = |n: &str| c.market_for_number(n).unwrap().name.clone();
        assert_eq!(m("12125550100"), "North America");
        assert_eq!(m("+18765550100"), "Rest of Latin America"); // Jamaica
        assert_eq!(m("18095550100"), "Rest of Latin America"); // Dominican Republic
        assert_eq!(m("17875550100"), "Rest of Latin America"); // Puerto Rico
        assert_eq!(m("12425550100"), "North America"); // Bahamas: not an exception in Meta's table
        assert_eq!(m("6281234567890"), "Indonesia");
        assert_eq!(m("2348012345678"), "Nigeria"); // 234, not 23x of Rest of Africa
        assert_eq!(m("85291234567"), "Rest of Asia Pacific");
        assert_eq!(m("2637712345678"), "Rest of Africa"); // Zimbabwe joined in 2025-10
        assert_eq!(m("35312345678"), "Rest of Western Europe");
        assert_eq!(m("81312345678"), "Rest of Asia Pacific");
        assert_eq!(m("9991234"), "Other");
        assert!(matches!(
            c.market_for_number("12a"),
            Err(PricingError::BadNumber(_))
        ));
        // Zimbabwe was "Other" on the 2024 card.
        let old = b.get("cbp-2024-10").unwrap();
        assert_eq!(old.market_for_number("263771234567").unwrap().name, "Other");
    }

    #[test]
    fn shared_codes_and_splits() {
        let b = book();
        let jan = b.get("pmp-2026-01").unwrap();
        let oct = b.get("pmp-2026-10").unwrap();
        // +7: Russia, Kazakhstan carved out on the 2026-10 card only.
        assert_eq!(jan.market_for_number("77012345678").unwrap().name, "Russia");
        assert_eq!(
            oct.market_for_number("77012345678").unwrap().name,
            "Kazakhstan"
        );
        assert_eq!(oct.market_for_number("74951234567").unwrap().name, "Russia");
        // Hong Kong left Rest of Asia Pacific in 2026.
        assert_eq!(
            oct.market_for_number("85291234567").unwrap().name,
            "Hong Kong"
        );
        assert_eq!(
            oct.market_for_number("21261234567").unwrap().name,
            "Morocco"
        );
        assert_eq!(
            jan.market_for_number("21261234567").unwrap().name,
            "Rest of Africa"
        );
    }

    #[test]
    fn partial_card_refuses_instead_of_guessing() {
        let b = book();
        let c = b.get("pmp-2025-07").unwrap();
        assert_eq!(
            c.market_for_number("5491112345678").unwrap().name,
            "Argentina"
        );
        assert!(matches!(
            c.market_for_number("919812345678"),
            Err(PricingError::NotCovered { .. })
        ));
        assert_eq!(c.market_by_name("other").unwrap().name, "Other");
    }

    #[test]
    fn resolve_market_specs() {
        let b = book();
        let c = b.get("pmp-2026-01").unwrap();
        let r = |s: &str| c.resolve_market(s).unwrap().name.clone();
        assert_eq!(r("ID"), "Indonesia");
        assert_eq!(r("indonesia"), "Indonesia");
        assert_eq!(r("62"), "Indonesia");
        assert_eq!(r("+62"), "Indonesia");
        assert_eq!(r("JM"), "Rest of Latin America");
        assert_eq!(r("US"), "North America");
        assert_eq!(r("Rest of Africa"), "Rest of Africa");
        assert_eq!(r("JP"), "Rest of Asia Pacific");
        assert!(matches!(
            c.resolve_market("Atlantis"),
            Err(PricingError::UnknownMarket { .. })
        ));
    }

    #[test]
    fn selection_by_date_and_boundaries() {
        let b = book();
        let d = |s: &str| s.parse::<Date>().unwrap();
        let pick = |m: PricingModelId, s: &str, cur: Option<&str>| {
            b.select(m, d(s), cur).map(|c| c.name.clone())
        };
        use PricingModelId::*;
        assert_eq!(pick(Pmp2025_07, "2025-12-31", None).unwrap(), "pmp-2025-07");
        assert_eq!(pick(Pmp2025_07, "2026-01-01", None).unwrap(), "pmp-2026-01");
        assert_eq!(pick(Pmp2026_10, "2026-09-30", None).unwrap(), "pmp-2026-01");
        assert_eq!(pick(Pmp2026_10, "2026-10-01", None).unwrap(), "pmp-2026-10");
        assert_eq!(
            pick(Pmp2025_07, "2026-07-01", Some("EUR")).unwrap(),
            "pmp-2026-07-eur"
        );
        assert!(pick(Pmp2025_07, "2026-06-30", Some("EUR")).is_err());
        assert_eq!(
            pick(Pmp2025_07, "2025-10-01", Some("INR")).unwrap(),
            "pmp-2025-10-inr"
        );
        assert!(pick(Pmp2025_07, "2025-06-30", None).is_err());
        assert_eq!(pick(Cbp2023, "2024-10-01", None).unwrap(), "cbp-2024-10");
        assert!(pick(Cbp2023, "2024-09-30", None).is_err());
        assert_eq!(pick(Cbp2022, "2022-02-01", None).unwrap(), "cbp-2022-eur");
        assert_eq!(
            pick(TemplateEra, "2020-01-01", None).unwrap(),
            "template-era-example"
        );
        assert_eq!(b.default_date(Pmp2025_07, None), d("2026-01-01"));
        assert_eq!(b.default_date(Cbp2023, None), d("2024-10-01"));
        assert_eq!(b.default_date(Pmp2026_10, None), d("2026-10-01"));
        assert_eq!(b.default_date(Cbp2022, None), d("2022-02-01"));
    }

    #[test]
    fn compatibility() {
        let b = book();
        assert!(b
            .get("cbp-2024-10")
            .unwrap()
            .check_supports(PricingModelId::Pmp2025_07)
            .is_err());
        assert!(b
            .get("pmp-2026-01")
            .unwrap()
            .check_supports(PricingModelId::Cbp2023)
            .is_err());
        assert!(b
            .get("pmp-2026-01")
            .unwrap()
            .check_supports(PricingModelId::TemplateEra)
            .is_err());
        assert!(b
            .get("cbp-2024-10")
            .unwrap()
            .check_supports(PricingModelId::Cbp2022)
            .is_err());
        assert!(b
            .get("cbp-2022-eur")
            .unwrap()
            .check_supports(PricingModelId::Cbp2022)
            .is_ok());
    }
}
