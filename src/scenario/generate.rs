//! `[[generate]]`: many client businesses from one pattern, so a BSP-sized world (50 clients in
//! three markets) is a dozen lines instead of fifty `[[businesses]]` blocks.
//!
//! A block expands into ordinary [`BusinessSpec`]s before validation, and the world is then
//! checked exactly as if they had been written by hand: duplicate ids against hand-written
//! businesses, template placeholders, display numbers. Only the field path of a problem is
//! renamed ([`name_problems`]) so that it says which generated business it is about.
//!
//! Everything is arithmetic on the block's keys, so the world can be read off the file: the
//! i-th business (0-based) has id `id_start + i`, its market is `markets[i % len]`, its WABA
//! id is the business id followed by `01`, and its k-th number (1-based) is the WABA id
//! followed by k on two digits. The one draw, `numbers_per_business = [min, max]`, is a hash of
//! the block's own `seed` and the business id, not of the scenario's `seed`: `run --seed` and
//! `serve --seed` change that one after the traffic plan was resolved against the world's
//! numbers, and the world must not change shape under the plan.

use crate::engine::audience::splitmix;
use crate::engine::ids::{BusinessId, PhoneNumberId, WabaId};
use crate::engine::validate::WorldError;
use crate::engine::world::{
    BspSpec, BusinessSpec, MessagingLimitTier, PhoneNumberSpec, TemplateSpec, WabaSpec,
};
use crate::pricing::countries::prefix_of_iso;
use serde::de::{self, Deserializer, IntoDeserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;

/// Most businesses one block, and all blocks together, may generate.
pub const MAX_BUSINESSES: u64 = 10_000;
/// Most phone numbers per generated business: the two digits a number id adds to its WABA's.
pub const MAX_NUMBERS_PER_BUSINESS: u32 = 99;
/// Most phone numbers all blocks together may generate.
pub const MAX_NUMBERS: u64 = 100_000;
/// Most templates a block copies into each WABA (the per-WABA cap of the API).
pub const MAX_TEMPLATES: usize = 250;
/// Most template copies all blocks together may generate (WABAs × templates).
pub const MAX_TEMPLATE_COPIES: u64 = 250_000;
/// Largest generated business id: its number ids add four digits and must fit in 19.
const MAX_BUSINESS_ID: u64 = 999_999_999_999_999;
/// What a name or token pattern may hold.
const PLACEHOLDERS: &str = "{n}, {i}, {id}, {country}";

/// `[[generate]]`: `count` client businesses, each with one WABA holding its numbers and a copy
/// of `templates`. See docs/scenario.md for an example.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    /// How many businesses: 1 to 10,000 (and 10,000 over all blocks).
    pub count: u64,
    /// Id of the first business; the others follow (`id_start + 1`, …). The last needs at most
    /// 15 digits, so that the derived WABA and number ids fit.
    pub id_start: BusinessId,
    /// Business name (also the WABA's and the numbers' verified name). Placeholders: `{n}`
    /// (1-based index), `{i}` (0-based), `{id}` (business id), `{country}`. Default
    /// "Client {n}".
    #[serde(default = "default_name")]
    pub name: String,
    /// ISO 3166 alpha-2 countries, one per business round-robin; repeat one to weight it
    /// (`["ID", "ID", "BR"]`). Default "ID".
    #[serde(default = "default_markets")]
    pub markets: OneOrList<String>,
    /// Verticals, round-robin. Default "retail".
    #[serde(default = "default_verticals")]
    pub verticals: OneOrList<String>,
    /// Messaging limit tiers, round-robin. Default "TIER_250".
    #[serde(default = "default_tiers")]
    pub messaging_limit: OneOrList<MessagingLimitTier>,
    /// Whether the businesses completed business verification.
    #[serde(default)]
    pub verified: bool,
    /// Access token pattern, one token per business; same placeholders as `name`, and it must
    /// hold `{n}`, `{i}` or `{id}` when `count` > 1. Default: no token (`simulate` needs none;
    /// the HTTP API then cannot act for these businesses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Phone numbers per business: a count, or `[min, max]` drawn per business from `seed`.
    /// 0 to 99. Default 1.
    #[serde(default)]
    pub numbers_per_business: NumbersPerBusiness,
    /// First display number per market (`{ ID = "+62 811-0000-0000" }`); the next numbers of
    /// that market count up from it, keeping its punctuation. Default "+{calling code} 800 000
    /// 0001". Blocks that share a start keep counting, so their numbers never repeat.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub display_number_start: BTreeMap<String, String>,
    /// Currency the WABAs are billed in. Default "USD".
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Messages per second of every number (default: the rules' throughput).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_mps: Option<u32>,
    /// Templates copied into every WABA (without `id`: each copy gets its own). At most 250.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplateSpec>,
    /// The provider every business is driven through.
    #[serde(default)]
    pub bsp: BspSpec,
    /// Seed of the `numbers_per_business = [min, max]` draw. Default 0.
    #[serde(default)]
    pub seed: u64,
}

fn default_name() -> String {
    "Client {n}".into()
}
fn default_markets() -> OneOrList<String> {
    OneOrList(vec!["ID".into()])
}
fn default_verticals() -> OneOrList<String> {
    OneOrList(vec!["retail".into()])
}
fn default_tiers() -> OneOrList<MessagingLimitTier> {
    OneOrList(vec![MessagingLimitTier::default()])
}
fn default_currency() -> String {
    "USD".into()
}

/// One value or a list of them, used round-robin: `"TIER_1K"` or `["TIER_1K", "TIER_10K"]`.
/// Parsed by hand rather than as an untagged enum, so a bad value keeps its own message
/// ("unknown variant `TIER_3K`") instead of "did not match any variant".
#[derive(Clone, Debug, PartialEq)]
pub struct OneOrList<T>(pub Vec<T>);

impl<T: Serialize> Serialize for OneOrList<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(s),
            all => all.serialize(s),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrList<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(|t| OneOrList(vec![t]))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(|t| OneOrList(vec![t]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(|t| OneOrList(vec![t]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(|t| OneOrList(vec![t]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(t) = seq.next_element()? {
                    out.push(t);
                }
                Ok(OneOrList(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for OneOrList<T> {
    fn schema_name() -> String {
        format!("OneOrList_{}", T::schema_name())
    }
    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            subschemas: Some(Box::new(schemars::schema::SubschemaValidation {
                any_of: Some(vec![
                    gen.subschema_for::<T>(),
                    gen.subschema_for::<Vec<T>>(),
                ]),
                ..Default::default()
            })),
            ..Default::default()
        }
        .into()
    }
}

/// `numbers_per_business`: a count, or `[min, max]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum NumbersPerBusiness {
    Count(u32),
    Range([u32; 2]),
}

impl Default for NumbersPerBusiness {
    fn default() -> Self {
        NumbersPerBusiness::Count(1)
    }
}

impl<'de> Deserialize<'de> for NumbersPerBusiness {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NumbersPerBusiness;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count or [min, max]")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(NumbersPerBusiness::Count)
                    .map_err(|_| E::custom(format!("{v} is not a count")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(NumbersPerBusiness::Count)
                    .map_err(|_| E::custom(format!("{v} is not a count")))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let two = "[min, max]: two counts";
                let lo: u32 = seq.next_element()?.ok_or_else(|| de::Error::custom(two))?;
                let hi: u32 = seq.next_element()?.ok_or_else(|| de::Error::custom(two))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(two));
                }
                Ok(NumbersPerBusiness::Range([lo, hi]))
            }
        }
        d.deserialize_any(V)
    }
}

/// The generated businesses of all blocks, where each came from, and what was wrong with the
/// blocks themselves (a block with a problem generates nothing, so one mistake is reported
/// once rather than once per business).
#[derive(Debug, Default)]
pub struct Expansion {
    pub businesses: Vec<BusinessSpec>,
    /// Per generated business: (block index, 0-based index in the block).
    pub origin: Vec<(usize, u64)>,
    pub problems: Vec<WorldError>,
}

/// Expands every block, in order. Deterministic: a pure function of the blocks.
pub fn expand(blocks: &[GenerateSpec]) -> Expansion {
    let mut x = Expansion::default();
    let mut totals = Totals::default();
    for (g, b) in blocks.iter().enumerate() {
        let field = |k: &str| format!("generate[{g}].{k}");
        let problems = check(b, &field);
        if !problems.is_empty() {
            x.problems.extend(problems);
            continue;
        }
        match block(b, g, &field, &mut totals) {
            Ok(businesses) => {
                x.origin
                    .extend((0..businesses.len() as u64).map(|i| (g, i)));
                x.businesses.extend(businesses);
            }
            Err(e) => x.problems.push(e),
        }
    }
    x
}

/// What the blocks so far generated, for the bounds over all blocks, and the next display
/// number offset per start (so blocks that share a start never repeat a number).
#[derive(Default)]
struct Totals {
    businesses: u64,
    numbers: u64,
    template_copies: u64,
    display: HashMap<String, u64>,
}

fn err(field: String, message: impl Into<String>) -> WorldError {
    WorldError {
        field,
        message: message.into(),
    }
}

/// The block's own problems: bounds, patterns, markets, display number starts.
fn check(b: &GenerateSpec, field: &dyn Fn(&str) -> String) -> Vec<WorldError> {
    let mut p = Vec::new();
    if !(1..=MAX_BUSINESSES).contains(&b.count) {
        p.push(err(
            field("count"),
            format!("{}: need 1 to {MAX_BUSINESSES} businesses", b.count),
        ));
    } else {
        let last = b.id_start.0.checked_add(b.count - 1);
        if b.id_start.0 == 0 {
            p.push(err(field("id_start"), "ids start at 1"));
        } else if last.is_none_or(|l| l > MAX_BUSINESS_ID) {
            p.push(err(
                field("id_start"),
                format!(
                    "the last business id, {} + {}, needs more than 15 digits; the WABA and number \
                     ids derived from it add 2 and 4 digits and must fit in 19",
                    b.id_start,
                    b.count - 1
                ),
            ));
        }
    }
    if let Err(m) = pattern(&b.name) {
        p.push(err(field("name"), m));
    } else if b.name.trim().is_empty() {
        p.push(err(field("name"), "empty name"));
    }
    if let Some(t) = &b.token {
        if let Err(m) = pattern(t) {
            p.push(err(field("token"), m));
        } else if t.trim().is_empty() {
            p.push(err(field("token"), "empty token"));
        } else if b.count > 1 && !["{n}", "{i}", "{id}"].iter().any(|k| t.contains(k)) {
            p.push(err(
                field("token"),
                format!(
                    "'{t}' would be the same token for every business: put {{n}} or {{id}} in it"
                ),
            ));
        }
    }
    let list_field = |k: &str, len: usize, i: usize| {
        if len == 1 {
            field(k)
        } else {
            field(&format!("{k}[{i}]"))
        }
    };
    let markets = &b.markets.0;
    if markets.is_empty() {
        p.push(err(field("markets"), "needs at least one country"));
    }
    for (i, m) in markets.iter().enumerate() {
        if m.len() != 2 || prefix_of_iso(m).is_none() || m.to_ascii_uppercase() != *m {
            p.push(err(
                list_field("markets", markets.len(), i),
                format!("'{m}' is not an ISO 3166 alpha-2 country wabasim knows (upper case)"),
            ));
        }
    }
    if b.verticals.0.is_empty() {
        p.push(err(field("verticals"), "needs at least one vertical"));
    }
    for (i, v) in b.verticals.0.iter().enumerate() {
        if v.trim().is_empty() {
            p.push(err(
                list_field("verticals", b.verticals.0.len(), i),
                "empty vertical",
            ));
        }
    }
    if b.messaging_limit.0.is_empty() {
        p.push(err(field("messaging_limit"), "needs at least one tier"));
    }
    let (lo, hi) = b.numbers_per_business.bounds();
    if lo > hi || hi > MAX_NUMBERS_PER_BUSINESS {
        p.push(err(
            field("numbers_per_business"),
            format!("need 0 <= min <= max <= {MAX_NUMBERS_PER_BUSINESS}"),
        ));
    }
    for (market, start) in &b.display_number_start {
        let f = field(&format!("display_number_start.{market}"));
        let Some(prefix) = markets
            .contains(market)
            .then(|| prefix_of_iso(market))
            .flatten()
        else {
            p.push(err(f, format!("'{market}' is not one of markets")));
            continue;
        };
        let digits: String = start.chars().filter(char::is_ascii_digit).collect();
        if !(5..=15).contains(&digits.len())
            || digits.starts_with('0')
            || !start
                .chars()
                .all(|c| c.is_ascii_digit() || "+-() .".contains(c))
        {
            p.push(err(
                f,
                format!("'{start}' is not a phone number (5 to 15 digits, not starting with 0)"),
            ));
        } else if !digits.starts_with(prefix) {
            p.push(err(f, format!("'{start}' is not in {market} (+{prefix})")));
        }
    }
    if b.templates.len() > MAX_TEMPLATES {
        p.push(err(
            field("templates"),
            format!(
                "{} templates; at most {MAX_TEMPLATES} per WABA",
                b.templates.len()
            ),
        ));
    }
    for (t, tpl) in b.templates.iter().enumerate() {
        if tpl.id.is_some() {
            p.push(err(
                field(&format!("templates[{t}].id")),
                "every copy of a generated template gets its own id: remove this one",
            ));
        }
    }
    p
}

impl NumbersPerBusiness {
    fn bounds(self) -> (u32, u32) {
        match self {
            NumbersPerBusiness::Count(n) => (n, n),
            NumbersPerBusiness::Range([lo, hi]) => (lo, hi),
        }
    }

    /// The count for business `id`: fixed, or a hash of (seed, id) in [min, max].
    fn draw(self, seed: u64, id: u64) -> u32 {
        let (lo, hi) = self.bounds();
        if hi <= lo {
            return lo;
        }
        let h = splitmix(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6E75_6D62);
        lo + (h % u64::from(hi - lo + 1)) as u32
    }
}

/// Checks `p` holds only known placeholders.
fn pattern(p: &str) -> Result<(), String> {
    let mut rest = p;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("'{{' without '}}' in '{p}'"));
        };
        let name = &after[..close];
        if !["n", "i", "id", "country"].contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}} (known: {PLACEHOLDERS})"
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// `p` with its placeholders filled for the business at 0-based index `i`.
fn fill(p: &str, i: u64, id: u64, country: &str) -> String {
    p.replace("{n}", &(i + 1).to_string())
        .replace("{i}", &i.to_string())
        .replace("{id}", &id.to_string())
        .replace("{country}", country)
}

/// `start` with its digits read as one number plus `offset`, every other character kept in
/// place ("+62 811-0000-0000" + 12 = "+62 811-0000-0012"); `None` past its digit count.
fn nth_display(start: &str, offset: u64) -> Option<String> {
    let digits: String = start.chars().filter(char::is_ascii_digit).collect();
    let width = digits.len();
    let n = digits.parse::<u64>().ok()?.checked_add(offset)?;
    let s = format!("{n:0width$}");
    if s.len() > width {
        return None;
    }
    let mut next = s.chars();
    Some(
        start
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    next.next().unwrap_or(c)
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// The businesses of a block that passed [`check`], or the bound over all blocks it crosses.
fn block(
    b: &GenerateSpec,
    g: usize,
    field: &dyn Fn(&str) -> String,
    totals: &mut Totals,
) -> Result<Vec<BusinessSpec>, WorldError> {
    let ids = (0..b.count).map(|i| b.id_start.0 + i);
    let counts: Vec<u32> = ids
        .clone()
        .map(|id| b.numbers_per_business.draw(b.seed, id))
        .collect();
    let numbers: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let copies = b.count * b.templates.len() as u64;
    let over = |what: &str, total: u64, max: u64| {
        format!("the [[generate]] blocks up to generate[{g}] make {total} {what}; at most {max}")
    };
    if totals.businesses + b.count > MAX_BUSINESSES {
        let total = totals.businesses + b.count;
        return Err(err(
            field("count"),
            over("businesses", total, MAX_BUSINESSES),
        ));
    }
    if totals.numbers + numbers > MAX_NUMBERS {
        let total = totals.numbers + numbers;
        return Err(err(
            field("numbers_per_business"),
            over("phone numbers", total, MAX_NUMBERS),
        ));
    }
    if totals.template_copies + copies > MAX_TEMPLATE_COPIES {
        let total = totals.template_copies + copies;
        return Err(err(
            field("templates"),
            over(
                "template copies (WABAs × templates)",
                total,
                MAX_TEMPLATE_COPIES,
            ),
        ));
    }
    totals.businesses += b.count;
    totals.numbers += numbers;
    totals.template_copies += copies;
    let markets = &b.markets.0;
    let mut out = Vec::with_capacity(b.count as usize);
    for ((i, id), n) in (0..b.count).zip(ids).zip(counts) {
        let market = &markets[(i % markets.len() as u64) as usize];
        let name = fill(&b.name, i, id, market);
        let prefix = prefix_of_iso(market).unwrap_or("");
        let start = match b.display_number_start.get(market) {
            Some(s) => s.clone(),
            None => format!("+{prefix} 800 000 0001"),
        };
        let key: String = start.chars().filter(char::is_ascii_digit).collect();
        let waba = id * 100 + 1;
        let mut phone_numbers = Vec::with_capacity(n as usize);
        for k in 1..=u64::from(n) {
            let offset = totals.display.entry(key.clone()).or_insert(0);
            let display = nth_display(&start, *offset).filter(|d| {
                let digits: String = d.chars().filter(char::is_ascii_digit).collect();
                digits.starts_with(prefix)
            });
            let Some(display) = display else {
                return Err(err(
                    field(&format!("display_number_start.{market}")),
                    format!("counting up from '{start}' leaves +{prefix} after {offset} numbers"),
                ));
            };
            *offset += 1;
            phone_numbers.push(PhoneNumberSpec {
                throughput_mps: b.throughput_mps,
                ..PhoneNumberSpec::new(PhoneNumberId(waba * 100 + k), &display, &name)
            });
        }
        let pick = |len: usize| (i % len as u64) as usize;
        out.push(BusinessSpec {
            country: market.clone(),
            vertical: b.verticals.0[pick(b.verticals.0.len())].clone(),
            verified: b.verified,
            tokens: b.token.iter().map(|t| fill(t, i, id, market)).collect(),
            messaging_limit: b.messaging_limit.0[pick(b.messaging_limit.0.len())],
            wabas: vec![WabaSpec {
                name: name.clone(),
                currency: b.currency.clone(),
                phone_numbers,
                templates: b.templates.clone(),
                ..WabaSpec::new(WabaId(waba))
            }],
            bsp: b.bsp.clone(),
            ..BusinessSpec::new(BusinessId(id), &name)
        });
    }
    Ok(out)
}

/// Renames the problems of generated businesses: `businesses[18].wabas[0].…` becomes
/// `generate[0] business n=18 (businesses[18]).wabas[0].…`, n being the block's `{n}`. The same
/// problem at the same place in several businesses of a block (a template copied into each)
/// is reported once, saying in how many more. `hand_written` businesses come first.
pub fn name_problems(
    problems: Vec<WorldError>,
    hand_written: usize,
    origin: &[(usize, u64)],
) -> Vec<WorldError> {
    let mut out: Vec<WorldError> = Vec::with_capacity(problems.len());
    // (block, path after the business, message) → (position in `out`, more).
    let mut seen: HashMap<(usize, String, String), (usize, u64)> = HashMap::new();
    for e in problems {
        let generated = e
            .field
            .strip_prefix("businesses[")
            .and_then(|r| r.split_once(']'))
            .and_then(|(k, rest)| Some((k.parse::<usize>().ok()?, rest)))
            .and_then(|(k, rest)| {
                let &(g, i) = origin.get(k.checked_sub(hand_written)?)?;
                Some((k, g, i, rest.to_string()))
            });
        let Some((k, g, i, rest)) = generated else {
            out.push(e);
            continue;
        };
        match seen.get_mut(&(g, rest.clone(), e.message.clone())) {
            Some((_, more)) => *more += 1,
            None => {
                seen.insert((g, rest.clone(), e.message.clone()), (out.len(), 0));
                out.push(WorldError {
                    field: format!("generate[{g}] business n={} (businesses[{k}]){rest}", i + 1),
                    message: e.message,
                });
            }
        }
    }
    for ((g, _, _), (at, more)) in seen {
        if more > 0 {
            let s = if more == 1 { "" } else { "es" };
            out[at].message += &format!(" (also in {more} more business{s} of generate[{g}])");
        }
    }
    out
}

#[cfg(test)]
#[path = "generate_tests.rs"]
mod tests;
