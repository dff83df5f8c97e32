//! Builds a world's portfolios from a [`ValidWorld`]. Everything that could make a world
//! unbuildable was checked when the `ValidWorld` was made ([`super::validate`]), so building
//! cannot fail.

use super::audience::Audience;
use super::charging::Charging;
use super::config::RulesConfig;
use super::directory::Directory;
use super::eligibility;
use super::enforcement::PortfolioLimits;
use super::events::PhoneMeta;
use super::feedback::NumberDynamics;
use super::ids::IdMap;
use super::limits::{Gcra, Rate};
use super::number::{Number, SWEEP_MIN_LEN};
use super::policy::PolicyConfig;
use super::portfolio::{Business, Config, Portfolio, ReviewTimer, Waba};
use super::review;
use super::standing::PortfolioStanding;
use super::templates::{Template, TemplateBook};
use super::validate::{display_number, ValidWorld};
use super::violations;
use super::world::{BusinessSpec, TemplateStatus};
use crate::clock::{SimTime, MICROS_PER_HOUR, MICROS_PER_SEC};
use crate::pricing::PricingSection;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use std::sync::Arc;

/// Each portfolio numbers the templates it creates in its own block of ids.
const TEMPLATE_ID_BLOCK: u64 = 1 << 40;

/// Everything a world is built from besides its description.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    pub rules: RulesConfig,
    pub policy: PolicyConfig,
    pub pricing: PricingSection,
    pub seed: u64,
}

/// Builds every portfolio of `valid` and the directory that routes to them. `now` stamps
/// template creation times.
pub fn build(valid: &ValidWorld, now: SimTime) -> (Arc<Config>, Directory, Vec<Portfolio>) {
    let world = valid.world();
    let Setup {
        rules,
        policy,
        pricing,
        seed,
    } = valid.setup();
    let cfg = Arc::new(Config {
        pair_rate: Rate::every(
            (rules.pair_interval_s * MICROS_PER_SEC as f64) as u64,
            rules.pair_burst,
        ),
        window_len: rules.service_window_hours * MICROS_PER_HOUR,
        rules: rules.clone(),
        policy: policy.clone(),
        audience: Audience::new(&world.audience, *seed),
        seed: *seed,
        book: valid.book().clone(),
    });
    let mut directory = Directory::default();
    let mut portfolios = Vec::with_capacity(world.businesses.len());
    for (bi, b) in world.businesses.iter().enumerate() {
        directory.add(bi, b);
        portfolios.push(portfolio(&cfg, b, pricing, now));
    }
    // API-created template ids follow the scenario's, one block per portfolio.
    let last = valid.last_template_id();
    for (i, p) in portfolios.iter_mut().enumerate() {
        p.biz.next_template_id = last + 1_000 + i as u64 * TEMPLATE_ID_BLOCK;
    }
    (cfg, directory, portfolios)
}

fn portfolio(
    cfg: &Arc<Config>,
    b: &BusinessSpec,
    pricing: &PricingSection,
    now: SimTime,
) -> Portfolio {
    let rules = &cfg.rules;
    let risk = if eligibility::prohibition(&b.vertical, &b.country).is_some() {
        Some(violations::Violation::ProhibitedVertical)
    } else if !b.bsp.official {
        Some(violations::Violation::UnofficialBsp)
    } else {
        None
    };
    let mut standing = PortfolioStanding::new(risk);
    if rules.onboarding.check {
        if let Some(p) = eligibility::prohibition(&b.vertical, &b.country) {
            standing.refuse_at_onboarding(p.reason);
        }
    }
    let mut wabas = Vec::new();
    let mut numbers = Vec::new();
    let mut reviews = Vec::new();
    for w in &b.wabas {
        let mut book = TemplateBook::default();
        for t in &w.templates {
            let id = t.id.expect("ValidWorld::new gives every template an id");
            let tpl = Template::from_spec(t, id, w.id, now)
                .expect("ValidWorld::new made the same conversion");
            // A template the scenario declares PENDING was just submitted: it gets its review
            // verdict after the delay, like one created through the API.
            if tpl.status == TemplateStatus::Pending {
                reviews.push(ReviewTimer {
                    at: now.plus(rules.template_review_delay_s * MICROS_PER_SEC),
                    waba: w.id,
                    template: id,
                    verdict: review::review(&tpl),
                });
            }
            book.insert(tpl);
        }
        let mut ids = Vec::new();
        for p in &w.phone_numbers {
            let display = display_number(&p.display_phone_number)
                .expect("ValidWorld::new checked the display number");
            let mps = if p.coexistence {
                super::validate::COEXISTENCE_MPS
            } else {
                p.throughput_mps.unwrap_or(rules.throughput_mps)
            };
            let idx = numbers.len() as u16;
            numbers.push(Number {
                id: p.id,
                waba: w.id,
                business: b.id,
                display: p.display_phone_number.clone(),
                meta: PhoneMeta { id: p.id, display },
                verified_name: p.verified_name.clone(),
                status: p.status,
                registration: super::registration::Registration::new(p.registered, p.code_verified),
                quality: p.quality_rating,
                throughput: Rate::per_second(mps),
                limiter: Gcra::default(),
                name_status: p.name_status.clone(),
                official: p.is_official_business_account,
                profile: p.profile.clone(),
                conversations: IdMap::default(),
                entry_points: IdMap::default(),
                phone_contacts: IdMap::default(),
                timers: Default::default(),
                timer_seq: 0,
                msg_seq: 0,
                rng: Pcg64Mcg::seed_from_u64(cfg.seed ^ p.id.0.rotate_left(17)),
                counters: Default::default(),
                dynamics: NumberDynamics::new(&cfg.policy, b.messaging_limit, idx),
                last_sweep: now,
                sweep_at_len: SWEEP_MIN_LEN,
                latest: now,
                identity_check: rules.identity.check,
                coexistence: p.coexistence,
                held: Vec::new(),
            });
            ids.push(p.id);
        }
        wabas.push(Waba {
            id: w.id,
            name: w.name.clone(),
            currency: w.currency.clone(),
            numbers: ids,
            templates: book,
            feedback: IdMap::default(),
            mm_onboarded: w.marketing_messages_onboarded,
            mm_only: w.disable_marketing_messages_on_cloud_api,
            pacing: IdMap::default(),
            utility_paused_at: None,
        });
    }
    // Ids are unique in the world (checked by ValidWorld::new).
    numbers.sort_by_key(|n| n.id);
    let currencies = wabas.iter().map(|w| (w.id, w.currency.as_str()));
    let charging = Charging::new(cfg.book.clone(), pricing, currencies)
        .expect("ValidWorld::new priced these WABAs with the same section and cards");
    let mut portfolio = Portfolio {
        biz: Business {
            cfg: cfg.clone(),
            id: b.id,
            name: b.name.clone(),
            country: b.country.clone(),
            vertical: b.vertical.clone(),
            verified: b.verified,
            parent_account: b.parent_bsuid_account,
            contact_book: super::contact_book::ContactBook::new(b.contact_book),
            limits: PortfolioLimits::new(b.messaging_limit, numbers.len(), b.verified),
            wabas,
            standing,
            identities: Default::default(),
            reviews,
            timers: Default::default(),
            charging,
            next_template_id: 0,
            drawn_reregistrations: Vec::new(),
        },
        numbers,
    };
    for w in &b.wabas {
        for t in &w.templates {
            if let Some(r) = &t.recategorise {
                let id = t.id.expect("ValidWorld::new gives every template an id");
                portfolio.biz.schedule_recategorisation(now, w.id, id, r);
            }
        }
    }
    portfolio
}
