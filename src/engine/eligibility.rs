//! Business eligibility at onboarding: which verticals may use the WhatsApp Business Platform.
//!
//! The prohibited list is WhatsApp's Commerce Policy as the seed (Business Policy, Indonesian
//! edition of 8 October 2021) gives it; the regional rules are what Indonesian BSPs reported
//! refusing in practice (P2P lending, herbal medicine, leasing). The allowed list is our default:
//! the `vertical` values of Meta's business profile (OAS `whatsapp_business_profile`) that no
//! prohibited category covers. A vertical name is matched case-insensitively, with spaces and
//! dashes read as underscores.

use super::ids::BusinessId;
use crate::clock::SimTime;
use serde::Serialize;

/// `[rules.onboarding]`.
#[derive(Clone, Debug, Default, serde::Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OnboardingConfig {
    /// Put the scenario's own businesses through the onboarding decision: a business whose
    /// `vertical` is prohibited (in its `country`) is refused, and every send of its numbers
    /// gets 368 (rule `onboarding`). Off by default, so that a scenario can still show a
    /// prohibited business that slipped through and is caught by detection
    /// (`[rules.violations] detection_rate`).
    pub check: bool,
}

/// A vertical the Commerce Policy (or a regional rule) refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Prohibited {
    /// Our key for the vertical (what `POST /_sim/businesses` takes).
    pub vertical: &'static str,
    /// Country the rule applies in (`None`: everywhere).
    pub country: Option<&'static str>,
    /// The policy text behind the refusal, in our words.
    pub reason: &'static str,
}

/// Commerce Policy categories, refused in every country.
pub const PROHIBITED: &[Prohibited] = &[
    p("illegal_products", "Commerce Policy: illegal products or services, or facilitating crime or harm"),
    p("tobacco", "Commerce Policy: tobacco products and tobacco equipment"),
    p("alcohol", "Commerce Policy: alcohol"),
    p("unsafe_supplements", "Commerce Policy: unsafe ingestible supplements (e.g. anabolic steroids, chitosan, comfrey, DHEA, ephedra, human growth hormone)"),
    p("weapons", "Commerce Policy: weapons, ammunition or explosives"),
    p("animals", "Commerce Policy: animals (adoption services excepted)"),
    p("adult_products", "Commerce Policy: adult products or services"),
    p("body_parts_fluids", "Commerce Policy: human body parts or fluids"),
    p("medical_healthcare", "Commerce Policy: medical and healthcare products (medical devices, nicotine products for quitting)"),
    p("sexual_services", "Commerce Policy: sexually suggestive offers or sexual services"),
    p("gambling", "Commerce Policy: real-money gambling (lotteries, online casinos, sports betting, bingo, poker)"),
    p("dating", "Commerce Policy: dating services"),
    p("digital_subscriptions", "Commerce Policy: sale or renewal of digital services such as streaming and subscriptions"),
    p("deceptive_products", "Commerce Policy: deceptive, fake or misleading products"),
    p("currency", "Commerce Policy: real, virtual or fake currency"),
    p("ip_infringement", "Commerce Policy: content infringing third-party intellectual property"),
    r("p2p_lending", "ID", "Refused in Indonesia: P2P lending (pinjol), after abusive debt-collection broadcasts (reported by Indonesian BSPs)"),
    r("herbal_medicine", "ID", "Refused in Indonesia: herbal-medicine businesses, for licensing problems (reported by Indonesian BSPs)"),
    r("leasing", "ID", "Refused in Indonesia: leasing companies, as high risk (reported by Indonesian BSPs)"),
];

const fn p(vertical: &'static str, reason: &'static str) -> Prohibited {
    Prohibited {
        vertical,
        country: None,
        reason,
    }
}

const fn r(vertical: &'static str, country: &'static str, reason: &'static str) -> Prohibited {
    Prohibited {
        vertical,
        country: Some(country),
        reason,
    }
}

/// Verticals accepted everywhere (regional rules aside): the business-profile verticals that no
/// prohibited category covers, plus `retail` (the default world's shoe shop) and a few common
/// ones. `GET /_sim/verticals` lists them.
pub const ALLOWED: &[&str] = &[
    "apparel",
    "automotive",
    "beauty_spa_salon",
    "education",
    "entertainment",
    "event_planning",
    "finance",
    "food_grocery",
    "government",
    "hotel_lodging",
    "nonprofit",
    "professional_services",
    "restaurant",
    "retail",
    "shoes",
    "travel",
    "logistics",
    "telecommunications",
    "other",
];

/// Why onboarding refused a business.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Refusal {
    /// The vertical is prohibited (everywhere or in the business's country).
    Prohibited(Prohibited),
    /// Not a vertical we know: neither allowed nor prohibited.
    UnknownVertical(String),
}

/// Normalises a vertical name: lowercase, spaces and dashes as underscores, trimmed.
pub fn normalize(vertical: &str) -> String {
    vertical
        .trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The prohibition that applies to `vertical` in `country`, if any.
pub fn prohibition(vertical: &str, country: &str) -> Option<Prohibited> {
    let v = normalize(vertical);
    PROHIBITED
        .iter()
        .find(|p| p.vertical == v && p.country.is_none_or(|c| c.eq_ignore_ascii_case(country)))
        .copied()
}

/// The onboarding decision for a business of `vertical` in `country`.
pub fn assess(vertical: &str, country: &str) -> Result<&'static str, Refusal> {
    if let Some(p) = prohibition(vertical, country) {
        return Err(Refusal::Prohibited(p));
    }
    let v = normalize(vertical);
    // A regional prohibition elsewhere is allowed here (e.g. leasing outside Indonesia).
    if let Some(a) = ALLOWED.iter().find(|a| **a == v) {
        return Ok(a);
    }
    if let Some(p) = PROHIBITED.iter().find(|p| p.vertical == v) {
        return Ok(p.vertical);
    }
    Err(Refusal::UnknownVertical(v))
}

/// A business onboarded through `POST /_sim/businesses` (accepted or refused).
#[derive(Clone, Debug, Serialize)]
pub struct Onboarding {
    pub id: BusinessId,
    pub name: String,
    pub vertical: String,
    pub country: String,
    /// `APPROVED` or `REJECTED`, as `account_review_update.decision` spells them.
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(serialize_with = "ser_secs")]
    pub at: SimTime,
}

fn ser_secs<S: serde::Serializer>(t: &SimTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(t.unix_secs())
}

/// The onboarding requests seen so far. Bounded: at most [`Registry::CAPACITY`] are kept
/// (onboarding is a control-API action, not a load path); older ones are dropped and counted.
#[derive(Debug, Default)]
pub struct Registry {
    pub list: Vec<Onboarding>,
    pub dropped: u64,
    next_id: u64,
}

impl Registry {
    pub const CAPACITY: usize = 10_000;

    /// Records a decision and returns it. Ids start far from scenario ids.
    pub fn record(
        &mut self,
        now: SimTime,
        name: &str,
        vertical: &str,
        country: &str,
    ) -> (Onboarding, Result<&'static str, Refusal>) {
        let verdict = assess(vertical, country);
        self.next_id += 1;
        let o = Onboarding {
            id: BusinessId(900_000_000_000_000 + self.next_id),
            name: name.to_string(),
            vertical: normalize(vertical),
            country: country.to_ascii_uppercase(),
            decision: if verdict.is_ok() {
                "APPROVED"
            } else {
                "REJECTED"
            },
            reason: match &verdict {
                Err(Refusal::Prohibited(p)) => Some(p.reason),
                _ => None,
            },
            at: now,
        };
        if self.list.len() >= Self::CAPACITY {
            self.list.remove(0);
            self.dropped += 1;
        }
        self.list.push(o.clone());
        (o, verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p2p_lending_in_indonesia_is_refused_but_allowed_elsewhere() {
        match assess("P2P lending", "ID") {
            Err(Refusal::Prohibited(p)) => {
                assert_eq!(p.vertical, "p2p_lending");
                assert!(p.reason.contains("pinjol"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(assess("p2p_lending", "SG"), Ok("p2p_lending"));
        assert!(assess("leasing", "id").is_err());
        assert!(assess("herbal-medicine", "ID").is_err());
    }

    #[test]
    fn a_shoe_shop_is_accepted_and_commerce_policy_categories_are_refused_everywhere() {
        assert_eq!(assess("shoes", "ID"), Ok("shoes"));
        assert_eq!(assess("Retail", "BR"), Ok("retail"));
        for v in [
            "tobacco",
            "alcohol",
            "weapons",
            "gambling",
            "dating",
            "currency",
            "adult_products",
        ] {
            for c in ["ID", "US", "BR"] {
                assert!(
                    matches!(assess(v, c), Err(Refusal::Prohibited(_))),
                    "{v} {c}"
                );
            }
        }
        assert_eq!(
            PROHIBITED.iter().filter(|p| p.country.is_none()).count(),
            16
        );
    }

    #[test]
    fn unknown_verticals_are_refused_as_unknown() {
        assert_eq!(
            assess("space tourism", "ID"),
            Err(Refusal::UnknownVertical("space_tourism".into()))
        );
    }

    #[test]
    fn registry_records_decisions_with_reasons() {
        let mut reg = Registry::default();
        let (a, _) = reg.record(SimTime(0), "Toko Sepatu", "shoes", "ID");
        let (b, _) = reg.record(SimTime(0), "Pinjam Cepat", "p2p_lending", "ID");
        assert_eq!(a.decision, "APPROVED");
        assert!(a.reason.is_none());
        assert_eq!(b.decision, "REJECTED");
        assert!(b.reason.unwrap().contains("Indonesia"));
        assert_ne!(a.id, b.id);
        assert_eq!(reg.list.len(), 2);
    }
}
