//! Daily rhythms: the open-model rate shaped by the recipients' local hour and weekday.
//!
//! Real WhatsApp traffic follows the audience's day: quiet at night, a morning climb, a peak at
//! lunch or in the evening, less at the weekend. A steady `rate` hides what that does to a
//! server (the night's backlog, the morning ramp, the peak hour's throttling), so a phase may
//! multiply its rate by a factor per local hour and per local weekday:
//!
//! ```toml
//! # weekdays: Monday … Sunday. An inline table may break lines only inside its arrays.
//! rhythm = { timezone = "+07:00", weekdays = [1, 1, 1, 1, 1, 0.8, 0.6], hours = [
//!     0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 0.9, 1.2, 1.4, 1.5, 1.5,  # 00:00 … 11:00
//!     1.4, 1.4, 1.5, 1.5, 1.4, 1.3, 1.3, 1.2, 1.0, 0.8, 0.5, 0.3,  # 12:00 … 23:00
//! ] }
//! ```
//!
//! `r(t) = base(t) × hours[local hour] × weekdays[local weekday]`. [`apply_rhythm`] applies the
//! factors to the phase's [`RateProfile`] by splitting its segments at local hour boundaries, so
//! the result is still piecewise linear and [`crate::traffic::schedule`] places arrivals (even or
//! Poisson) exactly as without a rhythm: the expected count over any window is still
//! Λ(end) − Λ(start).
//!
//! Time zones are fixed UTC offsets, without daylight saving time, on purpose: the largest
//! WhatsApp markets (India, Indonesia, Brazil since 2019, Mexico since 2022, most of Africa, the
//! Gulf) have no DST; a load test spans hours or days, not the months between two clock changes;
//! and following DST would need the tz database (a dependency whose answers change with each
//! political decision) to avoid a one-hour error that a user in a DST market corrects by writing
//! the summer offset. [`utc_offset_of_country`] gives one representative standard offset per
//! country code of [`crate::pricing::countries::COUNTRIES`].
//!
//! Everything here is pure: no clock is read, time is the phase's absolute start ([`SimTime`],
//! µs since the Unix epoch) plus µs since that start.

use serde::{Deserialize, Serialize};

use crate::clock::{Micros, SimTime, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_SEC};
use crate::traffic::schedule::{RateProfile, RateSegment};

/// The furthest [`apply_rhythm`] splits a profile into hourly pieces: 400 days, 9,600 segments.
/// A bound so that a phase limited only by `messages` at a low rate cannot make an unbounded
/// profile; 400 days covers any real test (and a year's weekly pattern) with room to spare.
pub const MAX_HORIZON: Micros = 400 * MICROS_PER_DAY;

/// The largest hour or weekday factor [`Rhythm::validate`] accepts. Factors are multipliers of
/// the phase rate (1 = the rate as written), not message counts: this catches hourly volumes
/// typed in by mistake (`hours = [1200, 800, …]`) and keeps every product finite.
pub const MAX_FACTOR: f64 = 1000.0;

/// The largest UTC offset accepted, in seconds: ±14:00 (Kiribati's Line Islands are +14:00),
/// the same bound as `[pricing] utc_offset_minutes`.
pub const MAX_UTC_OFFSET: i32 = 14 * 3600;

/// `rhythm = { … }`: factors of the phase rate by local hour and weekday.
///
/// Each key is optional: without `hours` every hour is 1, without `weekdays` every day is 1,
/// without `timezone` the caller's default applies (see [`Rhythm::utc_offset`]). A `profile`
/// supplies `hours` and `weekdays` that the table's own keys then replace one by one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rhythm {
    /// A named shape: `"business-hours"` or `"evening-peak"`. Its factors peak at 1, so the
    /// phase rate is the peak-hour rate and the rhythm only lowers it. `hours` or `weekdays` set
    /// here replace the preset's.
    #[serde(default)]
    pub profile: Option<RhythmPreset>,
    /// 24 factors of the rate by local hour, hour 0 (00:00–00:59) first. Each finite, ≥ 0 and
    /// ≤ 1000; not all 0. Default: all 1 (or the `profile`'s).
    #[serde(default)]
    pub hours: Option<Vec<f64>>,
    /// 7 factors of the rate by local weekday, Monday first. Each finite, ≥ 0 and ≤ 1000; not
    /// all 0. Default: all 1 (or the `profile`'s).
    #[serde(default)]
    pub weekdays: Option<Vec<f64>>,
    /// The audience's fixed UTC offset: `"+07:00"`, `"-03:00"`, `"+05:30"`, `"+7"`,
    /// `"UTC+07:00"` or `"UTC"`. No daylight saving time. Default: chosen by the caller (UTC
    /// unless it knows the audience's country).
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Named rhythm shapes. Illustrative shapes of typical traffic, not measurements: write `hours`
/// and `weekdays` from your own traffic when you have it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RhythmPreset {
    /// Transactional B2C traffic of office hours (order updates, OTPs, support): near 0 from
    /// midnight to 05:00, full from 09:00 to 17:00 with a lunch dip, fading through the
    /// evening; Saturday 0.5, Sunday 0.3.
    BusinessHours,
    /// Consumer conversations and marketing read in free time: low at night, a slow rise
    /// through the day, full from 20:00 to 22:00; every weekday alike.
    EveningPeak,
}

const BUSINESS_HOURS: [f64; 24] = [
    0.05, 0.03, 0.02, 0.02, 0.03, 0.05, 0.15, 0.35, 0.7, 0.95, 1.0, 1.0, //
    0.85, 0.9, 1.0, 1.0, 0.95, 0.8, 0.55, 0.35, 0.25, 0.18, 0.12, 0.08,
];
const BUSINESS_WEEKDAYS: [f64; 7] = [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.3];
const EVENING_HOURS: [f64; 24] = [
    0.35, 0.2, 0.1, 0.06, 0.05, 0.07, 0.15, 0.3, 0.4, 0.45, 0.5, 0.55, //
    0.6, 0.55, 0.55, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 0.85, 0.6,
];

impl RhythmPreset {
    /// The preset's factors.
    pub fn curve(self) -> RhythmCurve {
        match self {
            RhythmPreset::BusinessHours => RhythmCurve {
                hours: BUSINESS_HOURS,
                weekdays: BUSINESS_WEEKDAYS,
            },
            RhythmPreset::EveningPeak => RhythmCurve {
                hours: EVENING_HOURS,
                weekdays: [1.0; 7],
            },
        }
    }
}

/// A validated rhythm's factors, fixed-size so that looking one up cannot fail.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RhythmCurve {
    /// By local hour, 0 first.
    pub hours: [f64; 24],
    /// By local weekday, Monday first.
    pub weekdays: [f64; 7],
}

/// A local wall-clock hour: what a rhythm's factor depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalHour {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    /// 0 … 23.
    pub hour: u8,
}

impl RhythmCurve {
    /// Every factor 1: the base rate unchanged.
    pub const FLAT: RhythmCurve = RhythmCurve {
        hours: [1.0; 24],
        weekdays: [1.0; 7],
    };

    /// The factor in force during a local hour: `hours[hour] × weekdays[weekday]`.
    pub fn factor(&self, local: LocalHour) -> f64 {
        let h = self.hours.get(usize::from(local.hour)).copied();
        let d = self.weekdays.get(usize::from(local.weekday)).copied();
        h.unwrap_or(1.0) * d.unwrap_or(1.0)
    }

    /// The factor in force at an absolute instant for an audience at `utc_offset_secs`.
    pub fn factor_at(&self, at: SimTime, utc_offset_secs: i32) -> f64 {
        self.factor(local_hour(at, utc_offset_secs))
    }

    /// The largest factor of any hour of the week, so a caller can bound the peak rate
    /// (base peak × this) the way it bounds a plain `rate`.
    pub fn max_factor(&self) -> f64 {
        let h = self.hours.iter().copied().fold(0.0, f64::max);
        let d = self.weekdays.iter().copied().fold(0.0, f64::max);
        h * d
    }
}

impl Rhythm {
    /// Checks every key, with messages naming the key (`hours[3] must be …`, `timezone "+25:00":
    /// …`) for the caller to prefix with the table's path.
    pub fn validate(&self) -> Result<(), String> {
        self.curve()?;
        self.utc_offset()?;
        Ok(())
    }

    /// The factors: the preset's (or all 1) replaced by `hours` and `weekdays` when set.
    pub fn curve(&self) -> Result<RhythmCurve, String> {
        let mut curve = self.profile.map_or(RhythmCurve::FLAT, RhythmPreset::curve);
        if let Some(h) = &self.hours {
            curve.hours = factors("hours", h, "local hours 0 to 23")?;
        }
        if let Some(d) = &self.weekdays {
            curve.weekdays = factors("weekdays", d, "Monday to Sunday")?;
        }
        Ok(curve)
    }

    /// The `timezone` in seconds east of UTC; `None` when not set, so the caller picks the
    /// default (UTC, or [`utc_offset_of_country`] of the audience's market).
    pub fn utc_offset(&self) -> Result<Option<i32>, String> {
        self.timezone.as_deref().map(parse_utc_offset).transpose()
    }
}

/// Checks N factors: exactly N, each finite, ≥ 0 and ≤ [`MAX_FACTOR`], not all 0 (a rhythm that
/// is 0 everywhere would silently send nothing).
fn factors<const N: usize>(key: &str, values: &[f64], what: &str) -> Result<[f64; N], String> {
    let out: [f64; N] = values.try_into().map_err(|_| {
        format!(
            "{key} must have exactly {N} values ({what}), got {}",
            values.len()
        )
    })?;
    for (i, v) in out.iter().enumerate() {
        if !v.is_finite() || *v < 0.0 {
            return Err(format!("{key}[{i}] must be a finite factor ≥ 0 (got {v})"));
        }
        if *v > MAX_FACTOR {
            return Err(format!(
                "{key}[{i}] is {v}, more than {MAX_FACTOR}: factors multiply the phase rate \
                 (1 = the rate as written), they are not message counts"
            ));
        }
    }
    if out.iter().all(|v| *v == 0.0) {
        return Err(format!("{key} are all 0, so no message would ever be sent"));
    }
    Ok(out)
}

/// Parses a fixed UTC offset into seconds east of UTC: `"UTC"` or `"Z"` (0), `"+07:00"`,
/// `"-03:00"`, `"+05:30"`, `"+7"`, `"+0530"`, optionally after `"UTC"` or `"GMT"`
/// (`"UTC+07:00"`). At most ±14:00, minutes below 60. Time zone names (`"Asia/Jakarta"`) are
/// refused: they imply DST rules this model does not follow.
pub fn parse_utc_offset(text: &str) -> Result<i32, String> {
    let bad = |why: &str| {
        Err(format!(
            "timezone {text:?}: {why} (expected a fixed offset such as \"+07:00\", \"-03:00\", \
             \"+05:30\" or \"UTC\")"
        ))
    };
    let upper = text.trim().to_ascii_uppercase();
    if upper.is_empty() {
        return bad("empty");
    }
    let rest = upper
        .strip_prefix("UTC")
        .or_else(|| upper.strip_prefix("GMT"))
        .unwrap_or(&upper);
    if rest.is_empty() || rest == "Z" {
        return Ok(0);
    }
    let (sign, digits) = if let Some(d) = rest.strip_prefix('+') {
        (1, d)
    } else if let Some(d) = rest.strip_prefix('-') {
        (-1, d)
    } else {
        return bad("no sign: write + or - before the hours (time zone names are not supported)");
    };
    let (hh, mm) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        // "+0530": only split once the text is known to be ASCII digits (no char boundary issue).
        None if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.split_at(2)
        }
        None => (digits, "00"),
    };
    let num = |part: &str| -> Option<i32> {
        let ok = (1..=2).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| part.parse().ok()).flatten()
    };
    let (Some(h), Some(m)) = (num(hh), num(mm)) else {
        return bad("hours and minutes must be one or two digits");
    };
    if m >= 60 {
        return bad("minutes must be below 60");
    }
    let secs = sign * (h * 3600 + m * 60);
    if secs.abs() > MAX_UTC_OFFSET {
        return bad("offsets run from -14:00 to +14:00");
    }
    Ok(secs)
}

/// The local hour and weekday at an absolute instant for an audience `utc_offset_secs` east of
/// UTC. Works for any offset and instant (i128 arithmetic; before the epoch too), so no input
/// can make it panic.
pub fn local_hour(at: SimTime, utc_offset_secs: i32) -> LocalHour {
    let hour_index = local_micros(at, 0, utc_offset_secs).div_euclid(i128::from(MICROS_PER_HOUR));
    let day = hour_index.div_euclid(24);
    LocalHour {
        // 1970-01-01 was a Thursday: day 0 is weekday 3 when Monday is 0.
        weekday: (day + 3).rem_euclid(7) as u8,
        hour: hour_index.rem_euclid(24) as u8,
    }
}

/// Local wall-clock time in µs since the local epoch at `t` µs after `start`.
fn local_micros(start: SimTime, t: Micros, utc_offset_secs: i32) -> i128 {
    i128::from(start.0) + i128::from(t) + i128::from(utc_offset_secs) * i128::from(MICROS_PER_SEC)
}

/// The first local hour boundary strictly after `t` µs since `start`, in µs since `start`.
fn next_hour_boundary(start: SimTime, t: Micros, utc_offset_secs: i32) -> Micros {
    let hour = i128::from(MICROS_PER_HOUR);
    let local = local_micros(start, t, utc_offset_secs);
    let boundary = (local.div_euclid(hour) + 1) * hour;
    let since_start = boundary - local_micros(start, 0, utc_offset_secs);
    u64::try_from(since_start).unwrap_or(u64::MAX)
}

/// The rate of one segment at `t` inside `[start, end]`, exact at both ends (so pieces cut from
/// a segment meet where the segment did).
fn seg_rate(s: &RateSegment, t: Micros) -> f64 {
    if t <= s.start || s.end == u64::MAX || s.r0 == s.r1 {
        return s.r0;
    }
    if t >= s.end {
        return s.r1;
    }
    s.r0 + (s.r1 - s.r0) * ((t - s.start) as f64 / (s.end - s.start) as f64)
}

/// Shapes a phase's rate by a rhythm: r(t) = base(t) × `curve`'s factor of the local hour at
/// `phase_start + t`, for an audience `utc_offset_secs` east of UTC.
///
/// Each base segment is cut at every local hour boundary before `horizon` (µs since the phase
/// start; the phase length, capped at [`MAX_HORIZON`]); within an hour the factor is constant,
/// so every piece stays linear and Λ stays exact. Neighbouring pieces of one base segment with
/// the same factor are merged, so a flat rhythm returns the base profile itself and a rhythm
/// that varies only by weekday adds one segment per day, not per hour.
///
/// From `horizon` on, the base profile continues multiplied by the factor of the hour holding
/// `horizon`, frozen, the last segment still unbounded: the schedule stops at the phase end
/// anyway, and a horizon at the phase end keeps the profile short. Pass the phase `duration`
/// when there is one; for a phase bounded only by `messages`, [`MAX_HORIZON`].
pub fn apply_rhythm(
    base: &RateProfile,
    curve: &RhythmCurve,
    phase_start: SimTime,
    utc_offset_secs: i32,
    horizon: Micros,
) -> RateProfile {
    let horizon = horizon.min(MAX_HORIZON);
    let factor_at = |t: Micros| curve.factor_at(phase_start.plus(t), utc_offset_secs);
    let frozen = factor_at(horizon);
    let mut out = Pieces::default();
    for (i, s) in base.segments().iter().enumerate() {
        let mut t = s.start;
        while t < s.end.min(horizon) {
            let next = next_hour_boundary(phase_start, t, utc_offset_secs)
                .min(s.end)
                .min(horizon);
            out.push(i, factor_at(t), s, t, next);
            t = next;
        }
        if s.end > horizon {
            out.push(i, frozen, s, t.max(horizon), s.end);
        }
    }
    RateProfile::from_segments(out.segs)
}

/// The output of [`apply_rhythm`] under construction, merging pieces as they come.
#[derive(Default)]
struct Pieces {
    segs: Vec<RateSegment>,
    /// For the last piece: the base segment it was cut from and the factor applied.
    last: Option<(usize, f64)>,
}

impl Pieces {
    /// Adds `[from, to)` of base segment `s` (index `i`) scaled by `factor`. Merging needs the
    /// same base segment (pieces of one line are collinear) and the bit-identical factor.
    fn push(&mut self, i: usize, factor: f64, s: &RateSegment, from: Micros, to: Micros) {
        if to <= from {
            return;
        }
        let r1 = seg_rate(s, to) * factor;
        if let (Some((li, lf)), Some(prev)) = (self.last, self.segs.last_mut()) {
            if li == i && lf.to_bits() == factor.to_bits() && prev.end == from {
                prev.end = to;
                prev.r1 = r1;
                return;
            }
        }
        self.segs.push(RateSegment {
            start: from,
            end: to,
            r0: seg_rate(s, from) * factor,
            r1,
        });
        self.last = Some((i, factor));
    }
}

/// Seconds east of UTC from hours and minutes, for the table below.
const fn hm(h: i32, m: i32) -> i32 {
    if h < 0 {
        h * 3600 - m * 60
    } else {
        h * 3600 + m * 60
    }
}

/// ISO 3166 alpha-2 → one representative fixed UTC offset (seconds east), for every code of
/// [`crate::pricing::countries::COUNTRIES`], sorted by code.
///
/// Countries spanning several zones get their most populous zone's standard offset: the US and
/// Canada Eastern (−05:00), Brazil Brasília (−03:00), Mexico Central (−06:00), Russia Moscow
/// (+03:00), Australia Eastern (+10:00), Indonesia WIB (+07:00), DR Congo Central Africa
/// (+02:00, Kasai, Katanga and Kivu outnumber Kinshasa's +01:00), Kiribati the Gilbert Islands
/// (+12:00). DST is ignored: countries that observe it are listed at their standard (winter)
/// offset, one hour behind their summer clocks. Recent changes followed: Kazakhstan one zone
/// +05:00 (2024), Paraguay −03:00 (2024), Greenland −02:00 (2023), Mexico without DST (2022).
pub const COUNTRY_UTC_OFFSETS: &[(&str, i32)] = &[
    ("AD", hm(1, 0)),
    ("AE", hm(4, 0)),
    ("AF", hm(4, 30)),
    ("AG", hm(-4, 0)),
    ("AI", hm(-4, 0)),
    ("AL", hm(1, 0)),
    ("AM", hm(4, 0)),
    ("AO", hm(1, 0)),
    ("AQ", hm(0, 0)), // no permanent population: UTC
    ("AR", hm(-3, 0)),
    ("AS", hm(-11, 0)),
    ("AT", hm(1, 0)),
    ("AU", hm(10, 0)), // AEST: Sydney, Melbourne, Brisbane
    ("AW", hm(-4, 0)),
    ("AX", hm(2, 0)),
    ("AZ", hm(4, 0)),
    ("BA", hm(1, 0)),
    ("BB", hm(-4, 0)),
    ("BD", hm(6, 0)),
    ("BE", hm(1, 0)),
    ("BF", hm(0, 0)),
    ("BG", hm(2, 0)),
    ("BH", hm(3, 0)),
    ("BI", hm(2, 0)),
    ("BJ", hm(1, 0)),
    ("BL", hm(-4, 0)),
    ("BM", hm(-4, 0)),
    ("BN", hm(8, 0)),
    ("BO", hm(-4, 0)),
    ("BQ", hm(-4, 0)),
    ("BR", hm(-3, 0)), // Brasília: São Paulo, Rio, the south-east and north-east
    ("BS", hm(-5, 0)),
    ("BT", hm(6, 0)),
    ("BW", hm(2, 0)),
    ("BY", hm(3, 0)),
    ("BZ", hm(-6, 0)),
    ("CA", hm(-5, 0)), // Eastern: Ontario, Quebec
    ("CD", hm(2, 0)),  // Central Africa Time; Kinshasa is +01:00
    ("CF", hm(1, 0)),
    ("CG", hm(1, 0)),
    ("CH", hm(1, 0)),
    ("CI", hm(0, 0)),
    ("CK", hm(-10, 0)),
    ("CL", hm(-4, 0)),
    ("CM", hm(1, 0)),
    ("CN", hm(8, 0)),
    ("CO", hm(-5, 0)),
    ("CR", hm(-6, 0)),
    ("CU", hm(-5, 0)),
    ("CV", hm(-1, 0)),
    ("CW", hm(-4, 0)),
    ("CY", hm(2, 0)),
    ("CZ", hm(1, 0)),
    ("DE", hm(1, 0)),
    ("DJ", hm(3, 0)),
    ("DK", hm(1, 0)),
    ("DM", hm(-4, 0)),
    ("DO", hm(-4, 0)),
    ("DZ", hm(1, 0)),
    ("EC", hm(-5, 0)),
    ("EE", hm(2, 0)),
    ("EG", hm(2, 0)),
    ("ER", hm(3, 0)),
    ("ES", hm(1, 0)), // peninsular Spain; the Canaries are +00:00
    ("ET", hm(3, 0)),
    ("FI", hm(2, 0)),
    ("FJ", hm(12, 0)),
    ("FK", hm(-3, 0)),
    ("FM", hm(10, 0)), // Chuuk and Yap; Pohnpei and Kosrae are +11:00
    ("FO", hm(0, 0)),
    ("FR", hm(1, 0)), // metropolitan France
    ("GA", hm(1, 0)),
    ("GB", hm(0, 0)),
    ("GD", hm(-4, 0)),
    ("GE", hm(4, 0)),
    ("GF", hm(-3, 0)),
    ("GG", hm(0, 0)),
    ("GH", hm(0, 0)),
    ("GI", hm(1, 0)),
    ("GL", hm(-2, 0)), // Nuuk since 2023
    ("GM", hm(0, 0)),
    ("GN", hm(0, 0)),
    ("GP", hm(-4, 0)),
    ("GQ", hm(1, 0)),
    ("GR", hm(2, 0)),
    ("GT", hm(-6, 0)),
    ("GU", hm(10, 0)),
    ("GW", hm(0, 0)),
    ("GY", hm(-4, 0)),
    ("HK", hm(8, 0)),
    ("HN", hm(-6, 0)),
    ("HR", hm(1, 0)),
    ("HT", hm(-5, 0)),
    ("HU", hm(1, 0)),
    ("ID", hm(7, 0)), // WIB: Java and Sumatra
    ("IE", hm(0, 0)),
    ("IL", hm(2, 0)),
    ("IM", hm(0, 0)),
    ("IN", hm(5, 30)),
    ("IQ", hm(3, 0)),
    ("IR", hm(3, 30)),
    ("IS", hm(0, 0)),
    ("IT", hm(1, 0)),
    ("JE", hm(0, 0)),
    ("JM", hm(-5, 0)),
    ("JO", hm(3, 0)),
    ("JP", hm(9, 0)),
    ("KE", hm(3, 0)),
    ("KG", hm(6, 0)),
    ("KH", hm(7, 0)),
    ("KI", hm(12, 0)), // Gilbert Islands (Tarawa); the Line Islands are +14:00
    ("KM", hm(3, 0)),
    ("KN", hm(-4, 0)),
    ("KP", hm(9, 0)),
    ("KR", hm(9, 0)),
    ("KW", hm(3, 0)),
    ("KY", hm(-5, 0)),
    ("KZ", hm(5, 0)), // one zone since March 2024
    ("LA", hm(7, 0)),
    ("LB", hm(2, 0)),
    ("LC", hm(-4, 0)),
    ("LI", hm(1, 0)),
    ("LK", hm(5, 30)),
    ("LR", hm(0, 0)),
    ("LS", hm(2, 0)),
    ("LT", hm(2, 0)),
    ("LU", hm(1, 0)),
    ("LV", hm(2, 0)),
    ("LY", hm(2, 0)),
    ("MA", hm(1, 0)),
    ("MC", hm(1, 0)),
    ("MD", hm(2, 0)),
    ("ME", hm(1, 0)),
    ("MF", hm(-4, 0)),
    ("MG", hm(3, 0)),
    ("MH", hm(12, 0)),
    ("MK", hm(1, 0)),
    ("ML", hm(0, 0)),
    ("MM", hm(6, 30)),
    ("MN", hm(8, 0)),
    ("MO", hm(8, 0)),
    ("MP", hm(10, 0)),
    ("MQ", hm(-4, 0)),
    ("MR", hm(0, 0)),
    ("MS", hm(-4, 0)),
    ("MT", hm(1, 0)),
    ("MU", hm(4, 0)),
    ("MV", hm(5, 0)),
    ("MW", hm(2, 0)),
    ("MX", hm(-6, 0)), // Central: Mexico City, Guadalajara, Monterrey
    ("MY", hm(8, 0)),
    ("MZ", hm(2, 0)),
    ("NA", hm(2, 0)),
    ("NC", hm(11, 0)),
    ("NE", hm(1, 0)),
    ("NG", hm(1, 0)),
    ("NI", hm(-6, 0)),
    ("NL", hm(1, 0)),
    ("NO", hm(1, 0)),
    ("NP", hm(5, 45)),
    ("NR", hm(12, 0)),
    ("NU", hm(-11, 0)),
    ("NZ", hm(12, 0)),
    ("OM", hm(4, 0)),
    ("PA", hm(-5, 0)),
    ("PE", hm(-5, 0)),
    ("PF", hm(-10, 0)), // Tahiti
    ("PG", hm(10, 0)),
    ("PH", hm(8, 0)),
    ("PK", hm(5, 0)),
    ("PL", hm(1, 0)),
    ("PM", hm(-3, 0)),
    ("PR", hm(-4, 0)),
    ("PS", hm(2, 0)),
    ("PT", hm(0, 0)), // mainland Portugal; the Azores are −01:00
    ("PW", hm(9, 0)),
    ("PY", hm(-3, 0)), // permanent since October 2024
    ("QA", hm(3, 0)),
    ("RE", hm(4, 0)),
    ("RO", hm(2, 0)),
    ("RS", hm(1, 0)),
    ("RU", hm(3, 0)), // Moscow
    ("RW", hm(2, 0)),
    ("SA", hm(3, 0)),
    ("SB", hm(11, 0)),
    ("SC", hm(4, 0)),
    ("SD", hm(2, 0)),
    ("SE", hm(1, 0)),
    ("SG", hm(8, 0)),
    ("SH", hm(0, 0)),
    ("SI", hm(1, 0)),
    ("SK", hm(1, 0)),
    ("SL", hm(0, 0)),
    ("SM", hm(1, 0)),
    ("SN", hm(0, 0)),
    ("SO", hm(3, 0)),
    ("SR", hm(-3, 0)),
    ("SS", hm(2, 0)),
    ("ST", hm(0, 0)),
    ("SV", hm(-6, 0)),
    ("SX", hm(-4, 0)),
    ("SY", hm(3, 0)),
    ("SZ", hm(2, 0)),
    ("TC", hm(-5, 0)),
    ("TD", hm(1, 0)),
    ("TG", hm(0, 0)),
    ("TH", hm(7, 0)),
    ("TJ", hm(5, 0)),
    ("TL", hm(9, 0)),
    ("TM", hm(5, 0)),
    ("TN", hm(1, 0)),
    ("TO", hm(13, 0)),
    ("TR", hm(3, 0)),
    ("TT", hm(-4, 0)),
    ("TV", hm(12, 0)),
    ("TW", hm(8, 0)),
    ("TZ", hm(3, 0)),
    ("UA", hm(2, 0)),
    ("UG", hm(3, 0)),
    ("US", hm(-5, 0)), // Eastern: New York, Florida, Georgia…
    ("UY", hm(-3, 0)),
    ("UZ", hm(5, 0)),
    ("VA", hm(1, 0)),
    ("VC", hm(-4, 0)),
    ("VE", hm(-4, 0)),
    ("VG", hm(-4, 0)),
    ("VI", hm(-4, 0)),
    ("VN", hm(7, 0)),
    ("VU", hm(11, 0)),
    ("WF", hm(12, 0)),
    ("WS", hm(13, 0)),
    ("XK", hm(1, 0)),
    ("YE", hm(3, 0)),
    ("YT", hm(3, 0)),
    ("ZA", hm(2, 0)),
    ("ZM", hm(2, 0)),
    ("ZW", hm(2, 0)),
];

/// The representative fixed UTC offset of a country (ISO alpha-2, case-insensitive), in seconds
/// east of UTC, from [`COUNTRY_UTC_OFFSETS`]. `None` for a code not in the table: callers then
/// use UTC (0), the neutral choice that a `timezone` in the scenario overrides.
pub fn utc_offset_of_country(iso: &str) -> Option<i32> {
    let iso = iso.trim();
    COUNTRY_UTC_OFFSETS
        .iter()
        .find(|(code, _)| code.eq_ignore_ascii_case(iso))
        .map(|(_, offset)| *offset)
}

#[cfg(test)]
#[path = "rhythm_tests.rs"]
mod tests;
