//! Graph object ids. Meta's ids are decimal strings of up to ~17 digits; we keep them as `u64`
//! (cheap to hash and copy) and print them as strings on the wire.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! graph_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        crate::schema::string_schema!(
            $name,
            "A Graph object id: digits, as a string (a bare integer is accepted too)."
        );

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(IdVisitor).map($name)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                parse_id(s).map($name).ok_or(())
            }
        }
    };
}

graph_id!(
    /// A business portfolio (Meta Business Manager account).
    BusinessId
);
graph_id!(
    /// A WhatsApp Business Account.
    WabaId
);
graph_id!(
    /// A registered business phone number (the `Phone-Number-ID` of the API).
    PhoneNumberId
);
graph_id!(
    /// A message template.
    TemplateId
);

/// Parses a decimal id of 1 to 19 digits.
pub fn parse_id(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

struct IdVisitor;

impl de::Visitor<'_> for IdVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a numeric id, as a string of digits or an integer")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom("ids are not negative"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_id(v).ok_or_else(|| E::custom(format!("'{v}' is not a numeric id")))
    }
}

/// A WhatsApp user id (`wa_id`): the user's phone number in international form, digits only.
/// Fits in a `u64` (E.164 has at most 15 digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct WaId(pub u64);

impl WaId {
    /// Normalises a `to` value as the Cloud API accepts it: `+`, `-`, parentheses, dots and
    /// spaces are ignored; what remains must be 5 to 15 digits.
    pub fn parse_lenient(s: &str) -> Option<WaId> {
        let mut v: u64 = 0;
        let mut n = 0;
        for b in s.bytes() {
            match b {
                b'0'..=b'9' => {
                    n += 1;
                    if n > 15 {
                        return None;
                    }
                    v = v * 10 + (b - b'0') as u64;
                }
                b'+' | b'-' | b'(' | b')' | b' ' | b'.' => {}
                _ => return None,
            }
        }
        if n < 5 || s.trim_start().starts_with("+0") {
            return None;
        }
        Some(WaId(v))
    }
}

impl fmt::Display for WaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for WaId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wa_id_accepts_api_formats() {
        assert_eq!(
            WaId::parse_lenient("+1 (650) 555-1234"),
            Some(WaId(16505551234))
        );
        assert_eq!(
            WaId::parse_lenient("6281234567890"),
            Some(WaId(6281234567890))
        );
        assert_eq!(WaId::parse_lenient("abc"), None);
        assert_eq!(WaId::parse_lenient("123"), None);
        assert_eq!(WaId::parse_lenient("1234567890123456"), None);
    }

    #[test]
    fn ids_deserialize_from_strings_and_integers() {
        #[derive(Deserialize)]
        struct T {
            a: WabaId,
            b: WabaId,
        }
        let t: T = toml::from_str("a = \"102290129340398\"\nb = 7").unwrap();
        assert_eq!(t.a, WabaId(102290129340398));
        assert_eq!(t.b, WabaId(7));
        assert!(toml::from_str::<T>("a = \"x1\"\nb = 1").is_err());
    }
}

/// Hasher for maps keyed by integer ids (`WaId`, phone number ids, …): an Fx-style combine per
/// word and a SplitMix64 finaliser. Several times cheaper than the default SipHash on the send
/// path, and deterministic. Keys are phone numbers and ids, not secrets: a client that crafts
/// colliding recipients only slows its own mock server down.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        super::audience::splitmix(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Rotate-xor-multiply (FxHash's combine), so that tuples of ids do not cancel out.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(n as u64);
    }
}

/// Builds [`IdHasher`]s.
pub type IdBuild = std::hash::BuildHasherDefault<IdHasher>;
/// A map keyed by ids, hashed with [`IdHasher`].
pub type IdMap<K, V> = std::collections::HashMap<K, V, IdBuild>;
/// A set of ids, hashed with [`IdHasher`].
pub type IdSet<K> = std::collections::HashSet<K, IdBuild>;
