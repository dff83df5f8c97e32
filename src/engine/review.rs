//! Template review: the verdict a template gets after `template_review_delay_s`.
//!
//! Meta reviews templates with classifiers it does not publish. We model the documented
//! rejection reasons with keyword rules (our default; docs/policy-model.md lists them):
//! promotional wording in a UTILITY or AUTHENTICATION template → `INCORRECT_CATEGORY`;
//! content from categories the Commerce Policy prohibits → `ABUSIVE_CONTENT`; get-rich and
//! prize bait → `SCAM`; asking for full card numbers or national identity numbers (or
//! carrying one) → `ABUSIVE_CONTENT`. Matching is on lowercase ASCII words of the header,
//! body, footer and button texts, English and Indonesian.

use super::content;
use super::templates::Template;
use super::world::TemplateCategory;
use serde_json::Value;

/// A review verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    /// Rejected with the `reason` of `message_template_status_update` (and `rejected_reason`).
    Reject(&'static str),
}

/// Promotional wording (not allowed in UTILITY or AUTHENTICATION templates).
const PROMOTIONAL: &[&str] = &[
    "discount",
    "% off",
    "sale",
    "promo",
    "coupon",
    "voucher",
    "special offer",
    "limited time",
    "buy now",
    "shop now",
    "free gift",
    "cashback",
    "flash sale",
    "diskon",
    "potongan harga",
    "gratis ongkir",
    "belanja sekarang",
];

/// Requests for sensitive identifiers (Business Policy: never ask for them).
const SENSITIVE_REQUESTS: &[&str] = &[
    "card number",
    "credit card",
    "debit card",
    "cvv",
    "national id",
    "identity number",
    "social security number",
    "nomor kartu",
    "kartu kredit",
    "nomor induk kependudukan",
    "nomor ktp",
    "nik anda",
];

/// Commerce Policy prohibited categories, by words that name their goods.
const PROHIBITED: &[&str] = &[
    "cigarette",
    "vape",
    "rokok",
    "whisky",
    "vodka",
    "beer",
    "alcohol",
    "firearm",
    "ammunition",
    "explosive",
    "steroid",
    "ephedra",
    "casino",
    "betting",
    "lottery",
    "poker",
    "judi",
    "togel",
    "escort",
    "cannabis",
    "narcotic",
    "counterfeit",
    "replica",
];

/// Scam bait.
const SCAM: &[&str] = &[
    "you have won",
    "you've won",
    "claim your prize",
    "guaranteed return",
    "guaranteed profit",
    "double your money",
    "risk-free investment",
    "selamat anda menang",
    "klaim hadiah",
    "untung pasti",
];

/// Reviews a template. Order: sensitive data (the most serious) first, then prohibited goods,
/// scams, and last the category check.
pub fn review(t: &Template) -> Verdict {
    let text = reviewable_text(t);
    if content::scan(&text).is_some() || contains_any(&text, SENSITIVE_REQUESTS) {
        return Verdict::Reject("ABUSIVE_CONTENT");
    }
    if contains_any(&text, PROHIBITED) {
        return Verdict::Reject("ABUSIVE_CONTENT");
    }
    if contains_any(&text, SCAM) {
        return Verdict::Reject("SCAM");
    }
    if t.category != TemplateCategory::Marketing && contains_any(&text, PROMOTIONAL) {
        return Verdict::Reject("INCORRECT_CATEGORY");
    }
    Verdict::Approve
}

/// Lowercased header, body, footer and button texts, separated by newlines. Runs once per
/// template creation, so allocating is fine.
fn reviewable_text(t: &Template) -> String {
    let mut s = String::new();
    if let Some(h) = &t.header_text {
        s.push_str(h);
        s.push('\n');
    }
    s.push_str(&t.body_text);
    if let Some(comps) = t.components.as_array() {
        for c in comps {
            let kind = c.get("type").and_then(Value::as_str).unwrap_or("");
            if kind.eq_ignore_ascii_case("FOOTER") {
                if let Some(f) = c.get("text").and_then(Value::as_str) {
                    s.push('\n');
                    s.push_str(f);
                }
            }
            if kind.eq_ignore_ascii_case("BUTTONS") {
                for b in c
                    .get("buttons")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(x) = b.get("text").and_then(Value::as_str) {
                        s.push('\n');
                        s.push_str(x);
                    }
                }
            }
        }
    }
    s.to_lowercase()
}

/// Whether `text` holds any needle as a whole word (or phrase): the characters either side of
/// the match must not be letters, so "sale" does not match "wholesale". A trailing "s" is
/// allowed (plurals name the same goods: "cigarettes", "sales").
fn contains_any(text: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| contains_word(text, n))
}

fn contains_word(text: &str, needle: &str) -> bool {
    let tb = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = text[from..].find(needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = start == 0 || !tb[start - 1].is_ascii_alphabetic();
        let after_ok = match tb.get(end) {
            None => true,
            Some(b's') => tb.get(end + 1).is_none_or(|c| !c.is_ascii_alphabetic()),
            Some(c) => !c.is_ascii_alphabetic(),
        };
        // A needle that starts or ends with a non-letter ("% off") carries its own boundary.
        let before_ok = before_ok || !needle.as_bytes()[0].is_ascii_alphabetic();
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimTime;
    use crate::engine::ids::{TemplateId, WabaId};
    use crate::engine::templates::TemplateRequest;
    use crate::engine::world::ParameterFormat;
    use serde_json::json;

    fn template(category: TemplateCategory, body: &str, footer: Option<&str>) -> Template {
        let mut comps = vec![json!({"type": "BODY", "text": body})];
        if let Some(f) = footer {
            comps.push(json!({"type": "FOOTER", "text": f}));
        }
        let req = TemplateRequest {
            name: "t".into(),
            language: "en_US".into(),
            category,
            parameter_format: ParameterFormat::Positional,
            components: Value::Array(comps),
        };
        Template::from_request(&req, TemplateId(1), WabaId(1), SimTime(0)).unwrap()
    }

    use TemplateCategory::*;

    #[test]
    fn plain_utility_and_promotional_marketing_are_approved() {
        let ok = [
            template(Utility, "Your order {{1}} has shipped.", None),
            template(
                Marketing,
                "Flash sale! 50% off all shoes this weekend.",
                None,
            ),
            template(Utility, "Wholesale order {{1}} confirmed.", None),
            template(Authentication, "{{1}} is your verification code.", None),
        ];
        for t in &ok {
            assert_eq!(review(t), Verdict::Approve, "{}", t.body_text);
        }
    }

    #[test]
    fn promotional_utility_is_incorrect_category() {
        for (body, footer) in [
            (
                "Your order shipped. Use coupon SHOES10 for your next buy!",
                None,
            ),
            (
                "Pesanan {{1}} dikirim. Diskon 20% untuk pesanan berikutnya",
                None,
            ),
            (
                "Your order shipped.",
                Some("Shop now at tokosepatu.example"),
            ),
            ("Get 20% off your next order {{1}}", None),
        ] {
            let t = template(Utility, body, footer);
            assert_eq!(review(&t), Verdict::Reject("INCORRECT_CATEGORY"), "{body}");
        }
    }

    #[test]
    fn prohibited_goods_are_abusive_content_and_scams_are_scam() {
        let t = template(Marketing, "New vape flavours in stock!", None);
        assert_eq!(review(&t), Verdict::Reject("ABUSIVE_CONTENT"));
        let t = template(Marketing, "Main judi online, bonus 100%", None);
        assert_eq!(review(&t), Verdict::Reject("ABUSIVE_CONTENT"));
        let t = template(
            Marketing,
            "Congratulations, you have won! Claim your prize",
            None,
        );
        assert_eq!(review(&t), Verdict::Reject("SCAM"));
        let t = template(Marketing, "Guaranteed returns of 30% a month", None);
        assert_eq!(review(&t), Verdict::Reject("SCAM"));
    }

    #[test]
    fn asking_for_card_or_national_id_numbers_is_rejected() {
        for body in [
            "Please reply with your full card number to confirm {{1}}",
            "Kirim nomor KTP dan NIK anda untuk verifikasi",
            "Your card 4111 1111 1111 1111 was charged",
        ] {
            let t = template(Utility, body, None);
            assert_eq!(review(&t), Verdict::Reject("ABUSIVE_CONTENT"), "{body}");
        }
    }

    #[test]
    fn words_match_whole_words_only() {
        assert!(contains_word("big sale today", "sale"));
        assert!(contains_word("sales event", "sale"));
        assert!(!contains_word("wholesale", "sale"));
        assert!(!contains_word("salesman", "sale"));
        assert!(contains_word("get 20% off", "% off"));
        assert!(!contains_word("beerus", "beer"));
        assert!(contains_word("é sale", "sale"));
    }
}
