//! User identity and re-registration.
//!
//! Every WhatsApp user has an identity key; Meta exposes a hash of it as
//! `contacts[].identity_key_hash` (inbound) and `statuses[].recipient_identity_key_hash` when a
//! number has the identity check on (`POST /{phone-number-id}/settings`
//! `{"user_identity_change":{"enable_identity_key_check":true}}`) [M:numbers]. When a phone
//! number is re-registered (a recycled number gets a new owner, or the owner reinstalls on a new
//! device) the key changes:
//!
//! - the businesses that talked to the previous owner get a `user_changed_number` system message
//!   (the previous owner's move to a new number) [OAS `IncomingMessageValueSystem`];
//! - with the check on, a send carrying a stale `recipient_identity_key_hash` is accepted and
//!   then fails with 137000 [M:numbers];
//! - with the check on, a send *without* a hash to a user whose identity changed since the
//!   business last acknowledged it is held (accepted, not delivered) until the business
//!   acknowledges: by sending with the new hash, or with the On-Premises style
//!   `PUT /v1/contacts/{wa_id}/identity {"hash"}` (the seed: "blocked from sending to that
//!   account until it acknowledges").
//!
//! Memory: one `u32` generation per user that ever re-registered, one `u32` per (business,
//! user) acknowledgement, and held messages up to `hold_capacity` per number. Users that never
//! re-registered cost nothing, and the send path skips the map while it is empty.

use super::ids::{BusinessId, WaId};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// `[rules.identity]`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Whether numbers start with the identity key check on (Meta's default: off). The
    /// settings endpoint switches it per number.
    pub check: bool,
    /// Messages held per number while waiting for acknowledgements; past it, sends that would
    /// be held fail with 137000 instead.
    pub hold_capacity: usize,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            check: false,
            hold_capacity: 10_000,
        }
    }
}

/// The base64 of 8 hash bytes: 12 characters, like Meta's samples ("eU2Fdi4EMUw=").
pub type KeyHash = [u8; 12];

/// The identity key hash of `user` at `generation` (0 = the first registration).
pub fn key_hash(seed: u64, user: WaId, generation: u32) -> KeyHash {
    let h = super::audience::splitmix(
        seed ^ user.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((generation as u64) << 40) ^ 0x1D,
    );
    let mut out = [0u8; 12];
    base64::engine::general_purpose::STANDARD
        .encode_slice(h.to_be_bytes(), &mut out)
        .expect("8 bytes encode to 12");
    out
}

pub fn key_hash_string(h: &KeyHash) -> String {
    String::from_utf8_lossy(h).into_owned()
}

/// The number the previous owner of a recycled number moved to: same country prefix (all but
/// the last seven digits), the rest from a hash. Deterministic per (seed, user, generation).
pub fn moved_to(seed: u64, user: WaId, generation: u32) -> WaId {
    let tail =
        super::audience::splitmix(seed ^ user.0 ^ ((generation as u64) << 48) ^ 0x3C) % 10_000_000;
    let mut base = user.0 - user.0 % 10_000_000 + tail;
    if base == user.0 {
        base = user.0 - user.0 % 10_000_000 + (tail + 1) % 10_000_000;
    }
    WaId(base)
}

/// Identity generations and acknowledgements, as one portfolio knows them. Every portfolio
/// is told of every re-registration ([`super::Portfolio::reregister`]), so all of them agree
/// on a user's generation without sharing state.
#[derive(Debug, Default)]
pub struct IdentityBook {
    /// Users that re-registered at least once, with their registration count.
    generations: super::ids::IdMap<WaId, u32>,
    /// The generation each business last acknowledged, per user (only for changed users).
    acks: super::ids::IdMap<(BusinessId, WaId), u32>,
}

impl IdentityBook {
    /// The user's current generation (0 if never re-registered). No lookup while nobody has.
    pub fn generation(&self, user: WaId) -> u32 {
        if self.generations.is_empty() {
            return 0;
        }
        self.generations.get(&user).copied().unwrap_or(0)
    }

    /// Re-registers a user; returns the new generation.
    pub fn reregister(&mut self, user: WaId) -> u32 {
        let e = self.generations.entry(user).or_insert(0);
        *e += 1;
        *e
    }

    /// The generation `business` acknowledged for `user` (0: the original identity).
    pub fn acknowledged(&self, business: BusinessId, user: WaId) -> u32 {
        self.acks.get(&(business, user)).copied().unwrap_or(0)
    }

    /// Records an acknowledgement of `generation`. Returns true if it was news.
    pub fn acknowledge(&mut self, business: BusinessId, user: WaId, generation: u32) -> bool {
        let e = self.acks.entry((business, user)).or_insert(0);
        if *e < generation {
            *e = generation;
            true
        } else {
            false
        }
    }
}

/// What the identity rule decides for one send (the number has the check on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityDecision {
    /// Deliver normally.
    Pass,
    /// The request carried the current hash of a changed identity: acknowledge, then deliver.
    Acknowledge(u32),
    /// The request carried a hash that is not the current one: fail with 137000.
    Mismatch,
    /// No hash, and the business has not acknowledged the change: hold.
    Hold,
}

/// The identity rule. No allocation: hashes are compared as 12-byte arrays.
pub fn decide(
    book: &IdentityBook,
    seed: u64,
    business: BusinessId,
    user: WaId,
    given: Option<&str>,
) -> IdentityDecision {
    let generation = book.generation(user);
    match given {
        Some(h) => {
            if h.as_bytes() != key_hash(seed, user, generation) {
                IdentityDecision::Mismatch
            } else if generation > 0 && book.acknowledged(business, user) < generation {
                IdentityDecision::Acknowledge(generation)
            } else {
                IdentityDecision::Pass
            }
        }
        None if generation > 0 && book.acknowledged(business, user) < generation => {
            IdentityDecision::Hold
        }
        None => IdentityDecision::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: BusinessId = BusinessId(1);
    const U: WaId = WaId(6281300000001);

    #[test]
    fn hashes_look_like_metas_and_change_with_generation() {
        let a = key_hash(1, U, 0);
        assert_eq!(a.len(), 12);
        assert_eq!(a[11], b'=');
        assert_ne!(a, key_hash(1, U, 1));
        assert_ne!(a, key_hash(2, U, 0));
        assert_eq!(a, key_hash(1, U, 0));
    }

    #[test]
    fn moved_to_keeps_the_country_prefix_and_differs() {
        let n = moved_to(1, U, 1);
        assert_ne!(n, U);
        assert_eq!(n.0 / 10_000_000, U.0 / 10_000_000);
    }

    #[test]
    fn decisions_before_and_after_reregistration() {
        let mut book = IdentityBook::default();
        let h0 = key_hash_string(&key_hash(9, U, 0));
        assert_eq!(decide(&book, 9, B, U, None), IdentityDecision::Pass);
        assert_eq!(decide(&book, 9, B, U, Some(&h0)), IdentityDecision::Pass);
        assert_eq!(
            decide(&book, 9, B, U, Some("AAAAAAAAAAA=")),
            IdentityDecision::Mismatch
        );
        assert_eq!(book.reregister(U), 1);
        let h1 = key_hash_string(&key_hash(9, U, 1));
        assert_eq!(
            decide(&book, 9, B, U, Some(&h0)),
            IdentityDecision::Mismatch
        );
        assert_eq!(decide(&book, 9, B, U, None), IdentityDecision::Hold);
        assert_eq!(
            decide(&book, 9, B, U, Some(&h1)),
            IdentityDecision::Acknowledge(1)
        );
        assert!(book.acknowledge(B, U, 1));
        assert!(!book.acknowledge(B, U, 1));
        assert_eq!(decide(&book, 9, B, U, None), IdentityDecision::Pass);
        // Another business has not acknowledged.
        assert_eq!(
            decide(&book, 9, BusinessId(2), U, None),
            IdentityDecision::Hold
        );
    }
}
