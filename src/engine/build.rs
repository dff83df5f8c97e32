//! Builds a world's portfolios from its description, checking what only the whole world can
//! say (unique ids and tokens, one template per name and language, usable numbers).

use super::audience::Audience;
use super::charging::Charging;
use super::config::RulesConfig;
use super::directory::Directory;
use super::eligibility;
use super::enforcement::PortfolioLimits;
use super::events::{DisplayNumber, PhoneMeta};
use super::feedback::NumberDynamics;
use super::ids::{IdMap, TemplateId};
use super::limits::{Gcra, Rate};
use super::number::{Number, SWEEP_MIN_LEN};
use super::policy::PolicyConfig;
use super::portfolio::{Business, Config, Portfolio, ReviewTimer, Waba};
use super::review;
use super::standing::PortfolioStanding;
use super::templates::{Lookup, Template, TemplateBook};
use super::violations;
use super::world::{BusinessSpec, TemplateStatus, WorldSpec};
use crate::clock::{SimTime, MICROS_PER_HOUR, MICROS_PER_SEC};
use crate::pricing::PricingSection;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use std::collections::HashSet;
use std::sync::Arc;

/// A problem in a world description, naming the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct WorldError {
    pub field: String,
    pub message: String,
}

pub(super) fn world_err(field: impl Into<String>, message: impl Into<String>) -> WorldError {
    WorldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Ids of templates created through the API start here (scenario ids are far below).
const API_TEMPLATE_IDS: u64 = 1_000_000_000_000_000;
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

/// Builds every portfolio of `world` and the directory that routes to them. `now` stamps
/// template creation times.
pub fn build(
    world: &WorldSpec,
    setup: &Setup,
    now: SimTime,
) -> Result<(Arc<Config>, Directory, Vec<Portfolio>), WorldError> {
    let Setup {
        rules,
        policy,
        pricing,
        seed,
    } = setup;
    rules.validate().map_err(|(f, m)| world_err(f, m))?;
    policy.validate().map_err(|(f, m)| world_err(f, m))?;
    world
        .audience
        .validate()
        .map_err(|(f, m)| world_err(f, m))?;
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
        book: super::charging::embedded_book()?,
    });
    let mut directory = Directory::default();
    let mut template_ids: HashSet<TemplateId> = HashSet::new();
    let mut next_template_id = API_TEMPLATE_IDS;
    let mut portfolios = Vec::with_capacity(world.businesses.len());
    for (bi, b) in world.businesses.iter().enumerate() {
        directory.add(bi, b)?;
        let p = portfolio(
            &cfg,
            bi,
            b,
            pricing,
            now,
            &mut template_ids,
            &mut next_template_id,
        )?;
        portfolios.push(p);
    }
    // API-created template ids follow the scenario's, one block per portfolio.
    for (i, p) in portfolios.iter_mut().enumerate() {
        p.biz.next_template_id = next_template_id + 1_000 + i as u64 * TEMPLATE_ID_BLOCK;
    }
    Ok((cfg, directory, portfolios))
}

fn portfolio(
    cfg: &Arc<Config>,
    bi: usize,
    b: &BusinessSpec,
    pricing: &PricingSection,
    now: SimTime,
    template_ids: &mut HashSet<TemplateId>,
    next_template_id: &mut u64,
) -> Result<Portfolio, WorldError> {
    let rules = &cfg.rules;
    let bf = format!("businesses[{bi}]");
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
    for (wi, w) in b.wabas.iter().enumerate() {
        let wf = format!("{bf}.wabas[{wi}]");
        let mut book = TemplateBook::default();
        for (ti, t) in w.templates.iter().enumerate() {
            let tf = format!("{wf}.templates[{ti}]");
            let id = match t.id {
                Some(id) => id,
                None => {
                    *next_template_id += 1;
                    TemplateId(*next_template_id)
                }
            };
            if !template_ids.insert(id) {
                return Err(world_err(format!("{tf}.id"), format!("duplicate id {id}")));
            }
            if matches!(book.find(&t.name, &t.language), Lookup::Found(_)) {
                return Err(world_err(
                    format!("{tf}.name"),
                    format!("'{}' already exists in {}", t.name, t.language),
                ));
            }
            let tpl =
                Template::from_spec(t, id, w.id, now).map_err(|m| world_err(tf.clone(), m))?;
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
        for (pi, p) in w.phone_numbers.iter().enumerate() {
            let pf = format!("{wf}.phone_numbers[{pi}]");
            let digits: String = p
                .display_phone_number
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let display = match DisplayNumber::parse(&digits) {
                Some(d) if digits.len() >= 5 => d,
                _ => {
                    return Err(world_err(
                        format!("{pf}.display_phone_number"),
                        format!(
                            "needs 5 to {} digits, not starting with 0",
                            DisplayNumber::MAX_DIGITS
                        ),
                    ))
                }
            };
            let mps = p.throughput_mps.unwrap_or(rules.throughput_mps);
            if mps == 0 {
                return Err(world_err(
                    format!("{pf}.throughput_mps"),
                    "must be at least 1",
                ));
            }
            let idx = numbers.len() as u16;
            numbers.push(Number {
                id: p.id,
                waba: w.id,
                business: b.id,
                display: p.display_phone_number.clone(),
                meta: PhoneMeta { id: p.id, display },
                verified_name: p.verified_name.clone(),
                status: p.status,
                quality: p.quality_rating,
                throughput: Rate::per_second(mps),
                limiter: Gcra::default(),
                name_status: p.name_status.clone(),
                official: p.is_official_business_account,
                profile: p.profile.clone(),
                conversations: IdMap::default(),
                entry_points: IdMap::default(),
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
        });
    }
    // Ids are unique in the world (checked by the directory first).
    numbers.sort_by_key(|n| n.id);
    let currencies = wabas.iter().map(|w| (w.id, w.currency.as_str()));
    let charging = Charging::new(cfg.book.clone(), pricing, currencies)?;
    Ok(Portfolio {
        biz: Business {
            cfg: cfg.clone(),
            id: b.id,
            name: b.name.clone(),
            country: b.country.clone(),
            vertical: b.vertical.clone(),
            verified: b.verified,
            limits: PortfolioLimits::new(b.messaging_limit, numbers.len(), b.verified),
            wabas,
            standing,
            identities: Default::default(),
            reviews,
            dyn_timers: Default::default(),
            dyn_seq: 0,
            charging,
            next_template_id: 0,
            drawn_reregistrations: Vec::new(),
        },
        numbers,
    })
}
