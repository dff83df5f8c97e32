//! Read models of a portfolio: what `GET /{phone-number-id}`, `GET /{waba-id}` and
//! `GET /_sim/state` show, built from the core's state.

use super::ids::{BusinessId, PhoneNumberId, TemplateId, WabaId};
use super::integrity::StandingView;
use super::number::{Number, NumberCounters};
use super::portfolio::{Business, Portfolio};
use super::world::{MessagingLimitTier, NumberStatus, QualityRating};
use super::Rejection;
use crate::clock::SimTime;
use crate::pricing::CostSummary;
use serde::Serialize;

impl Portfolio {
    /// One number, as `GET /{phone-number-id}` shows it.
    pub fn phone_number(&mut self, id: PhoneNumberId) -> Result<PhoneNumberView, Rejection> {
        let i = self.index(id)?;
        Ok(self.biz.view(&mut self.numbers[i]))
    }

    /// The numbers of a WABA, in the order the world declares them.
    pub fn waba_phone_numbers(&mut self, waba: WabaId) -> Result<Vec<PhoneNumberView>, Rejection> {
        let ids = self
            .biz
            .waba(waba)
            .ok_or_else(|| Rejection::unknown_object(&waba.to_string()))?
            .numbers
            .clone();
        ids.into_iter().map(|id| self.phone_number(id)).collect()
    }

    /// A WABA, as `GET /{waba-id}` shows it.
    pub fn waba_view(&self, waba: WabaId) -> Result<WabaView, Rejection> {
        let w = self
            .biz
            .waba(waba)
            .ok_or_else(|| Rejection::unknown_object(&waba.to_string()))?;
        Ok(WabaView {
            id: w.id,
            name: w.name.clone(),
            currency: w.currency.clone(),
            business_id: self.biz.id,
            phone_numbers: w.numbers.clone(),
        })
    }

    /// The latest instant any of the numbers has seen (the core has no clock).
    pub fn latest(&self) -> SimTime {
        self.numbers
            .iter()
            .map(|s| s.latest)
            .max()
            .unwrap_or_default()
    }

    /// The business, as `GET /_sim/state` shows it at `now`; `tokens` come from the directory.
    pub fn business_view(&mut self, now: SimTime, tokens: Vec<String>) -> BusinessView {
        let b = &mut self.biz;
        let p = &mut b.limits;
        BusinessView {
            id: b.id,
            name: b.name.clone(),
            country: b.country.clone(),
            vertical: b.vertical.clone(),
            verified: b.verified,
            messaging_limit: p.limit.tier.as_str(),
            messaging_limit_used: p.limit.used(now),
            scale_due: p.limit.scale_due.map(|t| t.unix_secs()),
            restricted_until: (p.restricted_until > now).then(|| p.restricted_until.unix_secs()),
            opted_out_users: p.opted_out.len(),
            low_quality_numbers: p.low_quality.iter().copied().collect(),
            wabas: b.waba_ids().collect(),
            tokens,
        }
    }

    /// Every number, by id.
    pub fn number_views(&mut self) -> Vec<PhoneNumberView> {
        let biz = &mut self.biz;
        self.numbers.iter_mut().map(|s| biz.view(s)).collect()
    }

    /// The portfolio's totals for the per-business roll-up of `run` and `simulate` reports.
    pub fn totals(&mut self) -> BusinessTotals {
        let mut t = BusinessTotals {
            standing: self.standing(),
            cost: CostSummary::from_ledgers(
                self.charging().ledgers().map(|(_, l)| l),
                self.charging().markup(),
            ),
            numbers: 0,
            accepted: 0,
            refused: 0,
            delivered: 0,
            read: 0,
            failed_later: 0,
            inbound: 0,
        };
        for n in self.number_views() {
            let c = &n.counters;
            t.numbers += 1;
            t.accepted += c.accepted;
            t.refused += c.rejected.values().sum::<u64>();
            t.delivered += c.delivered;
            t.read += c.read;
            t.failed_later += c.failed.values().sum::<u64>();
            t.inbound += c.inbound;
        }
        t
    }

    /// Every template of every WABA.
    pub fn template_views(&self) -> Vec<TemplateView> {
        let b = &self.biz;
        b.wabas
            .iter()
            .flat_map(|w| w.templates.templates.iter())
            .map(|t| {
                let (q, pauses) = b.template_quality(t.waba, t.id);
                TemplateView {
                    id: t.id,
                    waba_id: t.waba,
                    name: t.name.clone(),
                    language: t.language.clone(),
                    category: t.category.as_str(),
                    status: t.status.as_str(),
                    quality_score: q.map_or("UNKNOWN", |q| q.as_str()),
                    pauses,
                }
            })
            .collect()
    }

    /// A template's quality rating and pauses so far.
    pub fn template_quality(&self, waba: WabaId, id: TemplateId) -> (Option<QualityRating>, u8) {
        self.biz.template_quality(waba, id)
    }
}

impl Business {
    fn view(&mut self, s: &mut Number) -> PhoneNumberView {
        let (messaging_limit, used) =
            super::enforcement::limit_of(&self.cfg.policy, &mut self.limits, s.latest, s);
        // RESTRICTED is what older material calls a number whose limit is used up: it can
        // only answer users who wrote first until the moving 24 h frees capacity.
        let status = match (s.status, messaging_limit.limit()) {
            (NumberStatus::Connected, Some(l)) if used >= l => NumberStatus::Restricted,
            (st, _) => st,
        };
        PhoneNumberView {
            id: s.id,
            waba_id: s.waba,
            business_id: s.business,
            display_phone_number: s.display.clone(),
            verified_name: s.verified_name.clone(),
            status,
            quality_rating: s.quality,
            throughput_mps: (1_000_000 / s.throughput.interval.max(1)) as u32,
            messaging_limit,
            messaging_limit_used: used,
            quality_score: s.dynamics.score,
            throughput_upgrading: s.dynamics.upgrading_until > s.latest,
            flagged_since: s.dynamics.flagged_since.map(|t| t.unix_secs()),
            name_status: s.name_status.clone(),
            is_official_business_account: s.official,
            registered: s.registration.registered,
            code_verification_status: s.registration.code.as_str(),
            is_pin_enabled: s.registration.pin.is_some(),
            counters: s.counters.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    PhoneNumber,
    Waba,
    Template,
}

/// One business portfolio's totals: its standing, what its numbers did (sends accepted and
/// refused, delivered, read, failed after acceptance, users' messages) and its ledger's cost.
#[derive(Clone, Debug)]
pub struct BusinessTotals {
    pub standing: StandingView,
    pub numbers: u64,
    pub accepted: u64,
    /// Sends refused synchronously (any code).
    pub refused: u64,
    pub delivered: u64,
    pub read: u64,
    /// Accepted sends that failed later (any code).
    pub failed_later: u64,
    pub inbound: u64,
    pub cost: CostSummary,
}

#[derive(Clone, Debug, Serialize)]
pub struct PhoneNumberView {
    pub id: PhoneNumberId,
    pub waba_id: WabaId,
    pub business_id: BusinessId,
    pub display_phone_number: String,
    pub verified_name: String,
    pub status: NumberStatus,
    pub quality_rating: QualityRating,
    pub throughput_mps: u32,
    pub messaging_limit: MessagingLimitTier,
    /// Unique users reached outside a service window in the moving 24 h (of the portfolio, or
    /// of the number in legacy per-number mode).
    pub messaging_limit_used: u32,
    /// Recency-weighted negative signals per delivered message (the rating's input).
    pub quality_score: f64,
    /// In the throughput upgrade's maintenance minute (sends get 131057).
    pub throughput_upgrading: bool,
    /// Unix seconds since the number is FLAGGED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged_since: Option<u64>,
    pub name_status: String,
    pub is_official_business_account: bool,
    /// Registered on the Cloud API (sends get 133010 otherwise).
    pub registered: bool,
    pub code_verification_status: &'static str,
    /// A two-step verification PIN is set.
    pub is_pin_enabled: bool,
    pub counters: NumberCounters,
}

#[derive(Clone, Debug, Serialize)]
pub struct WabaView {
    pub id: WabaId,
    pub name: String,
    pub currency: String,
    pub business_id: BusinessId,
    pub phone_numbers: Vec<PhoneNumberId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BusinessView {
    pub id: BusinessId,
    pub name: String,
    pub country: String,
    pub vertical: String,
    pub verified: bool,
    pub messaging_limit: &'static str,
    pub messaging_limit_used: u32,
    /// Unix seconds at which the pending one-step scaling happens (if quality stays good).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_due: Option<u64>,
    /// Unix seconds until which business-initiated messaging is restricted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restricted_until: Option<u64>,
    pub opted_out_users: usize,
    pub low_quality_numbers: Vec<PhoneNumberId>,
    pub wabas: Vec<WabaId>,
    pub tokens: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TemplateView {
    pub id: TemplateId,
    pub waba_id: WabaId,
    pub name: String,
    pub language: String,
    pub category: &'static str,
    pub status: &'static str,
    /// GREEN / YELLOW / RED, or UNKNOWN until there is enough feedback.
    pub quality_score: &'static str,
    /// Quality pauses so far (the third disables).
    pub pauses: u8,
}

#[derive(Clone, Debug, Serialize)]
pub struct StateSnapshot {
    pub businesses: Vec<BusinessView>,
    pub numbers: Vec<PhoneNumberView>,
    pub templates: Vec<TemplateView>,
    pub pending_timers: usize,
}
