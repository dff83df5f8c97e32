//! How simulated users react to what they receive: reply, block (with a reason), report,
//! marketing opt-out, mute, or nothing. One behaviour profile per message category, scaled by
//! multipliers when the user never opted in to that category from that business.
//!
//! Nothing here is stored per user. Opt-in is a hash of (seed, business, user, category); a
//! reaction is a hash of (seed, number, user, message seq), so the same seed gives the same
//! reactions whatever the thread interleaving, in HTTP runs and virtual-time runs alike.

use super::audience::splitmix;
use super::ids::{BusinessId, PhoneNumberId, WaId};
use super::world::TemplateCategory;
use crate::clock::{Micros, MICROS_PER_SEC};
use serde::{Deserialize, Serialize};

/// What kind of message a reaction is to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedbackCategory {
    Marketing,
    Utility,
    Authentication,
    /// Free-form messages inside a customer service window.
    Service,
}

impl From<TemplateCategory> for FeedbackCategory {
    fn from(c: TemplateCategory) -> Self {
        match c {
            TemplateCategory::Marketing => FeedbackCategory::Marketing,
            TemplateCategory::Utility => FeedbackCategory::Utility,
            TemplateCategory::Authentication => FeedbackCategory::Authentication,
        }
    }
}

/// Why a user blocked the business (the choices WhatsApp offers when blocking a business).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    Spam,
    DidntSignUp,
    Offensive,
    NoLongerNeeded,
    Other,
}

impl BlockReason {
    pub fn parse(s: &str) -> Option<BlockReason> {
        Some(match s.to_ascii_lowercase().as_str() {
            "spam" => BlockReason::Spam,
            "didnt_sign_up" | "did_not_sign_up" => BlockReason::DidntSignUp,
            "offensive" | "offensive_messages" => BlockReason::Offensive,
            "no_longer_needed" => BlockReason::NoLongerNeeded,
            "other" => BlockReason::Other,
            _ => return None,
        })
    }
}

/// A user's reaction to one delivered message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReactionKind {
    Reply,
    Block(BlockReason),
    /// Report and block (WhatsApp's report dialog blocks too).
    Report(BlockReason),
    /// Marketing opt-out (STOP reply or the template's opt-out button).
    OptOut,
    Mute,
    /// Not a reaction of the user: their number was recycled to a new owner (drawn
    /// independently of the others, from `[audience.profiles.reregistration]`).
    Reregister,
}

impl ReactionKind {
    /// The decision log's label, the same text as `Debug` (e.g. `Block(Spam)`) without
    /// formatting at run time.
    pub fn label(self) -> &'static str {
        use BlockReason::*;
        match self {
            ReactionKind::Reply => "Reply",
            ReactionKind::Block(Spam) => "Block(Spam)",
            ReactionKind::Block(DidntSignUp) => "Block(DidntSignUp)",
            ReactionKind::Block(Offensive) => "Block(Offensive)",
            ReactionKind::Block(NoLongerNeeded) => "Block(NoLongerNeeded)",
            ReactionKind::Block(Other) => "Block(Other)",
            ReactionKind::Report(Spam) => "Report(Spam)",
            ReactionKind::Report(DidntSignUp) => "Report(DidntSignUp)",
            ReactionKind::Report(Offensive) => "Report(Offensive)",
            ReactionKind::Report(NoLongerNeeded) => "Report(NoLongerNeeded)",
            ReactionKind::Report(Other) => "Report(Other)",
            ReactionKind::OptOut => "OptOut",
            ReactionKind::Mute => "Mute",
            ReactionKind::Reregister => "Reregister",
        }
    }
}

/// Reaction probabilities for one category. The kinds are exclusive: one draw picks at most
/// one of them, in the order report, block, opt-out, mute, reply.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReactionProfile {
    /// Share of users opted in to this category from a given business.
    pub opt_in_ratio: f64,
    pub reply: f64,
    pub block: f64,
    pub report: f64,
    pub opt_out: f64,
    pub mute: f64,
    /// Delay from delivery to the reaction, uniform in [min, max] seconds.
    pub delay_s: [u64; 2],
    /// Relative weights of block reasons: spam, didnt_sign_up, offensive, no_longer_needed,
    /// other.
    pub block_reasons: [f64; 5],
}

impl Default for ReactionProfile {
    fn default() -> Self {
        ReactionProfile {
            opt_in_ratio: 1.0,
            reply: 0.0,
            block: 0.0,
            report: 0.0,
            opt_out: 0.0,
            mute: 0.0,
            delay_s: [60, 7_200],
            block_reasons: [0.4, 0.2, 0.05, 0.3, 0.05],
        }
    }
}

/// Multipliers applied when the user has no opt-in for the category.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NoOptIn {
    pub block: f64,
    pub report: f64,
    pub opt_out: f64,
    pub reply: f64,
}

impl Default for NoOptIn {
    fn default() -> Self {
        NoOptIn {
            block: 5.0,
            report: 5.0,
            opt_out: 2.0,
            reply: 0.5,
        }
    }
}

/// `[audience.profiles.reregistration]`: numbers recycled to a new owner.
///
/// After each delivered message (any category), with probability `rate`, the recipient's number
/// is re-registered by a new owner `delay_s` later: the engine then does what
/// `POST /_sim/recipients/{wa_id}/reregister` does (`user_changed_number` to the numbers that
/// talked to the user, a new identity key hash, held sends and 137000 with the identity check
/// on). Per delivered message rather than per user and day, so that the draw is a pure hash of
/// the message like every other reaction and users never messaged cost nothing.
///
/// The default is 0: neither Meta nor our sources give a recycling rate (any figure would be
/// invented), and a non-zero default would change every existing scenario's report. `scenarios/recycled-numbers.toml` sets one.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Reregistration {
    /// Probability, per delivered message, that the recipient's number is recycled.
    pub rate: f64,
    /// Delay from delivery to the re-registration, uniform in [min, max] seconds.
    pub delay_s: [u64; 2],
}

impl Default for Reregistration {
    fn default() -> Self {
        Reregistration {
            rate: 0.0,
            delay_s: [3_600, 86_400],
        }
    }
}

/// `[audience.profiles]`: one profile per category, the no-opt-in multipliers, and the
/// re-registration (recycled number) rate.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Profiles {
    pub marketing: ReactionProfile,
    pub utility: ReactionProfile,
    pub authentication: ReactionProfile,
    pub service: ReactionProfile,
    pub no_opt_in: NoOptIn,
    pub reregistration: Reregistration,
}

impl Default for Profiles {
    fn default() -> Self {
        Profiles {
            marketing: ReactionProfile {
                opt_in_ratio: 0.9,
                reply: 0.03,
                block: 0.003,
                report: 0.0005,
                opt_out: 0.01,
                mute: 0.02,
                ..Default::default()
            },
            utility: ReactionProfile {
                opt_in_ratio: 0.98,
                reply: 0.05,
                block: 0.0005,
                report: 0.0001,
                mute: 0.005,
                ..Default::default()
            },
            authentication: ReactionProfile {
                block: 0.0001,
                ..Default::default()
            },
            service: ReactionProfile {
                reply: 0.2,
                block: 0.0005,
                report: 0.0001,
                delay_s: [10, 600],
                ..Default::default()
            },
            no_opt_in: NoOptIn::default(),
            reregistration: Reregistration::default(),
        }
    }
}

/// A u64 hash as a uniform draw in [0, 1).
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl Profiles {
    /// An audience that never reacts (a `[audience.profiles]` whose four tables are empty):
    /// what tests of rules other than feedback start from.
    pub fn silent() -> Profiles {
        let none = ReactionProfile::default();
        Profiles {
            marketing: none.clone(),
            utility: none.clone(),
            authentication: none.clone(),
            service: none,
            no_opt_in: NoOptIn::default(),
            reregistration: Reregistration::default(),
        }
    }

    pub fn get(&self, c: FeedbackCategory) -> &ReactionProfile {
        match c {
            FeedbackCategory::Marketing => &self.marketing,
            FeedbackCategory::Utility => &self.utility,
            FeedbackCategory::Authentication => &self.authentication,
            FeedbackCategory::Service => &self.service,
        }
    }

    /// Checks ranges; returns `(field, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (name, p) in [
            ("marketing", &self.marketing),
            ("utility", &self.utility),
            ("authentication", &self.authentication),
            ("service", &self.service),
        ] {
            let f = |k: &str| format!("audience.profiles.{name}.{k}");
            for (k, v) in [
                ("opt_in_ratio", p.opt_in_ratio),
                ("reply", p.reply),
                ("block", p.block),
                ("report", p.report),
                ("opt_out", p.opt_out),
                ("mute", p.mute),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    return Err((f(k), format!("{v} is not between 0 and 1")));
                }
            }
            if p.reply + p.block + p.report + p.opt_out + p.mute > 1.0 {
                return Err((
                    f("reply"),
                    "the reaction shares add up to more than 1".into(),
                ));
            }
            if p.delay_s[0] > p.delay_s[1] {
                return Err((f("delay_s"), "min is above max".into()));
            }
            if p.block_reasons
                .iter()
                .any(|w| !(*w >= 0.0 && w.is_finite()))
                || p.block_reasons.iter().sum::<f64>() <= 0.0
            {
                return Err((
                    f("block_reasons"),
                    "weights must be non-negative with a positive sum".into(),
                ));
            }
        }
        let r = &self.reregistration;
        if !(0.0..=1.0).contains(&r.rate) {
            return Err((
                "audience.profiles.reregistration.rate".into(),
                format!("{} is not between 0 and 1", r.rate),
            ));
        }
        if r.delay_s[0] > r.delay_s[1] {
            return Err((
                "audience.profiles.reregistration.delay_s".into(),
                "min is above max".into(),
            ));
        }
        let m = &self.no_opt_in;
        for (k, v) in [
            ("block", m.block),
            ("report", m.report),
            ("opt_out", m.opt_out),
            ("reply", m.reply),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err((
                    format!("audience.profiles.no_opt_in.{k}"),
                    format!("{v} must be a non-negative number"),
                ));
            }
        }
        Ok(())
    }

    /// Whether `user` opted in to `category` messages from `business`. Service messages need
    /// none (the user wrote first).
    pub fn opted_in(
        &self,
        seed: u64,
        business: BusinessId,
        user: WaId,
        category: FeedbackCategory,
    ) -> bool {
        let ratio = self.get(category).opt_in_ratio;
        if category == FeedbackCategory::Service || ratio >= 1.0 {
            return true;
        }
        let h = splitmix(seed ^ splitmix(business.0 ^ splitmix(user.0 ^ category as u64)));
        unit(h) < ratio
    }

    /// Whether the number of `user` is recycled after message `seq` of `phone` was delivered,
    /// and when (delay after delivery). Pure in its arguments, and drawn from a hash apart from
    /// [`Profiles::draw`]'s, so turning it on leaves every other reaction as it was.
    pub fn draw_reregistration(
        &self,
        seed: u64,
        phone: PhoneNumberId,
        user: WaId,
        seq: u64,
    ) -> Option<Micros> {
        let r = &self.reregistration;
        if r.rate <= 0.0 {
            return None;
        }
        let h =
            splitmix(seed ^ splitmix(phone.0 ^ splitmix(user.0 ^ splitmix(seq ^ 0x2E_2E61_5700))));
        if unit(h) >= r.rate {
            return None;
        }
        let [lo, hi] = r.delay_s;
        let delay = lo
            + if hi > lo {
                splitmix(h) % (hi - lo + 1)
            } else {
                0
            };
        Some(delay * MICROS_PER_SEC)
    }

    /// The reaction (if any) of `user` to message `seq` of `phone`, and its delay after
    /// delivery. Pure in its arguments.
    pub fn draw(
        &self,
        seed: u64,
        phone: PhoneNumberId,
        user: WaId,
        seq: u64,
        category: FeedbackCategory,
        opted_in: bool,
    ) -> Option<(ReactionKind, Micros)> {
        let p = self.get(category);
        let m = if opted_in {
            &NoOptIn {
                block: 1.0,
                report: 1.0,
                opt_out: 1.0,
                reply: 1.0,
            }
        } else {
            &self.no_opt_in
        };
        let h1 = splitmix(seed ^ splitmix(phone.0 ^ splitmix(user.0 ^ splitmix(seq))));
        let h2 = splitmix(h1);
        let h3 = splitmix(h2);
        let u = unit(h1);
        let mut acc = 0.0;
        let mut pick = None;
        for (share, kind) in [
            (p.report * m.report, 0),
            (p.block * m.block, 1),
            (p.opt_out * m.opt_out, 2),
            (p.mute, 3),
            (p.reply * m.reply, 4),
        ] {
            acc += share;
            if u < acc {
                pick = Some(kind);
                break;
            }
        }
        let reason = || {
            let total: f64 = p.block_reasons.iter().sum();
            let mut x = unit(h2) * total;
            const R: [BlockReason; 5] = [
                BlockReason::Spam,
                BlockReason::DidntSignUp,
                BlockReason::Offensive,
                BlockReason::NoLongerNeeded,
                BlockReason::Other,
            ];
            for (w, r) in p.block_reasons.iter().zip(R) {
                if x < *w {
                    return r;
                }
                x -= w;
            }
            BlockReason::Other
        };
        let kind = match pick? {
            0 => ReactionKind::Report(reason()),
            1 => ReactionKind::Block(reason()),
            2 => ReactionKind::OptOut,
            3 => ReactionKind::Mute,
            _ => ReactionKind::Reply,
        };
        let [lo, hi] = p.delay_s;
        let delay = lo + if hi > lo { h3 % (hi - lo + 1) } else { 0 };
        Some((kind, delay * MICROS_PER_SEC))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_debug() {
        use BlockReason::*;
        for r in [Spam, DidntSignUp, Offensive, NoLongerNeeded, Other] {
            for k in [ReactionKind::Block(r), ReactionKind::Report(r)] {
                assert_eq!(k.label(), format!("{k:?}"));
            }
        }
        for k in [
            ReactionKind::Reply,
            ReactionKind::OptOut,
            ReactionKind::Mute,
            ReactionKind::Reregister,
        ] {
            assert_eq!(k.label(), format!("{k:?}"));
        }
    }

    fn count(p: &Profiles, opted_in: bool, f: impl Fn(ReactionKind) -> bool) -> usize {
        (0..100_000u64)
            .filter_map(|i| {
                p.draw(
                    7,
                    PhoneNumberId(1),
                    WaId(6281300000000 + i),
                    i,
                    FeedbackCategory::Marketing,
                    opted_in,
                )
            })
            .filter(|(k, _)| f(*k))
            .count()
    }

    #[test]
    fn shares_match_the_profile_and_no_opt_in_multiplies_blocks() {
        let mut p = Profiles::default();
        p.marketing.block = 0.05;
        p.marketing.report = 0.0;
        let blocks = count(&p, true, |k| matches!(k, ReactionKind::Block(_)));
        assert!((4_600..5_400).contains(&blocks), "{blocks}");
        let blocks = count(&p, false, |k| matches!(k, ReactionKind::Block(_)));
        assert!((23_500..26_500).contains(&blocks), "{blocks}");
        p.marketing.block = 0.0;
        assert_eq!(count(&p, false, |k| matches!(k, ReactionKind::Block(_))), 0);
    }

    #[test]
    fn reregistration_rate_off_by_default_and_share_matches_when_set() {
        let mut p = Profiles::default();
        let hits = |p: &Profiles| {
            (0..100_000u64)
                .filter_map(|i| {
                    p.draw_reregistration(7, PhoneNumberId(1), WaId(6281300000000 + i), i)
                })
                .count()
        };
        assert_eq!(hits(&p), 0, "rate 0: nobody's number is recycled");
        p.reregistration.rate = 0.02;
        p.reregistration.delay_s = [10, 20];
        let n = hits(&p);
        assert!((1_800..2_200).contains(&n), "{n}");
        let d = p
            .draw_reregistration(7, PhoneNumberId(1), WaId(6281300000000), 0)
            .into_iter()
            .chain((1..1000).filter_map(|i| p.draw_reregistration(7, PhoneNumberId(1), WaId(i), i)))
            .collect::<Vec<_>>();
        assert!(d
            .iter()
            .all(|d| (10 * MICROS_PER_SEC..=20 * MICROS_PER_SEC).contains(d)));
        p.reregistration.rate = 1.5;
        assert_eq!(
            p.validate().unwrap_err().0,
            "audience.profiles.reregistration.rate"
        );
    }

    #[test]
    fn draws_are_pure_in_their_inputs() {
        let p = Profiles::default();
        let a: Vec<_> = (0..1000)
            .map(|i| {
                p.draw(
                    3,
                    PhoneNumberId(9),
                    WaId(i),
                    i,
                    FeedbackCategory::Service,
                    true,
                )
            })
            .collect();
        let b: Vec<_> = (0..1000)
            .map(|i| {
                p.draw(
                    3,
                    PhoneNumberId(9),
                    WaId(i),
                    i,
                    FeedbackCategory::Service,
                    true,
                )
            })
            .collect();
        assert_eq!(a, b);
        let c: Vec<_> = (0..1000)
            .map(|i| {
                p.draw(
                    4,
                    PhoneNumberId(9),
                    WaId(i),
                    i,
                    FeedbackCategory::Service,
                    true,
                )
            })
            .collect();
        assert_ne!(a, c, "another seed gives other reactions");
    }

    #[test]
    fn opt_in_share_per_category_and_service_needs_none() {
        let p = Profiles::default();
        let n = (0..100_000u64)
            .filter(|i| p.opted_in(1, BusinessId(5), WaId(*i), FeedbackCategory::Marketing))
            .count();
        assert!((89_000..91_000).contains(&n), "{n}");
        assert!((0..1000u64).all(|i| p.opted_in(
            1,
            BusinessId(5),
            WaId(i),
            FeedbackCategory::Service
        )));
        let mut bad = Profiles::default();
        bad.utility.block = 1.5;
        assert_eq!(
            bad.validate().unwrap_err().0,
            "audience.profiles.utility.block"
        );
    }
}
