//! [`Directory`]: which portfolio a token, a phone number or a WABA belongs to. Immutable once
//! the world is built; every door routes requests through it.

use super::ids::{BusinessId, IdMap, PhoneNumberId, WabaId};
use super::world::BusinessSpec;
use super::Rejection;
use rustc_hash::FxHashMap;

#[derive(Debug, Default)]
pub struct Directory {
    tokens: FxHashMap<String, BusinessId>,
    businesses: IdMap<BusinessId, usize>,
    /// The business of each portfolio, by index.
    owners: Vec<BusinessId>,
    numbers: IdMap<PhoneNumberId, usize>,
    wabas: IdMap<WabaId, usize>,
    /// Every phone number id, sorted (deterministic iteration).
    number_order: Vec<PhoneNumberId>,
    /// The parent BSUID account of each enrolled portfolio, by portfolio index.
    parents: Vec<Option<BusinessId>>,
}

impl Directory {
    /// Registers business `b`, the `index`-th portfolio. Its ids and tokens are not taken
    /// (checked by [`ValidWorld::new`](super::validate::ValidWorld::new)).
    pub(super) fn add(&mut self, index: usize, b: &BusinessSpec) {
        self.owners.push(b.id);
        self.parents.push(b.parent_bsuid_account);
        self.businesses.insert(b.id, index);
        for t in &b.tokens {
            self.tokens.insert(t.clone(), b.id);
        }
        for w in &b.wabas {
            self.wabas.insert(w.id, index);
            for p in &w.phone_numbers {
                self.numbers.insert(p.id, index);
                let at = self.number_order.partition_point(|n| *n < p.id);
                self.number_order.insert(at, p.id);
            }
        }
    }

    /// The business a bearer token acts for.
    pub fn authorize(&self, token: &str) -> Option<BusinessId> {
        self.tokens.get(token).copied()
    }

    /// Tokens of `business`, sorted.
    pub fn tokens_of(&self, business: BusinessId) -> Vec<String> {
        let mut t: Vec<String> = self
            .tokens
            .iter()
            .filter(|(_, b)| **b == business)
            .map(|(t, _)| t.clone())
            .collect();
        t.sort();
        t
    }

    /// The portfolio of `business`.
    pub fn business(&self, business: BusinessId) -> Option<usize> {
        self.businesses.get(&business).copied()
    }

    /// The portfolio that owns phone number `id`, if any.
    pub fn number(&self, id: PhoneNumberId) -> Option<usize> {
        self.numbers.get(&id).copied()
    }

    /// The portfolio that owns WABA `id`, if any.
    pub fn waba(&self, id: WabaId) -> Option<usize> {
        self.wabas.get(&id).copied()
    }

    /// The portfolio of number `id`, which `business` must own: 100/33 for an unknown id, 200
    /// (permission) for another portfolio's.
    pub fn number_of(&self, business: BusinessId, id: PhoneNumberId) -> Result<usize, Rejection> {
        self.owned(business, id, self.number(id))
    }

    /// The portfolio of WABA `id`, which `business` must own (as [`Self::number_of`]).
    pub fn waba_of(&self, business: BusinessId, id: WabaId) -> Result<usize, Rejection> {
        self.owned(business, id, self.waba(id))
    }

    fn owned(
        &self,
        business: BusinessId,
        id: impl std::fmt::Display,
        found: Option<usize>,
    ) -> Result<usize, Rejection> {
        let i = found.ok_or_else(|| Rejection::unknown_object(&id.to_string()))?;
        if self.owners[i] != business {
            return Err(Rejection::permission(id));
        }
        Ok(i)
    }

    /// The parent BSUID account `business` is enrolled in, and every portfolio enrolled in it
    /// (in the world's order); `None` when it is not enrolled.
    pub fn parent_account(&self, business: BusinessId) -> Option<(BusinessId, Vec<BusinessId>)> {
        let account = (*self.parents.get(self.business(business)?)?)?;
        let enrolled = self
            .owners
            .iter()
            .zip(&self.parents)
            .filter(|(_, p)| **p == Some(account))
            .map(|(b, _)| *b)
            .collect();
        Some((account, enrolled))
    }

    /// Every phone number id, sorted.
    pub fn numbers(&self) -> &[PhoneNumberId] {
        &self.number_order
    }
}
