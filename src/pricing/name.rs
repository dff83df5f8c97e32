//! Short names held inline: rate cards, markets, currencies (and the engine's display digits).
//!
//! Every charge, conversation and ledger total names its card, market and currency. A [`Name`]
//! is the text itself in a fixed 32-byte array, so it is `Copy`: building, copying, comparing
//! and dropping one touches no allocation, no reference count and no shared table. The longest
//! name in the embedded cards is 32 bytes ("Rest of Central & Eastern Europe"); a card whose
//! name or market name is longer is refused when it is loaded (see [`Name::try_new`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A name of at most [`Name::CAPACITY`] bytes, compared, ordered and shown as its text.
///
/// The bytes after the text are zero (text never contains a NUL byte), so comparing the arrays
/// compares the texts: a shorter prefix sorts first, as with `str`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name([u8; Name::CAPACITY]);

impl Name {
    /// Longest name held, in bytes.
    pub const CAPACITY: usize = 32;

    /// The empty name (no market, no card).
    pub const EMPTY: Name = Name([0; Name::CAPACITY]);

    /// `s` as a name, or `None` if it is longer than [`Self::CAPACITY`] bytes or contains a
    /// NUL byte.
    pub fn try_new(s: &str) -> Option<Name> {
        if s.len() > Self::CAPACITY || s.as_bytes().contains(&0) {
            return None;
        }
        let mut b = [0; Self::CAPACITY];
        b[..s.len()].copy_from_slice(s.as_bytes());
        Some(Name(b))
    }

    /// `s` as a name, for text known to fit (constants, phone digits). Text longer than
    /// [`Self::CAPACITY`] bytes is cut at the last character boundary that fits, and NUL bytes
    /// end it: where a cut name would be wrong (user cards, reports read back), use
    /// [`Self::try_new`] and report the error.
    pub fn new(s: &str) -> Name {
        let s = s.split('\0').next().unwrap_or("");
        let mut end = s.len().min(Self::CAPACITY);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Name::try_new(&s[..end]).unwrap_or(Name::EMPTY)
    }

    pub fn len(&self) -> usize {
        self.0
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(Self::CAPACITY)
    }

    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }

    pub fn as_str(&self) -> &str {
        // Built from a `str` cut at a character boundary: always UTF-8.
        std::str::from_utf8(&self.0[..self.len()]).unwrap_or("")
    }
}

impl Default for Name {
    fn default() -> Name {
        Name::EMPTY
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name::new(s)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, o: &str) -> bool {
        self.as_str() == o
    }
}
impl PartialEq<&str> for Name {
    fn eq(&self, o: &&str) -> bool {
        self.as_str() == *o
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Name::try_new(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is longer than {} bytes (or contains NUL), too long for a card, market or currency name",
                Name::CAPACITY
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_semantics() {
        let a = Name::new("Indonesia");
        let b = Name::new(&String::from("Indonesia"));
        assert_eq!(a, b);
        assert_ne!(a, Name::new("India"));
        assert!(Name::new("India") < a);
        assert!(Name::new("Indonesi") < a, "a prefix sorts first");
        assert!(Name::EMPTY < a);
        assert_eq!(a, "Indonesia");
        assert_eq!((a.len(), a.is_empty()), (9, false));
        assert!(Name::EMPTY.is_empty() && Name::new("").is_empty());
        assert_eq!(format!("{a} {a:?}"), "Indonesia \"Indonesia\"");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"Indonesia\"");
        let back: Name = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn capacity_is_checked() {
        let longest = "Rest of Central & Eastern Europe";
        assert_eq!(longest.len(), Name::CAPACITY);
        assert_eq!(Name::try_new(longest).unwrap(), longest);
        assert_eq!(Name::try_new(&format!("{longest}!")), None);
        assert_eq!(Name::try_new("a\0b"), None);
        assert!(serde_json::from_str::<Name>(&format!("\"{longest}!\"")).is_err());
        // `new` cuts at a character boundary: 31 ASCII bytes, then a 2-byte character.
        let cut = Name::new(&format!("{}é", "x".repeat(31)));
        assert_eq!(cut.as_str(), "x".repeat(31));
    }
}
