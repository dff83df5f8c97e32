//! Content policy: outbound text scanned for sensitive identifiers that WhatsApp's Business
//! Policy forbids businesses to share or ask for: full payment card numbers and national
//! identity numbers (seed: "Do not share or ask for full payment card numbers, financial account
//! numbers, national identity numbers"). Meta documents no scanner; what counts as a hit is our
//! default (see docs/policy-model.md).
//!
//! The scan runs on every send that carries text, so it is allocation-free and exits early: it
//! only does work for runs of 13 or more digits, which ordinary text (and phone numbers, which
//! have at most 15 digits and rarely pass the card-brand and Luhn checks together) seldom has.

use super::templates::TemplateSend;

/// A kind of sensitive identifier found in outbound text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitive {
    /// A full payment card number: 13 to 19 digits, a known card-brand prefix, Luhn-valid.
    PaymentCard,
    /// An Indonesian NIK (Nomor Induk Kependudukan): 16 digits with a valid province code and
    /// date of birth (day + 40 for women).
    NationalId,
}

impl Sensitive {
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitive::PaymentCard => "payment_card_number",
            Sensitive::NationalId => "national_identity_number",
        }
    }

    /// What the policy says, for error details.
    pub fn description(self) -> &'static str {
        match self {
            Sensitive::PaymentCard => "a full payment card number",
            Sensitive::NationalId => "a national identity number (NIK)",
        }
    }
}

/// The longest digit run we look at as one number; longer runs are not card numbers or NIKs.
const MAX_RUN: usize = 19;

/// Finds the first sensitive identifier in `text`, if any.
///
/// A number is a run of digits in which single spaces or dashes may separate groups
/// ("4111 1111 1111 1111", "4111-1111-1111-1111"); any other character ends it.
pub fn scan(text: &str) -> Option<Sensitive> {
    let b = text.as_bytes();
    // Early exit: fewer than 13 digits in the whole text cannot hold a hit.
    if b.len() < 13 {
        return None;
    }
    let mut digits = [0u8; MAX_RUN];
    let mut n = 0usize;
    let mut overflow = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            if n < MAX_RUN {
                digits[n] = c - b'0';
            } else {
                overflow = true;
            }
            n += 1;
        } else {
            let sep =
                (c == b' ' || c == b'-') && n > 0 && b.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !sep {
                if let Some(hit) = classify(&digits[..n.min(MAX_RUN)], overflow) {
                    return Some(hit);
                }
                n = 0;
                overflow = false;
            }
        }
        i += 1;
    }
    classify(&digits[..n.min(MAX_RUN)], overflow)
}

/// Scans the text parameters of a template send (header and body).
pub fn scan_template(send: &TemplateSend) -> Option<Sensitive> {
    send.header
        .iter()
        .chain(send.body.iter())
        .filter_map(|p| p.text.as_deref())
        .find_map(scan)
}

fn classify(d: &[u8], overflow: bool) -> Option<Sensitive> {
    if overflow || d.len() < 13 {
        return None;
    }
    if is_card(d) {
        return Some(Sensitive::PaymentCard);
    }
    if is_nik(d) {
        return Some(Sensitive::NationalId);
    }
    None
}

/// Luhn checksum over decimal digits (values 0..=9).
pub fn luhn_valid(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = x as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !d.is_empty() && sum.is_multiple_of(10)
}

fn prefix(d: &[u8], k: usize) -> u32 {
    d.iter().take(k).fold(0, |a, &x| a * 10 + x as u32)
}

/// Card brands by IIN prefix and length (ISO/IEC 7812 ranges as the brands publish them):
/// Visa, Mastercard, American Express, Discover, JCB, UnionPay, Diners Club. Requiring a brand
/// as well as Luhn keeps long order numbers and phone numbers from counting as cards.
fn is_card(d: &[u8]) -> bool {
    let len = d.len();
    let p1 = prefix(d, 1);
    let p2 = prefix(d, 2);
    let p3 = prefix(d, 3);
    let p4 = prefix(d, 4);
    let brand = match len {
        13 => p1 == 4,
        14 => p2 == 36 || p2 == 38 || p2 == 39 || (300..=305).contains(&p3),
        15 => p2 == 34 || p2 == 37,
        16 => {
            p1 == 4
                || (51..=55).contains(&p2)
                || (2221..=2720).contains(&p4)
                || p4 == 6011
                || p2 == 65
                || (644..=649).contains(&p3)
                || (3528..=3589).contains(&p4)
                || p2 == 62
        }
        17..=19 => {
            (len == 19 && p1 == 4)
                || p4 == 6011
                || p2 == 65
                || (644..=649).contains(&p3)
                || (3528..=3589).contains(&p4)
                || p2 == 62
        }
        _ => false,
    };
    brand && luhn_valid(d)
}

/// Indonesian province codes (the first two digits of a NIK), as Dukcapil assigns them.
const NIK_PROVINCES: &[u32] = &[
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53, 61, 62, 63, 64, 65,
    71, 72, 73, 74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96, 97,
];

/// NIK layout: PP RR DD ddmmyy SSSS (province, regency, district, birth date with day + 40 for
/// women, serial). We check the province, a non-zero regency and district, the date and a
/// non-zero serial; a random 16-digit string passes about 1 time in 40.
fn is_nik(d: &[u8]) -> bool {
    if d.len() != 16 {
        return false;
    }
    let at = |i: usize| d[i] as u32 * 10 + d[i + 1] as u32;
    let province = at(0);
    let regency = at(2);
    let district = at(4);
    let mut day = at(6);
    let month = at(8);
    let serial = prefix(&d[12..], 4);
    if day > 40 {
        day -= 40;
    }
    NIK_PROVINCES.contains(&province)
        && regency > 0
        && district > 0
        && (1..=31).contains(&day)
        && (1..=12).contains(&month)
        && serial > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_valid_card_numbers_are_found_in_any_common_spelling() {
        for t in [
            "4111111111111111",
            "my card: 4111 1111 1111 1111 thanks",
            "4111-1111-1111-1111",
            "amex 378282246310005",
            "mc 5555555555554444.",
        ] {
            assert_eq!(scan(t), Some(Sensitive::PaymentCard), "{t}");
        }
    }

    #[test]
    fn luhn_invalid_or_brandless_digit_runs_are_not_cards() {
        // Luhn-invalid, and not a NIK either (day 78 is impossible).
        assert!(!luhn_valid(&[
            1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8
        ]));
        assert_eq!(scan("ref 1234567812345678"), None);
        assert_eq!(scan("4111111111111112"), None); // one digit off
        assert_eq!(scan("Order 0000000000000000"), None); // Luhn-valid, no brand
        assert_eq!(scan("call +62 812-0000-0001"), None); // phone number
        assert_eq!(scan("6281234567890"), None); // 13-digit Indonesian number
        assert_eq!(scan("41111111111111110000"), None); // 20 digits: too long
        assert_eq!(scan("4111 1111  1111 1111"), None); // double space splits it
        assert_eq!(scan(""), None);
        assert_eq!(scan("hello, your order has shipped"), None);
    }

    #[test]
    fn nik_with_valid_province_and_birth_date_is_a_national_id() {
        // Jawa Barat (32), regency 73, district 01, born 12-05-90 (female: 52), serial 0001.
        assert_eq!(scan("NIK 3273015205900001"), Some(Sensitive::NationalId));
        assert_eq!(scan("NIK 3273011205900001"), Some(Sensitive::NationalId));
        assert_eq!(scan("3273 0152 0590 0001"), Some(Sensitive::NationalId));
    }

    #[test]
    fn sixteen_digits_that_break_the_nik_layout_are_not_national_ids() {
        assert_eq!(scan("9973015205900001"), None); // province 99
        assert_eq!(scan("3273017205900001"), None); // day 72 - 40 = 32
        assert_eq!(scan("3273015213900001"), None); // month 13
        assert_eq!(scan("3273015205900000"), None); // serial 0000
        assert_eq!(scan("327301520590001"), None); // 15 digits
    }

    #[test]
    fn template_parameters_are_scanned() {
        use crate::engine::templates::TemplateParam;
        let p = |t: &str| TemplateParam {
            name: None,
            text: Some(t.into()),
        };
        let mut send = TemplateSend {
            name: "x".into(),
            language: "en".into(),
            header: vec![],
            body: vec![p("Budi"), p("1234567812345678")],
        };
        assert_eq!(scan_template(&send), None);
        send.body[1] = p("4111111111111111");
        assert_eq!(scan_template(&send), Some(Sensitive::PaymentCard));
    }
}
