//! Turns what the engine does during a simulation into the report's series: hourly counts by
//! outcome, state timelines sampled every simulated hour, and annotations saying which rule
//! fired where. Memory is one counter per hour per series plus one entry per state *change*,
//! so it does not grow with the number of messages.

use super::report::{
    Annotation, BusinessResult, CategoryChangeAt, CostSample, FeedbackDay, NumberTimeline,
    PacingHour, PhaseResult, SimReport, StateChange, TemplateChange, TemplateTimeline, Totals,
    REPORT_SCHEMA_VERSION,
};
use super::traffic::PhaseOutline;
use crate::clock::{SimTime, MICROS_PER_HOUR};
use crate::engine::errors::ErrorCode;
use crate::engine::events::{CategoryChange, DeliveryStatus, Event, EventBody, MessageInfo};
use crate::engine::ids::{TemplateId, WabaId};
use crate::engine::pacing::PacingStep;
use crate::engine::Portfolios as Engine;
use crate::engine::Sink;
use crate::scenario::Scenario;
use crate::traffic::policy::{Class, Outcome, RetryReason};
use crate::traffic::LoadPlan;
use std::collections::{BTreeMap, BTreeSet};

/// At most this many annotations are kept; later ones are counted in `annotations_dropped`.
const MAX_ANNOTATIONS: usize = 2_000;

/// What the simulator keeps of a core call: each status as a small note (the report counts
/// them; it needs no copy of the message record), other events whole. Decisions are not kept:
/// the report is built from statuses, events and the core's counters.
#[derive(Debug, Default)]
pub struct Tally {
    pub statuses: Vec<StatusNote>,
    pub events: Vec<Event>,
    /// Template pacing steps: held, released, dropped messages by template.
    pub pacing: Vec<(SimTime, TemplateId, PacingStep)>,
    /// The earliest deadline a call set.
    pub wake_at: Option<SimTime>,
}

/// A message status as the report counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusNote {
    pub at: SimTime,
    pub status: DeliveryStatus,
    /// For `failed`: the code.
    pub error: Option<ErrorCode>,
}

impl Tally {
    pub fn clear(&mut self) {
        self.statuses.clear();
        self.events.clear();
        self.pacing.clear();
        self.wake_at = None;
    }
}

impl Sink for Tally {
    fn status(
        &mut self,
        at: SimTime,
        _waba: WabaId,
        _info: &MessageInfo,
        status: DeliveryStatus,
        error: Option<ErrorCode>,
    ) {
        self.statuses.push(StatusNote { at, status, error });
    }

    fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    fn decision(&mut self, _: crate::engine::events::Decision) {}

    fn wake(&mut self, at: SimTime) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    fn pacing(&mut self, at: SimTime, _waba: WabaId, template: TemplateId, step: PacingStep) {
        self.pacing.push((at, template, step));
    }
}

/// Hourly series, one value per simulated hour since the start.
#[derive(Default)]
pub struct Hourly {
    pub ok: Vec<u64>,
    pub throttled: Vec<u64>,
    pub refused: Vec<u64>,
    pub failed: Vec<u64>,
    pub delivered: Vec<u64>,
    pub read: Vec<u64>,
    pub failed_async: Vec<u64>,
    pub inbound: Vec<u64>,
}

fn bump(v: &mut Vec<u64>, i: usize) {
    if v.len() <= i {
        v.resize(i + 1, 0);
    }
    v[i] += 1;
}

#[derive(Default)]
struct PhaseCounts {
    messages: u64,
    requests: [u64; 4],
    codes: BTreeMap<String, u64>,
    retries: BTreeMap<String, u64>,
    gave_up: u64,
    no_window: u64,
}

struct NumberTrack {
    id: String,
    last: Option<StateChange>,
    changes: Vec<StateChange>,
}

pub struct Collector {
    start: SimTime,
    hourly: Hourly,
    phases: Vec<PhaseCounts>,
    totals: Totals,
    numbers: Vec<NumberTrack>,
    templates: BTreeMap<u64, TemplateTimeline>,
    annotations: Vec<Annotation>,
    annotations_dropped: u64,
    seen: BTreeSet<String>,
    phase_names: Vec<String>,
    /// Declared streams: name and phase indices, summed into the report's `streams`.
    streams: Vec<(String, Vec<usize>)>,
    cost_daily: Vec<CostSample>,
    /// Cumulative (blocks, reports, opt-outs) over all numbers at the last sample of each day:
    /// the engine counts feedback per number, and a day's figure is the difference.
    feedback_cum: Vec<[u64; 3]>,
}

impl Collector {
    pub fn new(start: SimTime, engine: &Engine, plan: &LoadPlan) -> Collector {
        let snap = engine.snapshot();
        let mut c = Collector {
            start,
            hourly: Hourly::default(),
            phases: plan.phases.iter().map(|_| PhaseCounts::default()).collect(),
            totals: Totals::default(),
            numbers: snap
                .numbers
                .iter()
                .map(|n| NumberTrack {
                    id: n.id.to_string(),
                    last: None,
                    changes: Vec::new(),
                })
                .collect(),
            templates: BTreeMap::new(),
            annotations: Vec::new(),
            annotations_dropped: 0,
            seen: BTreeSet::new(),
            phase_names: plan.phases.iter().map(|p| p.name.clone()).collect(),
            streams: plan
                .streams
                .iter()
                .filter(|s| s.declared)
                .map(|s| (s.name.clone(), s.phases.clone()))
                .collect(),
            cost_daily: Vec::new(),
            feedback_cum: Vec::new(),
        };
        c.tick(start, engine);
        if engine.rules().onboarding.check {
            for b in engine.standings() {
                if let Some(p) = crate::engine::eligibility::prohibition(&b.vertical, &b.country) {
                    c.annotate(
                        start,
                        "onboarding",
                        &b.name,
                        format!(
                            "business {} ({}, {}) refused at onboarding: {}; its sends get 368",
                            b.name, b.vertical, b.country, p.reason
                        ),
                    );
                }
            }
        }
        c
    }

    fn hour(&self, t: SimTime) -> usize {
        (t.since(self.start) / MICROS_PER_HOUR) as usize
    }

    fn annotate(&mut self, t: SimTime, rule: &str, subject: &str, text: String) {
        if self.annotations.len() >= MAX_ANNOTATIONS {
            self.annotations_dropped += 1;
            return;
        }
        self.annotations.push(Annotation {
            t: t.unix_secs(),
            hour: self.hour(t) as u64,
            rule: rule.to_string(),
            subject: subject.to_string(),
            text,
        });
    }

    pub fn message(&mut self, phase: usize) {
        self.phases[phase].messages += 1;
        self.totals.messages += 1;
    }

    /// A message's first attempt addressed by BSUID (`recipient`).
    pub fn by_user_id(&mut self) {
        self.totals.sent_by_user_id += 1;
    }

    /// A block request blocked its user.
    pub fn user_blocked(&mut self) {
        self.totals.users_blocked += 1;
    }

    pub fn request(&mut self, now: SimTime, phase: usize, outcome: Outcome) {
        let h = self.hour(now);
        let class = outcome.class();
        self.phases[phase].requests[class as usize] += 1;
        self.totals.requests += 1;
        let code = match outcome {
            Outcome::Ok => {
                bump(&mut self.hourly.ok, h);
                self.totals.ok += 1;
                return;
            }
            Outcome::Throttled(c) => {
                bump(&mut self.hourly.throttled, h);
                self.totals.throttled += 1;
                c
            }
            Outcome::Refused(c) => {
                bump(&mut self.hourly.refused, h);
                self.totals.refused += 1;
                c
            }
            Outcome::Failed(_) => {
                bump(&mut self.hourly.failed, h);
                self.totals.failed += 1;
                0
            }
        };
        let key = code.to_string();
        *self.phases[phase].codes.entry(key.clone()).or_default() += 1;
        *self.totals.codes.entry(key.clone()).or_default() += 1;
        let first = format!("{}:{key}", self.phase_names[phase]);
        if self.seen.insert(first) {
            let name = self.phase_names[phase].clone();
            self.annotate(
                now,
                &format!("{} {key}", class.name()),
                &name,
                format!(
                    "first {} {key} in phase \"{name}\" ({})",
                    class.name(),
                    crate::engine::errors::ErrorCode::from_code(code as u32)
                        .map_or("unknown code", |c| c.title())
                ),
            );
        }
    }

    /// The rule behind a synchronous refusal or throttle (see `Totals::refused_by_rule`).
    pub fn refusal_rule(&mut self, rule: Option<crate::engine::events::Rule>) {
        let name = rule.map_or("unknown", |r| r.as_str());
        if let Some(n) = self.totals.refused_by_rule.get_mut(name) {
            *n += 1;
        } else {
            self.totals.refused_by_rule.insert(name.to_string(), 1);
        }
    }

    pub fn retry(&mut self, phase: usize, reason: RetryReason) {
        *self.phases[phase]
            .retries
            .entry(reason.name().to_string())
            .or_default() += 1;
        self.totals.retries += 1;
    }

    pub fn gave_up(&mut self, phase: usize) {
        self.phases[phase].gave_up += 1;
        self.totals.gave_up += 1;
    }

    /// A window reply of `phase` found nobody to answer and was not sent.
    pub fn no_window(&mut self, phase: usize) {
        self.phases[phase].no_window += 1;
    }

    /// Counts one message status.
    fn status(&mut self, at: SimTime, status: DeliveryStatus, error: Option<ErrorCode>) {
        let h = self.hour(at);
        match status {
            DeliveryStatus::Sent => self.totals.sent += 1,
            DeliveryStatus::Delivered => {
                bump(&mut self.hourly.delivered, h);
                self.totals.delivered += 1;
            }
            DeliveryStatus::Read => {
                bump(&mut self.hourly.read, h);
                self.totals.read += 1;
            }
            DeliveryStatus::Failed => {
                bump(&mut self.hourly.failed_async, h);
                let code = error.map_or(0, ErrorCode::code);
                *self
                    .totals
                    .failed_async
                    .entry(code.to_string())
                    .or_default() += 1;
            }
        }
    }

    /// Counts one pacing step on the template's timeline; the first hold of each template is
    /// annotated.
    fn paced(&mut self, at: SimTime, template: TemplateId, step: PacingStep) {
        let h = self.hour(at) as u64;
        match step {
            PacingStep::Held => self.totals.paced_held += 1,
            PacingStep::Released => self.totals.paced_released += 1,
            PacingStep::Dropped => self.totals.paced_dropped += 1,
        }
        let tl = self
            .templates
            .entry(template.0)
            .or_insert_with(|| TemplateTimeline {
                id: template.0.to_string(),
                ..TemplateTimeline::default()
            });
        if tl.pacing.last().is_none_or(|p| p.hour != h) {
            tl.pacing.push(PacingHour {
                hour: h,
                ..PacingHour::default()
            });
        }
        let Some(p) = tl.pacing.last_mut() else {
            return;
        };
        match step {
            PacingStep::Held => p.held += 1,
            PacingStep::Released => p.released += 1,
            PacingStep::Dropped => p.dropped += 1,
        }
        if step == PacingStep::Held && self.seen.insert(format!("pacing:{}", template.0)) {
            let subject = format!("{} ({})", tl.name, tl.language);
            self.annotate(
                at,
                "template_pacing",
                &subject,
                format!(
                    "template {subject}: sends past the pacing threshold held for quality assessment (message_status held_for_quality_assessment)"
                ),
            );
        }
    }

    /// Takes in what one core call did.
    pub fn effects(&mut self, fx: &Tally) {
        for n in &fx.statuses {
            self.status(n.at, n.status, n.error);
        }
        for &(at, template, step) in &fx.pacing {
            self.paced(at, template, step);
        }
        for ev in &fx.events {
            let h = self.hour(ev.at);
            match &ev.body {
                // Statuses come as notes (above).
                EventBody::Status { .. } => {}
                EventBody::Inbound { user, .. } => {
                    bump(&mut self.hourly.inbound, h);
                    self.totals.inbound += 1;
                    if !user.phone_shown {
                        self.totals.inbound_phone_hidden += 1;
                    }
                }
                // Reported with `user_changed_number`, which is counted.
                EventBody::UserChangedUserId { .. } | EventBody::UserIdUpdate { .. } => {}
                // Opt-outs are counted from the engine's counters; the STOP itself is inbound.
                EventBody::UserPreference { .. } => {}
                EventBody::TemplatePause {
                    template,
                    name,
                    language,
                    category,
                    status,
                    title,
                    description,
                } => {
                    let st = enum_text(status);
                    let tl = self
                        .templates
                        .entry(template.0)
                        .or_insert_with(|| TemplateTimeline {
                            id: template.0.to_string(),
                            name: name.clone(),
                            language: language.clone(),
                            category: enum_text(category),
                            changes: Vec::new(),
                            pacing: Vec::new(),
                            category_changes: Vec::new(),
                        });
                    tl.changes.push(TemplateChange {
                        t: ev.at.unix_secs(),
                        hour: h as u64,
                        status: st.clone(),
                        reason: Some(title.to_string()),
                    });
                    let subject = format!("{name} ({language})");
                    self.annotate(
                        ev.at,
                        "template_pausing",
                        &subject,
                        format!("template {subject}: {title} → {st} ({description})"),
                    );
                }
                EventBody::VolumeTier(t) => {
                    let subject = format!("{} {}", &*t.market, t.category);
                    self.annotate(
                        ev.at,
                        "volume_tier",
                        &subject,
                        format!(
                            "VOLUME_BASED_PRICING_TIER_UPDATE: {} {} messages this month reached tier {} (band {}, {} off the list rate)",
                            &*t.market,
                            t.category,
                            t.tier.index,
                            t.tier.band(),
                            t.tier.discount
                        ),
                    );
                }
                EventBody::TemplateCategoryUpdate {
                    template,
                    name,
                    language,
                    new_category,
                    change,
                } => {
                    let subject = format!("{name} ({language})");
                    if let CategoryChange::Done { previous } = change {
                        let hour = self.hour(ev.at) as u64;
                        let tl =
                            self.templates
                                .entry(template.0)
                                .or_insert_with(|| TemplateTimeline {
                                    id: template.0.to_string(),
                                    name: name.clone(),
                                    language: language.clone(),
                                    category: previous.as_str().to_string(),
                                    ..TemplateTimeline::default()
                                });
                        tl.category_changes.push(CategoryChangeAt {
                            t: ev.at.unix_secs(),
                            hour,
                            from: previous.as_str().to_string(),
                            to: new_category.as_str().to_string(),
                        });
                    }
                    let text = match change {
                        CategoryChange::Notice { correct, effective } => format!(
                            "template {subject}: Meta will change its category {} → {} on {}",
                            new_category.as_str(),
                            correct.as_str(),
                            super::report::fmt_time(effective.unix_secs())
                        ),
                        CategoryChange::Done { previous } => format!(
                            "template {subject} recategorised {} → {}: sent and priced as {} from now on",
                            previous.as_str(),
                            new_category.as_str(),
                            new_category.as_str()
                        ),
                    };
                    self.annotate(ev.at, "template_category_update", &subject, text);
                }
                EventBody::TemplateQuality {
                    name,
                    language,
                    previous,
                    new,
                    ..
                } => {
                    let subject = format!("{name} ({language})");
                    let q = |r: &Option<crate::engine::world::QualityRating>| {
                        r.as_ref().map_or("UNKNOWN".to_string(), enum_text)
                    };
                    self.annotate(
                        ev.at,
                        "template_quality",
                        &subject,
                        format!("template {subject} quality {} → {}", q(previous), q(new)),
                    );
                }
                EventBody::PhoneQuality {
                    display,
                    event,
                    current_limit,
                    ..
                } => {
                    self.annotate(
                        ev.at,
                        "phone_number_quality_update",
                        &display.to_string(),
                        format!(
                            "number {display}: {event} (limit {})",
                            enum_text(current_limit)
                        ),
                    );
                }
                EventBody::BusinessCapability { limit, .. } => {
                    self.annotate(
                        ev.at,
                        "business_capability_update",
                        &ev.waba.to_string(),
                        format!(
                            "messaging limit of the portfolio is now {}",
                            enum_text(limit)
                        ),
                    );
                }
                EventBody::AccountRestriction {
                    restriction_type,
                    expiration,
                } => {
                    self.annotate(
                        ev.at,
                        "account_update",
                        &ev.waba.to_string(),
                        format!(
                            "ACCOUNT_RESTRICTION {restriction_type} until {}",
                            super::report::fmt_time(expiration.unix_secs())
                        ),
                    );
                }
                EventBody::LimitReviewDeferred { business, .. } => {
                    self.annotate(
                        ev.at,
                        "account_alerts",
                        &business.to_string(),
                        "INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED: the review of the step \
                         from 250 to 2,000 was deferred; the limit stays at 250"
                            .to_string(),
                    );
                }
                EventBody::MarketingMessagesTermsSigned { .. } => {
                    self.annotate(
                        ev.at,
                        "account_update",
                        &ev.waba.to_string(),
                        "MM_LITE_TERMS_SIGNED: the Marketing Messages API terms were accepted"
                            .to_string(),
                    );
                }
                EventBody::AccountDisabled { state } => {
                    let text = format!(
                        "account_update DISABLED_UPDATE: WABA {} {}",
                        ev.waba,
                        state.as_str()
                    );
                    self.annotate(ev.at, "account_update", &ev.waba.to_string(), text);
                }
                EventBody::UserChangedNumber { old, new, .. } => {
                    self.totals.user_changed_number += 1;
                    let subject = format!("{}", old.0);
                    self.annotate(
                        ev.at,
                        "user_changed_number",
                        &subject,
                        format!(
                            "number {} re-registered by a new owner (user_changed_number: the previous owner moved to {})",
                            old.0, new.0
                        ),
                    );
                }
                EventBody::TemplateStatus {
                    template,
                    name,
                    language,
                    category,
                    status,
                    reason,
                } => {
                    let st = enum_text(status);
                    let tl = self
                        .templates
                        .entry(template.0)
                        .or_insert_with(|| TemplateTimeline {
                            id: template.0.to_string(),
                            name: name.clone(),
                            language: language.clone(),
                            category: enum_text(category),
                            changes: Vec::new(),
                            pacing: Vec::new(),
                            category_changes: Vec::new(),
                        });
                    if tl.changes.last().is_none_or(|c| c.status != st) {
                        tl.changes.push(TemplateChange {
                            t: ev.at.unix_secs(),
                            hour: h as u64,
                            status: st.clone(),
                            reason: reason.map(str::to_string),
                        });
                    }
                    let subject = format!("{name} ({language})");
                    self.annotate(
                        ev.at,
                        "template_status",
                        &subject,
                        format!(
                            "template {subject} is now {st}{}",
                            reason.map(|r| format!(" ({r})")).unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }

    /// Samples numbers and templates: records what changed since the last sample.
    pub fn tick(&mut self, now: SimTime, engine: &Engine) {
        let snap = engine.snapshot();
        let h = self.hour(now) as u64;
        if h.is_multiple_of(24) && self.cost_daily.last().is_none_or(|c| c.hour != h) {
            self.sample_cost(h, engine);
        }
        if h > 0 {
            let day = ((h - 1) / 24) as usize;
            let mut cum = [0u64; 3];
            for n in &snap.numbers {
                cum[0] += n.counters.blocks;
                cum[1] += n.counters.reports;
                cum[2] += n.counters.opt_outs;
            }
            let fill = self.feedback_cum.last().copied().unwrap_or_default();
            self.feedback_cum
                .resize(day.max(self.feedback_cum.len()), fill);
            if self.feedback_cum.len() == day {
                self.feedback_cum.push(cum);
            } else {
                self.feedback_cum[day] = cum;
            }
        }
        let mut notes = Vec::new();
        for (track, n) in self.numbers.iter_mut().zip(&snap.numbers) {
            let state = StateChange {
                t: now.unix_secs(),
                hour: h,
                quality_rating: enum_text(&n.quality_rating),
                status: enum_text(&n.status),
                messaging_limit: enum_text(&n.messaging_limit),
                throughput_mps: n.throughput_mps,
            };
            if track.last.as_ref().is_some_and(|l| l.same_state(&state)) {
                continue;
            }
            if let Some(prev) = &track.last {
                notes.push((track.id.clone(), prev.describe_change(&state)));
            }
            track.last = Some(state.clone());
            track.changes.push(state);
        }
        for (id, text) in notes {
            self.annotate(now, "number_state", &id, format!("number {id}: {text}"));
        }
        for t in &snap.templates {
            let tl = self
                .templates
                .entry(t.id.0)
                .or_insert_with(|| TemplateTimeline {
                    id: t.id.to_string(),
                    name: t.name.clone(),
                    language: t.language.clone(),
                    category: t.category.to_string(),
                    changes: Vec::new(),
                    pacing: Vec::new(),
                    category_changes: Vec::new(),
                });
            if tl.changes.last().is_none_or(|c| c.status != t.status) {
                tl.changes.push(TemplateChange {
                    t: now.unix_secs(),
                    hour: h,
                    status: t.status.to_string(),
                    reason: None,
                });
            }
        }
    }

    fn sample_cost(&mut self, hour: u64, engine: &Engine) {
        let summary = engine.cost_summary();
        let mut sample = CostSample {
            hour,
            ..Default::default()
        };
        for row in &summary.totals {
            let v = row.amount.micros() as f64 / 1e6;
            *sample
                .by_category
                .entry(enum_text(&row.category))
                .or_default() += v;
            *sample.by_market.entry(row.market.to_string()).or_default() += v;
        }
        self.cost_daily.push(sample);
    }

    pub fn finish(
        mut self,
        engine: &Engine,
        scenario: &Scenario,
        seed: u64,
        end: SimTime,
        outlines: Vec<Option<PhaseOutline>>,
    ) -> SimReport {
        let hours = (end.since(self.start).div_ceil(MICROS_PER_HOUR)) as usize;
        if self
            .cost_daily
            .last()
            .is_none_or(|c| c.hour != hours as u64)
        {
            self.sample_cost(hours as u64, engine);
        }
        let pad = |mut v: Vec<u64>| {
            v.resize(hours.max(v.len()), 0);
            v
        };
        let phases: Vec<PhaseResult> = self
            .phases
            .into_iter()
            .zip(self.phase_names)
            .enumerate()
            .map(|(i, (c, name))| {
                let o = outlines.get(i).and_then(Option::as_ref);
                PhaseResult {
                    name,
                    model: o.map_or("", |o| o.model).to_string(),
                    start: o.map_or(0, |o| o.start.unix_secs()),
                    end: o.map_or(0, |o| o.end.unix_secs()),
                    messages: c.messages,
                    ok: c.requests[Class::Ok as usize],
                    throttled: c.requests[Class::Throttled as usize],
                    refused: c.requests[Class::Refused as usize],
                    failed: c.requests[Class::Failed as usize],
                    codes: c.codes,
                    retries: c.retries,
                    gave_up: c.gave_up,
                    no_window: c.no_window,
                }
            })
            .collect();
        let streams = self
            .streams
            .iter()
            .map(|(name, list)| PhaseResult::sum(name, list.iter().map(|&i| &phases[i])))
            .collect();
        let mut feedback_daily = Vec::with_capacity(self.feedback_cum.len());
        let mut prev = [0u64; 3];
        for (day, cum) in self.feedback_cum.iter().enumerate() {
            feedback_daily.push(FeedbackDay {
                day: day as u64,
                blocks: cum[0] - prev[0],
                reports: cum[1] - prev[1],
                opt_outs: cum[2] - prev[2],
            });
            prev = *cum;
        }
        self.totals.blocks = prev[0];
        self.totals.reports = prev[1];
        self.totals.opt_outs = prev[2];
        let snap = engine.snapshot();
        self.totals.held_at_end = snap
            .numbers
            .iter()
            .map(|n| engine.held_count(n.id) as u64)
            .sum();
        self.totals.inbound_blocked = snap
            .numbers
            .iter()
            .map(|n| n.counters.inbound_blocked)
            .sum();
        let checked = engine.rules().onboarding.check;
        let businesses = engine
            .business_totals()
            .into_iter()
            .map(|t| {
                let b = t.standing;
                let prohibited = crate::engine::eligibility::prohibition(&b.vertical, &b.country);
                BusinessResult {
                    id: b.id.to_string(),
                    onboarding: match (checked, prohibited.is_some()) {
                        (false, _) => "NOT_CHECKED",
                        (true, true) => "REJECTED",
                        (true, false) => "APPROVED",
                    }
                    .to_string(),
                    reason: prohibited.map(|p| p.reason.to_string()),
                    name: b.name,
                    vertical: b.vertical,
                    country: b.country,
                    strikes: b.strikes,
                    disabled: b.disabled,
                    numbers: t.numbers,
                    accepted: t.accepted,
                    refused: t.refused,
                    delivered: t.delivered,
                    read: t.read,
                    failed_later: t.failed_later,
                    inbound: t.inbound,
                    cost: t.cost.by_currency,
                }
            })
            .collect();
        SimReport {
            schema_version: REPORT_SCHEMA_VERSION,
            kind: "simulation".into(),
            tool: format!("wabasim {}", env!("CARGO_PKG_VERSION")),
            scenario: scenario.name.clone().unwrap_or_default(),
            description: scenario.description.clone().unwrap_or_default(),
            seed,
            start: self.start.unix_secs(),
            end: end.unix_secs(),
            hours: hours as u64,
            totals: self.totals,
            phases,
            streams,
            hourly: super::report::HourlySeries {
                ok: pad(self.hourly.ok),
                throttled: pad(self.hourly.throttled),
                refused: pad(self.hourly.refused),
                failed: pad(self.hourly.failed),
                delivered: pad(self.hourly.delivered),
                read: pad(self.hourly.read),
                failed_async: pad(self.hourly.failed_async),
                inbound: pad(self.hourly.inbound),
            },
            numbers: self
                .numbers
                .into_iter()
                .map(|n| NumberTimeline {
                    id: n.id,
                    changes: n.changes,
                })
                .collect(),
            templates: self.templates.into_values().collect(),
            annotations: self.annotations,
            annotations_dropped: self.annotations_dropped,
            cost: engine.cost_summary(),
            cost_daily: self.cost_daily,
            feedback_daily,
            businesses,
            cost_compare: Vec::new(),
            conversations: None,
        }
    }
}

/// The wire name of a serde enum value (e.g. `GREEN`, `TIER_1K`).
pub fn enum_text<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
