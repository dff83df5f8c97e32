//! Interned names of rate cards, markets and currencies.
//!
//! Every charge and ledger line names its card, market and currency. A run prices millions of
//! messages with a few dozen distinct names, so each distinct name is stored once for the life
//! of the process and a [`Name`] is a copyable reference to it: building, copying and dropping
//! charges costs no allocation and no reference counting (an `Arc<str>` per field cost an
//! atomic increment and decrement per copy, several per delivered message).
//!
//! The memory kept is bounded by the distinct names ever seen: the embedded cards' (about two
//! hundred short strings) plus those of user cards and of reports read back.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// An interned name; compares, orders and hashes as its text.
#[derive(Clone, Copy)]
pub struct Name(&'static str);

fn interned() -> &'static Mutex<HashSet<&'static str>> {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    NAMES.get_or_init(Default::default)
}

impl Name {
    /// The empty name (no market, no card). Equal to `Name::new("")`: equality falls back to
    /// the text.
    pub const EMPTY: Name = Name("");

    /// The interned copy of `s` (stored on first use).
    pub fn new(s: &str) -> Name {
        let mut set = interned().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&k) = set.get(s) {
            return Name(k);
        }
        let k: &'static str = Box::leak(s.to_owned().into_boxed_str());
        set.insert(k);
        Name(k)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name::new(s)
    }
}

impl PartialEq for Name {
    fn eq(&self, o: &Name) -> bool {
        // Interned: equal text is the same pointer; the text comparison is a safety net.
        std::ptr::eq(self.0, o.0) || self.0 == o.0
    }
}
impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, o: &str) -> bool {
        self.0 == o
    }
}
impl PartialEq<&str> for Name {
    fn eq(&self, o: &&str) -> bool {
        self.0 == *o
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, o: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Name {
    fn cmp(&self, o: &Name) -> std::cmp::Ordering {
        self.0.cmp(o.0)
    }
}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Name::new(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_copy_per_text_and_text_semantics() {
        let a = Name::new("Indonesia");
        let b = Name::new(&String::from("Indonesia"));
        assert!(std::ptr::eq(a.as_str(), b.as_str()), "interned once");
        assert_eq!(a, b);
        assert_ne!(a, Name::new("India"));
        assert!(Name::new("India") < a);
        assert_eq!(a, "Indonesia");
        assert_eq!(format!("{a} {a:?}"), "Indonesia \"Indonesia\"");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"Indonesia\"");
        let back: Name = serde_json::from_str(&json).unwrap();
        assert!(std::ptr::eq(back.as_str(), a.as_str()));
    }
}
