//! Business-scoped user ids (BSUIDs): the id Meta gives each (business portfolio, user) pair,
//! written `CC.digits` (ISO 3166 alpha-2 country of the user's number, a dot, up to 128
//! alphanumerics; Meta's example `US.13491208655302741918`) [M:bsuid].
//!
//! Meta's derivation is private. Ours must be deterministic (same seed, same ids), different
//! per portfolio, regenerated when the user's identity changes, and resolvable back to the
//! user without a table (a table of every id ever handed out would grow without bound). So the
//! digits are a keyed, invertible permutation of 128 bits: the user's number and identity
//! generation (64 bits) and a check word derived from them and the key (64 bits). The key is
//! the seed and the portfolio's id. Decoding with another portfolio's key yields a check word
//! that does not match (a chance of 2^-64), so another portfolio's BSUID is refused like a
//! made-up one.

use super::audience::splitmix;
use super::errors::ErrorCode;
use super::events::{Rule, UserRef};
use super::ids::{BusinessId, WaId};
use super::message::Addressee;
use super::number::Number;
use super::portfolio::Business;
use super::Rejection;
use crate::clock::SimTime;
use std::fmt;

/// Identity generations above this share one BSUID per number (the bits are spent on the
/// number; 16,383 re-registrations of one number is beyond any run).
const MAX_GENERATION: u32 = (1 << 14) - 1;

/// A BSUID, kept as numbers (24 bytes, `Copy`) and rendered only on the wire: it rides in
/// every status record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId {
    country: [u8; 2],
    /// A parent BSUID (`CC.ENT.digits`), shared by the portfolios of a parent account.
    parent: bool,
    digits: [u64; 2],
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = (u128::from(self.digits[0]) << 64) | u128::from(self.digits[1]);
        let ent = if self.parent { "ENT." } else { "" };
        write!(
            f,
            "{}{}.{ent}{n}",
            self.country[0] as char, self.country[1] as char
        )
    }
}

impl UserId {
    /// Reads a BSUID as a webhook wrote it (`CC.digits` or `CC.ENT.digits`), without a key:
    /// what a client that only saw the text keeps. `None` for anything [`fmt::Display`] would
    /// not have written (letters in the digits, more than 128 bits, a lower-case country).
    pub fn parse(text: &str) -> Option<UserId> {
        let (cc, rest) = text.split_once('.')?;
        let (parent, digits) = match rest.strip_prefix("ENT.") {
            Some(d) => (true, d),
            None => (false, rest),
        };
        let cc = cc.as_bytes();
        if cc.len() != 2 || !cc.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u128 = digits.parse().ok()?;
        Some(UserId {
            country: [cc[0], cc[1]],
            parent,
            digits: [(n >> 64) as u64, n as u64],
        })
    }
}

/// Why a `recipient` value does not name a user of this portfolio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// Not of the form `CC.digits` (or `CC.ENT.digits` for a parent BSUID).
    Malformed,
    /// Well formed, but not a BSUID this portfolio issued for a current identity: made up,
    /// another portfolio's, or the previous identity of a user whose number changed.
    Unknown,
}

/// The portfolio's key: the world's seed and the portfolio's id.
fn key(seed: u64, business: BusinessId) -> u64 {
    splitmix(seed ^ business.0.wrapping_mul(0xA24B_AED4_963E_E407) ^ 0xB5)
}

fn round_key(key: u64, round: u64) -> u64 {
    splitmix(key ^ round.wrapping_mul(0x9FB2_1C65_1E98_DF25))
}

const ROUNDS: u64 = 4;

/// The BSUID of `user` (at identity `generation`) in portfolio `business`.
pub fn user_id(seed: u64, business: BusinessId, user: WaId, generation: u32) -> UserId {
    let k = key(seed, business);
    let plain = (user.0 << 14) | u64::from(generation.min(MAX_GENERATION));
    let (mut l, mut r) = (plain, splitmix(k ^ plain));
    for i in 0..ROUNDS {
        (l, r) = (r, l ^ splitmix(r ^ round_key(k, i)));
    }
    UserId {
        country: country_of(user),
        parent: false,
        digits: [l, r],
    }
}

/// Parent BSUIDs are keyed apart from the account's id used as a portfolio's.
const PARENT_SALT: u64 = 0x454E_5450_4152_454E;

/// The parent BSUID of `user` (at identity `generation`) in parent account `account`: the same
/// keyed permutation, keyed by the account, rendered `CC.ENT.digits` [M:bsuid].
pub fn parent_user_id(seed: u64, account: BusinessId, user: WaId, generation: u32) -> UserId {
    UserId {
        parent: true,
        ..user_id(seed ^ PARENT_SALT, account, user, generation)
    }
}

/// As [`resolve`], for a parent BSUID (`CC.ENT.digits`) of parent account `account`.
pub fn resolve_parent(
    seed: u64,
    account: BusinessId,
    text: &str,
) -> Result<(WaId, u32), Unresolved> {
    let (cc, rest) = text.split_once('.').ok_or(Unresolved::Malformed)?;
    let digits = rest.strip_prefix("ENT.").ok_or(Unresolved::Malformed)?;
    resolve(seed ^ PARENT_SALT, account, &format!("{cc}.{digits}"))
}

/// Whether `text` has the form of a parent BSUID (`CC.ENT.…`).
pub fn is_parent_form(text: &str) -> bool {
    text.get(2..7) == Some(".ENT.")
}

/// Parses a BSUID as given in `recipient` and finds whom it names in `business`:
/// the user and the identity generation it was issued for. The caller compares the generation
/// with the user's current one.
pub fn resolve(seed: u64, business: BusinessId, text: &str) -> Result<(WaId, u32), Unresolved> {
    let (cc, digits) = text.split_once('.').ok_or(Unresolved::Malformed)?;
    let cc_ok = cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase());
    let body_ok = !digits.is_empty()
        && digits.len() <= 128
        && digits.bytes().all(|b| b.is_ascii_alphanumeric());
    if !cc_ok || !body_ok {
        return Err(Unresolved::Malformed);
    }
    // Alphanumeric but not ours (letters, or more than 128 bits): a well-formed id this
    // portfolio never issued.
    let n: u128 = digits.parse().map_err(|_| Unresolved::Unknown)?;
    let k = key(seed, business);
    let (mut l, mut r) = ((n >> 64) as u64, n as u64);
    for i in (0..ROUNDS).rev() {
        (l, r) = (r ^ splitmix(l ^ round_key(k, i)), l);
    }
    if r != splitmix(k ^ l) {
        return Err(Unresolved::Unknown);
    }
    let user = WaId(l >> 14);
    if country_of(user) != cc.as_bytes() {
        return Err(Unresolved::Unknown);
    }
    Ok((user, (l & u64::from(MAX_GENERATION)) as u32))
}

/// The clamp [`user_id`] applies to generations, for comparing a resolved id with a user's
/// current generation.
pub fn clamp_generation(generation: u32) -> u32 {
    generation.min(MAX_GENERATION)
}

/// The ISO 3166 alpha-2 country of a number, by its calling code (the longest prefix wins;
/// `XX`, ISO's user-assigned code, for codes the table lacks). Every BSUID a webhook carries
/// is derived through it, so the table is ordered longest code first and the number's leading
/// digits are computed once per code length: at most three divisions.
pub fn country_of(user: WaId) -> [u8; 2] {
    const PREFIXES: [(u64, u32, [u8; 2]); 12] = [
        (234, 3, *b"NG"),
        (971, 3, *b"AE"),
        (966, 3, *b"SA"),
        (62, 2, *b"ID"),
        (55, 2, *b"BR"),
        (91, 2, *b"IN"),
        (52, 2, *b"MX"),
        (44, 2, *b"GB"),
        (49, 2, *b"DE"),
        (60, 2, *b"MY"),
        (7, 1, *b"RU"),
        (1, 1, *b"US"),
    ];
    let n = user.0;
    let len = n.checked_ilog10().unwrap_or(0) + 1;
    let (mut lead_len, mut lead) = (0, 0);
    for &(prefix, plen, country) in &PREFIXES {
        // A calling code is followed by at least one digit.
        if len <= plen {
            continue;
        }
        if plen != lead_len {
            lead_len = plen;
            lead = n / 10u64.pow(len - plen);
        }
        if lead == prefix {
            return country;
        }
    }
    *b"XX"
}

/// How long after a number last sent to a hiding user's phone number webhooks may show it
/// (Meta: 30 days, renewed by each message) [M:bsuid].
pub const PHONE_CONTACT_WINDOW: crate::clock::Micros = 30 * crate::clock::MICROS_PER_DAY;

impl Business {
    /// The user a send names. A BSUID must be one this portfolio issued for the user's current
    /// identity: malformed, made up, another portfolio's or superseded ids are refused with
    /// 131009, as a malformed `to` is (Meta's code for them is not published).
    pub(super) fn resolve_addressee(
        &self,
        business: BusinessId,
        to: &Addressee,
    ) -> Result<WaId, Rejection> {
        let text = match to {
            Addressee::Phone(w) => return Ok(*w),
            Addressee::UserId(text) => text,
        };
        let refuse = |why: &str| {
            Rejection::rule(
                ErrorCode::ParameterValueInvalid,
                Rule::BsuidRecipient,
                format!("recipient: '{text}' {why}"),
            )
        };
        let resolved = match self.parent_account {
            Some(account) if is_parent_form(text) => resolve_parent(self.cfg.seed, account, text),
            // A parent BSUID to a portfolio that is not enrolled: not one it can use.
            None if is_parent_form(text) => Err(Unresolved::Unknown),
            _ => resolve(self.cfg.seed, business, text),
        };
        match resolved {
            Err(Unresolved::Malformed) => Err(refuse(
                "is not a business-scoped user ID (CC.digits, e.g. US.13491208655302741918)",
            )),
            Ok((user, g)) if g == clamp_generation(self.identities.generation(user)) => Ok(user),
            Ok(_) | Err(Unresolved::Unknown) => {
                Err(refuse("is not a business-scoped user ID of this business"))
            }
        }
    }

    /// The user as number `s` shows them in webhooks at `now`, in an exchange of kind `via`.
    /// A send to the user's phone number renews the 30 days in which a hiding user's phone
    /// may be shown.
    pub(super) fn user_ref(
        &mut self,
        now: SimTime,
        s: &mut Number,
        user: WaId,
        via: Via,
    ) -> UserRef {
        let hides = self.cfg.audience.hides_phone(user);
        if hides && via == Via::Phone {
            s.phone_contacts.insert(user, now);
            if self.cfg.audience.contains(user) {
                self.contact_book.record(user);
            }
        }
        let phone_shown = !hides
            || self.contact_book.contains(user)
            || s.phone_contacts
                .get(&user)
                .is_some_and(|at| at.plus(PHONE_CONTACT_WINDOW) > now);
        let generation = self.identities.generation(user);
        UserRef {
            user_id: user_id(self.cfg.seed, s.business, user, generation),
            parent_user_id: self
                .parent_account
                .map(|a| parent_user_id(self.cfg.seed, a, user, generation)),
            username: self.cfg.audience.username(user),
            phone_shown,
            by_user_id: via == Via::UserId,
        }
    }
}

/// How an exchange with a user came about, for [`Business::user_ref`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Via {
    /// The user wrote, or the platform reports on them.
    User,
    /// The business sent to the user's phone number (`to`).
    Phone,
    /// The business sent to the user's BSUID (`recipient`).
    UserId,
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: BusinessId = BusinessId(7);
    const U: WaId = WaId(6281300000042);

    #[test]
    fn country_is_the_longest_calling_code_followed_by_digits() {
        for (n, cc) in [
            (6281300000042, b"ID"),
            (16505551234, b"US"),
            (79161234567, b"RU"),
            (2348031234567, b"NG"),
            (971501234567, b"AE"),
            (966501234567, b"SA"),
            (5511912345678, b"BR"),
            (919812345678, b"IN"),
            (447911123456, b"GB"),
            (60123456789, b"MY"),
            // 23 and 97 alone are no code of the table; 2 and 9 neither.
            (2301234567, b"XX"),
            (972501234567, b"XX"),
            // A code needs digits after it.
            (62, b"XX"),
            (1, b"XX"),
            (0, b"XX"),
            (71, b"RU"),
        ] {
            assert_eq!(&country_of(WaId(n)), cc, "{n}");
        }
    }

    #[test]
    fn parse_reads_back_what_display_wrote_and_nothing_else() {
        let id = user_id(3, B, U, 2);
        assert_eq!(UserId::parse(&id.to_string()), Some(id));
        let parent = parent_user_id(3, B, U, 0);
        assert_eq!(UserId::parse(&parent.to_string()), Some(parent));
        for bad in [
            "", "US", "us.123", "USA.1", "US.", "US.12a", "US.ENT.", "US.-1",
        ] {
            assert_eq!(UserId::parse(bad), None, "{bad}");
        }
        // More than 128 bits.
        assert_eq!(UserId::parse(&format!("US.{}0", u128::MAX)), None);
    }

    #[test]
    fn looks_like_metas_and_is_stable() {
        let a = user_id(1, B, U, 0).to_string();
        assert!(a.starts_with("ID."), "{a}");
        assert!(a[3..].bytes().all(|b| b.is_ascii_digit()) && a.len() <= 3 + 39);
        assert_eq!(a, user_id(1, B, U, 0).to_string());
        assert_eq!(user_id(1, B, WaId(16505551234), 0).to_string()[..3], *"US.");
        assert_eq!(
            user_id(1, B, WaId(2348012345678), 0).to_string()[..3],
            *"NG."
        );
        assert_eq!(
            user_id(1, B, WaId(8801712345678), 0).to_string()[..3],
            *"XX."
        );
    }

    #[test]
    fn differs_per_portfolio_user_generation_and_seed() {
        let a = user_id(1, B, U, 0);
        assert_ne!(a, user_id(1, BusinessId(8), U, 0));
        assert_ne!(a, user_id(1, B, WaId(U.0 + 1), 0));
        assert_ne!(a, user_id(1, B, U, 1));
        assert_ne!(a, user_id(2, B, U, 0));
    }

    #[test]
    fn parent_bsuids_are_ent_ids_of_the_account_only() {
        let acct = BusinessId(900);
        let p = parent_user_id(1, acct, U, 0).to_string();
        assert!(p.starts_with("ID.ENT."), "{p}");
        assert!(is_parent_form(&p) && !is_parent_form(&user_id(1, acct, U, 0).to_string()));
        assert_eq!(resolve_parent(1, acct, &p), Ok((U, 0)));
        assert_eq!(
            resolve_parent(1, BusinessId(901), &p),
            Err(Unresolved::Unknown)
        );
        // Not a portfolio BSUID of the account's id, and not the same digits either.
        assert_eq!(resolve(1, acct, &p), Err(Unresolved::Malformed));
        let plain = user_id(1, acct, U, 0).to_string();
        assert_ne!(plain[3..], p[7..]);
        assert_eq!(resolve_parent(1, acct, &plain), Err(Unresolved::Malformed));
    }

    #[test]
    fn resolves_back_to_the_user_only_in_its_portfolio() {
        for g in [0, 1, 5] {
            let id = user_id(3, B, U, g).to_string();
            assert_eq!(resolve(3, B, &id), Ok((U, g)));
            assert_eq!(resolve(3, BusinessId(8), &id), Err(Unresolved::Unknown));
            assert_eq!(resolve(4, B, &id), Err(Unresolved::Unknown));
        }
        let us = user_id(3, B, WaId(16505551234), 0).to_string();
        assert_eq!(resolve(3, B, &us), Ok((WaId(16505551234), 0)));
        // Right digits, wrong country.
        let swapped = format!("BR{}", &us[2..]);
        assert_eq!(resolve(3, B, &swapped), Err(Unresolved::Unknown));
    }

    #[test]
    fn malformed_and_made_up_ids() {
        for bad in [
            "",
            "US",
            "US.",
            "us.123",
            "USA.123",
            "US.12-3",
            "6281300000042",
            "US.ENT.1181",
        ] {
            assert_eq!(resolve(1, B, bad), Err(Unresolved::Malformed), "{bad}");
        }
        for unknown in [
            "US.13491208655302741918",
            "ID.abc123",
            "ID.1",
            &"9".repeat(60).replacen('9', "ID.", 1),
        ] {
            assert_eq!(
                resolve(1, B, unknown),
                Err(Unresolved::Unknown),
                "{unknown}"
            );
        }
    }
}
