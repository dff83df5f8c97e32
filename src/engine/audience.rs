//! The simulated audience: the users businesses message. Recipients are not stored one by one:
//! whether a number is on WhatsApp is a pure function of (seed, wa_id), and reactions are drawn
//! from the engine's seeded RNG, so an audience of millions costs nothing until a user is
//! actually messaged.

use super::ids::WaId;
use crate::clock::{Micros, MICROS_PER_MS, MICROS_PER_SEC};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The audience a scenario describes.
///
/// Who the users are is one range of numbers (`first_number`, `size`) or, for recipients in
/// several markets, named segments (`[[audience.segments]]`), never both. Either way the ranges
/// only say whom the load generator sends to (and whom `serve` suggests in its banner): the
/// engine treats every wa_id alike, in a range or not. Being on WhatsApp and opt-in are hashes
/// of (seed, wa_id, …), reactions and re-registrations are drawn per message, and the market
/// is the calling code. So a number is treated the same in any segment, or in none, and the
/// engine needs no segment lookup on the send path.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceSpec {
    /// First wa_id of the synthetic audience (digits, international form). Default
    /// 6281300000000. Not with `segments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_number: Option<String>,
    /// Number of synthetic users: `first_number`, `first_number + 1`, … Default 10,000. Not
    /// with `segments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Named ranges of users, for an audience in several markets (`[[audience.segments]]`);
    /// they replace `first_number` and `size`. At most 1,000.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentSpec>,
    /// Share of numbers (any number, in or out of the synthetic range) that are not on WhatsApp:
    /// messages to them are accepted and then fail with 131026.
    #[serde(default = "default_not_on_whatsapp")]
    pub not_on_whatsapp_ratio: f64,
    /// Numbers that are never on WhatsApp, whatever the ratio says.
    #[serde(default)]
    pub not_on_whatsapp: Vec<String>,
    /// Delay from `sent` to `delivered`, drawn uniformly from [min, max] milliseconds.
    #[serde(default = "default_delivered_delay")]
    pub delivered_delay_ms: [u64; 2],
    /// Share of delivered messages that get read.
    #[serde(default = "default_read_ratio")]
    pub read_ratio: f64,
    /// Delay from `delivered` to `read`, drawn uniformly from [min, max] seconds.
    #[serde(default = "default_read_delay")]
    pub read_delay_s: [u64; 2],
    /// How users react per message category (`[audience.profiles.<category>]`), with opt-in
    /// shares and the multipliers for users who never opted in.
    #[serde(default)]
    pub profiles: super::reactions::Profiles,
    /// Share of users who have adopted a WhatsApp username (a hash of seed and number decides
    /// who). Their username appears in inbound webhooks and in delivered/read statuses.
    /// Default 0: nobody, as before consumer usernames roll out.
    #[serde(default)]
    pub username_ratio: f64,
    /// Whether users with a username hide their phone number from businesses they have not
    /// talked to recently (Meta's rule from mid-2026): webhooks then omit `wa_id`, `from` and
    /// `recipient_id` unless the business number sent to the user's phone number in the last
    /// 30 days. Default true.
    #[serde(default = "default_true")]
    pub username_hides_phone: bool,
    /// Share of the users' messages (written in through `/_sim/inbound`, traffic, or replies)
    /// that carry an image or a document instead of plain text; their media ids download
    /// through the Media API for 7 days. Default 0: text only (Meta publishes no share).
    #[serde(default)]
    pub inbound_media_ratio: f64,
}

fn default_true() -> bool {
    true
}

/// The audience's first number when the scenario gives none (and no segments).
pub const DEFAULT_FIRST_NUMBER: &str = "6281300000000";
/// The audience's size when the scenario gives none (and no segments).
pub const DEFAULT_SIZE: u64 = 10_000;
/// Most segments an audience may declare.
pub const MAX_SEGMENTS: usize = 1_000;

/// `[[audience.segments]]`: a named range of users, `first_number`, `first_number + 1`, …
/// (`size` of them), e.g. the Brazilian customers of a BSP next to its Indonesian ones. A
/// `[traffic]` phase picks segments by name (`recipients = { segments = { br = 1 } }`).
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentSpec {
    /// Unique name, as `[traffic]` recipients refer to it.
    pub name: String,
    /// First wa_id of the range (international form; `+`, spaces and dashes are ignored).
    pub first_number: String,
    /// Number of users, at least 1. The last one keeps the digit count of the first.
    pub size: u64,
    /// ISO 3166 alpha-2 country of the users, checked against the calling code of
    /// `first_number`. Default: the country that calling code names, when only one does
    /// (+1, +7, +44 and a few others are shared: give it there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl SegmentSpec {
    /// The segment's country: the one declared, else the one its calling code names (if only
    /// one country has it). `None` for a first number that does not parse.
    pub fn country(&self) -> Option<String> {
        if let Some(c) = &self.country {
            return Some(c.trim().to_ascii_uppercase());
        }
        let first = WaId::parse_lenient(&self.first_number)?;
        crate::pricing::countries::iso_of_number(&first.0.to_string()).map(str::to_string)
    }

    /// The wa_ids of the segment as (first, size), or `None` if `first_number` does not parse.
    fn range(&self) -> Option<(u64, u64)> {
        WaId::parse_lenient(&self.first_number).map(|w| (w.0, self.size))
    }
}
fn default_not_on_whatsapp() -> f64 {
    0.02
}
fn default_delivered_delay() -> [u64; 2] {
    [100, 1_500]
}
fn default_read_ratio() -> f64 {
    0.7
}
fn default_read_delay() -> [u64; 2] {
    [5, 600]
}

impl Default for AudienceSpec {
    fn default() -> Self {
        AudienceSpec {
            first_number: None,
            size: None,
            segments: Vec::new(),
            not_on_whatsapp_ratio: default_not_on_whatsapp(),
            not_on_whatsapp: Vec::new(),
            delivered_delay_ms: default_delivered_delay(),
            read_ratio: default_read_ratio(),
            read_delay_s: default_read_delay(),
            profiles: Default::default(),
            username_ratio: 0.0,
            username_hides_phone: true,
            inbound_media_ratio: 0.0,
        }
    }
}

impl AudienceSpec {
    /// First wa_id of the single range (the default when none is given).
    pub fn first_number(&self) -> &str {
        self.first_number.as_deref().unwrap_or(DEFAULT_FIRST_NUMBER)
    }

    /// Size of the single range (the default when none is given).
    pub fn size(&self) -> u64 {
        self.size.unwrap_or(DEFAULT_SIZE)
    }

    /// Checks the values a parser cannot: ranges and ratios. Returns `(field, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if WaId::parse_lenient(self.first_number()).is_none() {
            return Err((
                "audience.first_number".into(),
                format!("'{}' is not a phone number", self.first_number()),
            ));
        }
        for (i, n) in self.not_on_whatsapp.iter().enumerate() {
            if WaId::parse_lenient(n).is_none() {
                return Err((
                    format!("audience.not_on_whatsapp[{i}]"),
                    format!("'{n}' is not a phone number"),
                ));
            }
        }
        for (field, v) in [
            ("audience.not_on_whatsapp_ratio", self.not_on_whatsapp_ratio),
            ("audience.read_ratio", self.read_ratio),
            ("audience.username_ratio", self.username_ratio),
            ("audience.inbound_media_ratio", self.inbound_media_ratio),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err((field.into(), format!("{v} is not between 0 and 1")));
            }
        }
        for (field, [lo, hi]) in [
            ("audience.delivered_delay_ms", self.delivered_delay_ms),
            ("audience.read_delay_s", self.read_delay_s),
        ] {
            if lo > hi {
                return Err((field.into(), format!("min {lo} is above max {hi}")));
            }
        }
        self.profiles.validate()
    }

    /// Every problem of `[[audience.segments]]` as `(field, problem)`: the single range given
    /// beside them, a name empty or taken, a first number that does not parse, an empty range
    /// or one that outgrows its digits, a country that is unknown or not the number's, two
    /// ranges that overlap.
    pub fn segment_problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.segments.is_empty() {
            return out;
        }
        let beside = "not used with [[audience.segments]]: declare the range as a segment";
        if self.first_number.is_some() {
            out.push(("audience.first_number".into(), beside.into()));
        }
        if self.size.is_some() {
            out.push(("audience.size".into(), beside.into()));
        }
        if self.segments.len() > MAX_SEGMENTS {
            out.push((
                "audience.segments".into(),
                format!("{} segments; at most {MAX_SEGMENTS}", self.segments.len()),
            ));
            return out;
        }
        // (first, last, index) of every range that is itself valid, for the overlap check.
        let mut ranges: Vec<(u64, u64, usize)> = Vec::new();
        for (i, s) in self.segments.iter().enumerate() {
            let f = |k: &str| format!("audience.segments[{i}].{k}");
            if s.name.trim().is_empty() {
                out.push((f("name"), "empty name".into()));
            } else if let Some(j) = self.segments[..i].iter().position(|o| o.name == s.name) {
                out.push((
                    f("name"),
                    format!("'{}' is already the name of audience.segments[{j}]", s.name),
                ));
            }
            let Some((first, size)) = s.range() else {
                out.push((
                    f("first_number"),
                    format!("'{}' is not a phone number", s.first_number),
                ));
                continue;
            };
            if size == 0 {
                out.push((f("size"), "must be at least 1".into()));
                continue;
            }
            let digits = |n: u64| n.checked_ilog10().unwrap_or(0) + 1;
            let last = first
                .checked_add(size - 1)
                .filter(|l| digits(*l) == digits(first));
            let Some(last) = last else {
                out.push((
                    f("size"),
                    format!(
                        "{size} users from {first} run past {} digits",
                        digits(first)
                    ),
                ));
                continue;
            };
            if let Some(c) = &s.country {
                let code = c.trim().to_ascii_uppercase();
                match crate::pricing::countries::prefix_of_iso(&code) {
                    None => out.push((
                        f("country"),
                        format!("'{c}' is not an ISO 3166 alpha-2 country wabasim knows"),
                    )),
                    Some(p) if !first.to_string().starts_with(p) => {
                        out.push((f("country"), format!("{first} is not in {code} (+{p})")))
                    }
                    Some(_) => {}
                }
            }
            ranges.push((first, last, i));
        }
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            let ((_, a_last, a), (b_first, _, b)) = (w[0], w[1]);
            if b_first <= a_last {
                let (lo, hi) = (a.min(b), a.max(b));
                out.push((
                    format!("audience.segments[{hi}]"),
                    format!(
                        "overlaps audience.segments[{lo}] ('{}'): both hold {b_first}",
                        self.segments[lo].name
                    ),
                ));
            }
        }
        out
    }
}

/// The audience at run time.
#[derive(Clone, Debug)]
pub struct Audience {
    seed: u64,
    /// The users' ranges as (first, size): the single range, or one per segment in
    /// declaration order. Only [`Self::member`] reads them (see [`AudienceSpec`]).
    ranges: Vec<(WaId, u64)>,
    /// Users over all ranges.
    size: u64,
    /// `not_on_whatsapp_ratio` scaled to the u64 range, so the check is one hash and compare.
    not_on_threshold: u64,
    not_on: Vec<WaId>,
    delivered: [Micros; 2],
    read_ratio: f64,
    read: [Micros; 2],
    pub profiles: super::reactions::Profiles,
    /// `username_ratio` scaled to the u64 range (0: nobody has a username).
    username_threshold: u64,
    username_hides_phone: bool,
    /// `inbound_media_ratio` scaled to the u64 range (0: text only).
    media_threshold: u64,
}

impl Audience {
    pub fn new(spec: &AudienceSpec, seed: u64) -> Audience {
        let mut not_on: Vec<WaId> = spec
            .not_on_whatsapp
            .iter()
            .filter_map(|n| WaId::parse_lenient(n))
            .collect();
        not_on.sort_unstable();
        let ranges: Vec<(WaId, u64)> = if spec.segments.is_empty() {
            vec![(
                WaId::parse_lenient(spec.first_number()).unwrap_or(WaId(6281300000000)),
                spec.size(),
            )]
        } else {
            spec.segments
                .iter()
                .filter_map(|s| s.range().map(|(first, size)| (WaId(first), size)))
                .collect()
        };
        Audience {
            seed,
            size: ranges.iter().fold(0u64, |a, r| a.saturating_add(r.1)),
            ranges,
            not_on_threshold: (spec.not_on_whatsapp_ratio.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
            not_on,
            delivered: spec.delivered_delay_ms.map(|v| v * MICROS_PER_MS),
            read_ratio: spec.read_ratio,
            read: spec.read_delay_s.map(|v| v * MICROS_PER_SEC),
            profiles: spec.profiles.clone(),
            username_threshold: (spec.username_ratio.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
            username_hides_phone: spec.username_hides_phone,
            media_threshold: (spec.inbound_media_ratio.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
        }
    }

    /// The i-th synthetic user (modulo the audience's size), counting through the ranges in
    /// their order.
    pub fn member(&self, i: u64) -> WaId {
        let mut i = i % self.size.max(1);
        for &(first, size) in &self.ranges {
            if i < size {
                return WaId(first.0 + i);
            }
            i -= size;
        }
        self.ranges.first().map_or(WaId(6281300000000), |r| r.0)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether `wa_id` is one of the audience's users.
    pub fn contains(&self, wa_id: WaId) -> bool {
        self.ranges
            .iter()
            .any(|&(first, size)| wa_id.0 >= first.0 && wa_id.0 - first.0 < size)
    }

    /// Whether `wa_id` has a WhatsApp account. Deterministic in (seed, wa_id).
    pub fn on_whatsapp(&self, wa_id: WaId) -> bool {
        if self.not_on.binary_search(&wa_id).is_ok() {
            return false;
        }
        if self.not_on_threshold == 0 {
            return true;
        }
        splitmix(self.seed ^ wa_id.0) >= self.not_on_threshold
    }

    pub fn delivered_delay(&self, rng: &mut impl Rng) -> Micros {
        uniform(rng, self.delivered)
    }

    /// `Some(delay)` if the user reads the message.
    pub fn read_delay(&self, rng: &mut impl Rng) -> Option<Micros> {
        if self.read_ratio > 0.0 && rng.gen::<f64>() < self.read_ratio {
            Some(uniform(rng, self.read))
        } else {
            None
        }
    }

    /// A stable display name for a user, for inbound `contacts[].profile.name`.
    pub fn profile_name(&self, wa_id: WaId) -> String {
        profile_name(wa_id)
    }

    /// The user's username, if they adopted one. Deterministic in (seed, wa_id).
    pub fn username(&self, wa_id: WaId) -> Option<Username> {
        let h = splitmix(self.seed ^ wa_id.0.rotate_left(17) ^ 0x55);
        (h < self.username_threshold).then(|| Username::of(wa_id))
    }

    /// The media of message `seq` from `user` to number `phone` of business `owner`, if it
    /// carries any. Deterministic in (seed, phone, user, seq); draws nothing from the run's
    /// random stream, so other draws do not move.
    pub fn inbound_media(
        &self,
        owner: super::ids::BusinessId,
        phone: super::ids::PhoneNumberId,
        user: WaId,
        seq: u64,
    ) -> Option<super::inbound_media::InboundMedia> {
        if self.media_threshold == 0 {
            return None;
        }
        let h = splitmix(
            self.seed
                ^ phone.0.rotate_left(7)
                ^ user.0.rotate_left(29)
                ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ 0x004D_4544_4941,
        );
        (h < self.media_threshold)
            .then(|| super::inbound_media::InboundMedia::from_hash(h, owner, phone))
    }

    /// Whether webhooks may omit the user's phone number (they have a username and hide it
    /// from businesses they have not talked to recently) [M:bsuid].
    pub fn hides_phone(&self, wa_id: WaId) -> bool {
        self.username_hides_phone && self.username(wa_id).is_some()
    }
}

const FIRST_NAMES: [&str; 8] = [
    "Ayu", "Budi", "Citra", "Dewi", "Eko", "Fajar", "Gita", "Hadi",
];

/// A stable display name for a user (`contacts[].profile.name`): a pure function of the
/// number, so every portfolio and the webhook renderer agree without sharing state.
pub fn profile_name(wa_id: WaId) -> String {
    let h = splitmix(wa_id.0);
    format!("{} {}", FIRST_NAMES[(h % 8) as usize], (h >> 8) % 1000)
}

/// A user's WhatsApp username (`profile.username`, no `@`, as Meta's 2026 examples write it),
/// kept inline (`Copy`, 16 bytes) because it rides in every status record: the lower-case
/// first name of the profile, a dot and the profile's digits, e.g. `ayu.482`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Username {
    len: u8,
    buf: [u8; 15],
}

impl Username {
    /// The username the user of `wa_id` goes by, if the audience gives them one.
    pub fn of(wa_id: WaId) -> Username {
        let h = splitmix(wa_id.0);
        let text = format!(
            "{}.{}",
            FIRST_NAMES[(h % 8) as usize].to_ascii_lowercase(),
            (h >> 8) % 1000
        );
        let mut buf = [0u8; 15];
        buf[..text.len()].copy_from_slice(text.as_bytes());
        Username {
            len: text.len() as u8,
            buf,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or_default()
    }
}

/// The first three digits of a number (no allocation, no loop: the market checks run on
/// every marketing send). Numbers shorter than three digits are returned whole.
fn first3(n: u64) -> u64 {
    // One arm per length, so that each division is by a constant (a multiply and a shift):
    // this runs on every marketing send, and a division by a table value costs tens of cycles.
    match n.checked_ilog10().unwrap_or(0) + 1 {
        0..=3 => n,
        4 => n / 10,
        5 => n / 100,
        6 => n / 1_000,
        7 => n / 10_000,
        8 => n / 100_000,
        9 => n / 1_000_000,
        10 => n / 10_000_000,
        11 => n / 100_000_000,
        12 => n / 1_000_000_000,
        13 => n / 10_000_000_000,
        14 => n / 100_000_000_000,
        15 => n / 1_000_000_000_000,
        16 => n / 10_000_000_000_000,
        17 => n / 100_000_000_000_000,
        18 => n / 1_000_000_000_000_000,
        19 => n / 10_000_000_000_000_000,
        _ => n / 100_000_000_000_000_000,
    }
}

/// Markets where Meta does not apply the per-user marketing limit: the EEA, the UK, Japan and
/// South Korea (by calling code; the EEA list is the member states' codes).
pub fn per_user_limit_exempt(wa_id: WaId) -> bool {
    let p3 = first3(wa_id.0);
    matches!(p3 / 10, 30..=34 | 36 | 39 | 40 | 41 | 43..=49 | 81 | 82)
        || matches!(p3, 351..=354 | 356..=359 | 370..=372 | 385 | 386 | 420 | 421)
}

/// +1 numbers: marketing templates are not delivered to US numbers (Meta, April 2025). The
/// North American plan also covers Canada and the Caribbean; we treat all of +1 as US.
pub fn is_us(wa_id: WaId) -> bool {
    (100..200).contains(&first3(wa_id.0))
}

/// How many marketing templates `wa_id` accepts from one number per 24 h: a stable per-user
/// draw in `[lo, hi]` (Meta's limit depends on the user's engagement and is unpublished).
pub fn marketing_cap(seed: u64, wa_id: WaId, [lo, hi]: [u8; 2]) -> u8 {
    if hi <= lo {
        return lo;
    }
    lo + (splitmix(seed ^ wa_id.0.rotate_left(29)) % (hi - lo + 1) as u64) as u8
}

fn uniform(rng: &mut impl Rng, [lo, hi]: [Micros; 2]) -> Micros {
    if hi <= lo {
        lo
    } else {
        rng.gen_range(lo..=hi)
    }
}

/// SplitMix64 finaliser: a fast, well-mixed hash for deterministic per-user facts.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_media_ratio_is_checked_and_decides_per_message() {
        let spec = AudienceSpec {
            inbound_media_ratio: -0.1,
            ..AudienceSpec::default()
        };
        assert_eq!(
            spec.validate().unwrap_err().0,
            "audience.inbound_media_ratio"
        );
        let (b, p) = (
            super::super::ids::BusinessId(1),
            super::super::ids::PhoneNumberId(2),
        );
        let none = Audience::new(&AudienceSpec::default(), 7);
        assert!((0..100).all(|k| none.inbound_media(b, p, WaId(62813), k).is_none()));
        let half = Audience::new(
            &AudienceSpec {
                inbound_media_ratio: 0.5,
                ..AudienceSpec::default()
            },
            7,
        );
        let with: Vec<_> = (0..1000)
            .filter_map(|k| half.inbound_media(b, p, WaId(62813), k))
            .collect();
        assert!((400..600).contains(&with.len()), "{}", with.len());
        assert_eq!(
            half.inbound_media(b, p, WaId(62813), 3),
            half.inbound_media(b, p, WaId(62813), 3)
        );
    }

    #[test]
    fn username_ratio_is_checked_and_named() {
        let mut spec = AudienceSpec {
            username_ratio: 1.5,
            ..Default::default()
        };
        let (field, why) = spec.validate().unwrap_err();
        assert_eq!(field, "audience.username_ratio");
        assert!(why.contains("between 0 and 1"), "{why}");
        spec.username_ratio = 1.0;
        assert!(spec.validate().is_ok());
        assert!(AudienceSpec::default().username_hides_phone);
        assert_eq!(AudienceSpec::default().username_ratio, 0.0);
    }

    /// The first three digits, for every length a u64 has, as the decimal text says.
    #[test]
    fn first3_is_the_first_three_digits() {
        let mut n = 1u64;
        let mut x = 7u64;
        for _ in 0..20 {
            for v in [
                n,
                n.saturating_mul(10) - 1,
                n.saturating_add(splitmix(x) % n),
            ] {
                x = splitmix(x);
                let want: u64 = v.to_string()[..v.to_string().len().min(3)].parse().unwrap();
                assert_eq!(first3(v), want, "{v}");
            }
            n = n.saturating_mul(10);
        }
        assert_eq!(first3(0), 0);
        assert_eq!(first3(u64::MAX), 184);
    }

    #[test]
    fn not_on_whatsapp_share_matches_ratio_and_is_deterministic() {
        let spec = AudienceSpec {
            not_on_whatsapp_ratio: 0.1,
            ..Default::default()
        };
        let a = Audience::new(&spec, 7);
        let off = (0..100_000)
            .filter(|i| !a.on_whatsapp(a.member(*i)))
            .count();
        assert!((9_000..11_000).contains(&off), "{off}");
        let b = Audience::new(&spec, 7);
        assert!((0..1000).all(|i| a.on_whatsapp(a.member(i)) == b.on_whatsapp(b.member(i))));
    }

    #[test]
    fn zero_ratio_means_everyone_but_the_listed_is_on_whatsapp() {
        let spec = AudienceSpec {
            not_on_whatsapp_ratio: 0.0,
            not_on_whatsapp: vec!["+62 813 0000 0005".into()],
            ..Default::default()
        };
        let a = Audience::new(&spec, 1);
        assert!(!a.on_whatsapp(WaId(6281300000005)));
        assert!((0..5).all(|i| a.on_whatsapp(a.member(i))));
    }

    #[test]
    fn markets_by_calling_code() {
        assert!(is_us(WaId(16505551234)));
        assert!(!is_us(WaId(6281300000000)));
        assert!(per_user_limit_exempt(WaId(4915100000000)));
        assert!(per_user_limit_exempt(WaId(447700900000)));
        assert!(per_user_limit_exempt(WaId(35312345678)));
        assert!(!per_user_limit_exempt(WaId(6281300000000)));
        assert!(!per_user_limit_exempt(WaId(5511999999999)));
    }

    fn segment(name: &str, first: &str, size: u64) -> SegmentSpec {
        SegmentSpec {
            name: name.into(),
            first_number: first.into(),
            size,
            country: None,
        }
    }

    #[test]
    fn segments_that_touch_do_not_overlap_and_countries_come_from_the_calling_code() {
        let spec = AudienceSpec {
            segments: vec![
                segment("b", "6281300000100", 100),
                segment("a", "6281300000000", 100),
                segment("us", "+1 650 555 0000", 10),
            ],
            ..Default::default()
        };
        assert_eq!(spec.segment_problems(), Vec::<(String, String)>::new());
        assert_eq!(spec.segments[1].country().as_deref(), Some("ID"));
        assert_eq!(spec.segments[2].country(), None, "+1 is shared");
        let a = Audience::new(&spec, 1);
        assert_eq!(a.size(), 210);
        assert_eq!(a.member(0), WaId(6281300000100));
        assert_eq!(a.member(100), WaId(6281300000000));
        assert_eq!(a.member(209), WaId(16505550009));
        // Without segments: the one range, defaults included.
        let a = Audience::new(&AudienceSpec::default(), 1);
        assert_eq!((a.size(), a.member(10_001)), (10_000, WaId(6281300000001)));
    }

    #[test]
    fn validate_names_the_field() {
        let spec = AudienceSpec {
            read_ratio: 1.5,
            ..Default::default()
        };
        assert_eq!(spec.validate().unwrap_err().0, "audience.read_ratio");
    }
}
