//! Exact money arithmetic.
//!
//! Rate cards quote prices with four decimals (USD 0.0411) and a load test multiplies them by
//! millions of messages. Binary floats drift (0.0411 has no exact `f64`), so every amount is an
//! integer count of **millionths** of the card's currency. Six decimals hold every published
//! rate exactly and leave room for percentage markups; an `i64` of millionths still holds
//! nine trillion currency units.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Millionths per currency unit.
pub const MICRO: i64 = 1_000_000;

/// An amount of money in millionths of a currency unit (the currency is carried alongside).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub i64);

/// Why a decimal string could not be read as an [`Amount`] or a [`Percent`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("empty number")]
    Empty,
    #[error("`{0}` is not a decimal number (expected digits with an optional `.` and sign)")]
    Syntax(String),
    #[error("`{0}` has more than {1} decimal places")]
    TooPrecise(String, u32),
    #[error("`{0}` is too large")]
    Overflow(String),
}

/// Parses a plain decimal (`-12.3456`) into an integer scaled by `10^scale`.
/// Rejects exponents, thousands separators and more than `scale` decimals rather than rounding:
/// a rate card that quotes seven decimals is something the user should hear about.
fn parse_scaled(s: &str, scale: u32) -> Result<i64, DecimalError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(DecimalError::Empty);
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    let digits_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !digits_ok(int_part)
        || !digits_ok(frac_part)
    {
        return Err(DecimalError::Syntax(t.to_string()));
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() as u32 > scale {
        return Err(DecimalError::TooPrecise(t.to_string(), scale));
    }
    let overflow = || DecimalError::Overflow(t.to_string());
    let mut value: i64 = 0;
    for b in int_part.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    value = value.checked_mul(10_i64.pow(scale)).ok_or_else(overflow)?;
    let mut frac: i64 = 0;
    for (i, b) in frac_trimmed.bytes().enumerate() {
        frac += i64::from(b - b'0') * 10_i64.pow(scale - 1 - i as u32);
    }
    value = value.checked_add(frac).ok_or_else(overflow)?;
    Ok(if neg { -value } else { value })
}

/// Formats `value / 10^scale` with at least `min_decimals` decimals and never fewer than needed
/// to show the exact value: totals print at the card's precision, but a markup that produced a
/// fifth decimal is shown rather than hidden by rounding.
fn format_scaled(value: i64, scale: u32, min_decimals: u32) -> String {
    let neg = value < 0;
    let abs = value.unsigned_abs();
    let unit = 10_u64.pow(scale);
    let int = abs / unit;
    let frac = abs % unit;
    let mut frac_s = format!("{:0width$}", frac, width = scale as usize);
    while frac_s.len() > min_decimals.min(scale) as usize && frac_s.ends_with('0') {
        frac_s.pop();
    }
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&int.to_string());
    if !frac_s.is_empty() {
        out.push('.');
        out.push_str(&frac_s);
    }
    out
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub fn from_micros(m: i64) -> Self {
        Amount(m)
    }
    pub fn micros(self) -> i64 {
        self.0
    }
    /// Parses a decimal string with up to six decimals, exactly.
    pub fn parse(s: &str) -> Result<Self, DecimalError> {
        parse_scaled(s, 6).map(Amount)
    }
    /// Exact decimal text with at least `min_decimals` decimals (up to six).
    pub fn format(self, min_decimals: u32) -> String {
        format_scaled(self.0, 6, min_decimals)
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
    /// Saturating: ledger totals must never wrap, and nine trillion units is far past any run.
    pub fn plus(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }
    pub fn minus(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }
    pub fn times(self, n: u64) -> Amount {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        Amount(self.0.saturating_mul(n))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(2))
    }
}

impl FromStr for Amount {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Amount::parse(s)
    }
}

/// Serialized as an exact decimal string (`"411.00"`, `"0.0411"`): JSON numbers are floats to
/// most readers, which would reintroduce the drift this type exists to avoid.
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.format(2))
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = DecimalInput::deserialize(d)?;
        v.to_text().parse().map_err(serde::de::Error::custom)
    }
}

/// A percentage, stored in millionths of the base (6% = 60,000), so four decimals of percent are
/// exact (`12.3456%`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(pub i64);

impl Percent {
    pub const ZERO: Percent = Percent(0);

    /// Parses a percentage written as a number of percent (`"6"`, `"15.5"`).
    pub fn parse(s: &str) -> Result<Self, DecimalError> {
        parse_scaled(s, 4).map(Percent)
    }
    /// `amount × percent`, rounded half away from zero to the nearest millionth.
    pub fn of(self, amount: Amount) -> Amount {
        // Most prices have no percentage, and most products fit 64 bits: no 128-bit division.
        if self.0 == 0 || amount.0 == 0 {
            return Amount::ZERO;
        }
        if let Some(p) = amount.0.checked_mul(self.0) {
            let (q, r) = (p / 1_000_000, p % 1_000_000);
            // |r| < 1e6, so doubling it cannot overflow.
            return Amount(if r.abs() * 2 >= 1_000_000 {
                q + p.signum()
            } else {
                q
            });
        }
        let p = i128::from(amount.0) * i128::from(self.0);
        let q = p / 1_000_000;
        let r = p % 1_000_000;
        let q = if r.abs() * 2 >= 1_000_000 {
            q + p.signum()
        } else {
            q
        };
        Amount(i64::try_from(q).unwrap_or(if q > 0 { i64::MAX } else { i64::MIN }))
    }
    /// The percentage as text, e.g. `"6"` or `"15.5"`.
    pub fn format(self) -> String {
        format_scaled(self.0, 4, 0)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.format())
    }
}

impl FromStr for Percent {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Percent::parse(s)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.format())
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = DecimalInput::deserialize(d)?;
        v.to_text().parse().map_err(serde::de::Error::custom)
    }
}

/// What a config file may write for a decimal: a string (exact) or a TOML/JSON number.
/// Floats are turned into their shortest round-trip text, so `0.001` stays `0.001`.
#[derive(Deserialize)]
#[serde(untagged)]
enum DecimalInput {
    Text(String),
    Int(i64),
    Float(f64),
}

impl DecimalInput {
    fn to_text(&self) -> String {
        match self {
            DecimalInput::Text(s) => s.clone(),
            DecimalInput::Int(i) => i.to_string(),
            DecimalInput::Float(f) => {
                let s = format!("{f}");
                if s.contains('e') || s.contains('E') {
                    format!("{f:.6}")
                } else {
                    s
                }
            }
        }
    }
}

/// A share between 0 and 1 (e.g. "30% of messages are replies inside the window"), in
/// millionths, so splitting a message count is integer arithmetic and therefore reproducible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Share(pub u32);

impl Share {
    pub const ZERO: Share = Share(0);
    pub const ONE: Share = Share(1_000_000);

    pub fn parse(s: &str) -> Result<Self, String> {
        let v = parse_scaled(s, 6).map_err(|e| e.to_string())?;
        if !(0..=1_000_000).contains(&v) {
            return Err(format!("share `{}` must be between 0 and 1", s.trim()));
        }
        Ok(Share(v as u32))
    }
    /// `n × share`, rounded half up.
    pub fn of(self, n: u64) -> u64 {
        ((u128::from(n) * u128::from(self.0) + 500_000) / 1_000_000) as u64
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_scaled(i64::from(self.0), 6, 0))
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = DecimalInput::deserialize(d)?;
        Share::parse(&v.to_text()).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// The JSON Schema of a type written as a string (the scenario schema shows amounts and
/// percentages as the strings a scenario file holds, not as their Rust layout).
fn string_schema(description: &str) -> schemars::schema::Schema {
    schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        metadata: Some(Box::new(schemars::schema::Metadata {
            description: Some(description.to_string()),
            ..Default::default()
        })),
        ..Default::default()
    }
    .into()
}

impl schemars::JsonSchema for Amount {
    fn schema_name() -> String {
        "Amount".into()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        string_schema("A decimal amount of money, e.g. \"0.0411\".")
    }
}

impl schemars::JsonSchema for Percent {
    fn schema_name() -> String {
        "Percent".into()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        string_schema("A percentage as a decimal string, e.g. \"12.5\".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(Amount::parse("0.0411").unwrap(), Amount(41_100));
        assert_eq!(Amount::parse("4.5293").unwrap(), Amount(4_529_300));
        assert_eq!(Amount::parse("1").unwrap(), Amount(1_000_000));
        assert_eq!(Amount::parse(".5").unwrap(), Amount(500_000));
        assert_eq!(Amount::parse("-0.001").unwrap(), Amount(-1_000));
        assert_eq!(Amount::parse("0.1234560").unwrap(), Amount(123_456));
        assert!(matches!(
            Amount::parse("0.1234567"),
            Err(DecimalError::TooPrecise(..))
        ));
        assert!(matches!(Amount::parse("1e3"), Err(DecimalError::Syntax(_))));
        assert!(matches!(Amount::parse("."), Err(DecimalError::Syntax(_))));
        assert!(matches!(Amount::parse(""), Err(DecimalError::Empty)));
        assert!(matches!(
            Amount::parse("99999999999999999999"),
            Err(DecimalError::Overflow(_))
        ));
    }

    #[test]
    fn formats_with_minimum_but_never_hides_digits() {
        assert_eq!(Amount(411_000_000).format(4), "411.0000");
        assert_eq!(Amount(41_100).format(4), "0.0411");
        assert_eq!(Amount(2_466).format(4), "0.002466");
        assert_eq!(Amount(-1_500_000).format(2), "-1.50");
        assert_eq!(Amount(5).format(0), "0.000005");
        assert_eq!(Amount(7_000_000).format(0), "7");
    }

    #[test]
    fn percent_rounds_half_away_from_zero() {
        let six = Percent::parse("6").unwrap();
        assert_eq!(six.0, 60_000);
        assert_eq!(six.of(Amount(41_100)), Amount(2_466));
        // 15.5% of 0.000003 = 0.000000465 -> 0
        assert_eq!(Percent::parse("15.5").unwrap().of(Amount(3)), Amount(0));
        // 50% of 0.000003 = 0.0000015 -> 0.000002
        assert_eq!(Percent::parse("50").unwrap().of(Amount(3)), Amount(2));
        assert_eq!(Percent::parse("50").unwrap().of(Amount(-3)), Amount(-2));
        assert_eq!(Percent::parse("12.5").unwrap().format(), "12.5");
        // Products past 64 bits take the 128-bit path and saturate like it.
        let half = Percent::parse("50").unwrap();
        assert_eq!(half.of(Amount(i64::MAX)), Amount(i64::MAX / 2 + 1));
        assert_eq!(
            Percent::parse("300").unwrap().of(Amount(i64::MAX)),
            Amount(i64::MAX)
        );
        assert_eq!(
            Percent::parse("300").unwrap().of(Amount(i64::MIN)),
            Amount(i64::MIN)
        );
    }

    /// The 64-bit shortcut gives what the 128-bit definition gives.
    #[test]
    fn percent_shortcut_equals_the_wide_arithmetic() {
        let wide = |a: i64, p: i64| {
            let x = i128::from(a) * i128::from(p);
            let (q, r) = (x / 1_000_000, x % 1_000_000);
            let q = if r.abs() * 2 >= 1_000_000 {
                q + x.signum()
            } else {
                q
            };
            Amount(i64::try_from(q).unwrap_or(if q > 0 { i64::MAX } else { i64::MIN }))
        };
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let a = (x as i64) >> (x % 50);
            let p = ((x >> 20) as i64 % 2_000_000) - 500_000;
            assert_eq!(Percent(p).of(Amount(a)), wide(a, p), "{a} {p}");
        }
    }

    #[test]
    fn share_splits_reproducibly() {
        let s = Share::parse("0.3").unwrap();
        assert_eq!(s.of(10), 3);
        assert_eq!(Share::parse("0.25").unwrap().of(10), 3); // 2.5 rounds up
        assert_eq!(Share::ONE.of(7), 7);
        assert!(Share::parse("1.5").is_err());
        assert!(Share::parse("-0.1").is_err());
    }
}
