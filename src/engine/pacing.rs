//! Template pacing [M:pacing]: sends of a marketing template that is new, just unpaused or not
//! GREEN go out normally up to a threshold; further sends are held while the platform assesses
//! the template from early feedback on the part already sent. A good assessment releases the
//! held messages (they then walk the ordinary status ladder) and rates the template GREEN; a
//! bad one pauses the template and fails every held message with 132015. If the assessment
//! reaches no decision in time, a guardrail releases the held messages anyway (Meta: paced
//! campaigns are delivered within 1 h at p99). Utility templates are paced the same way, but
//! only within `utility_days` after one of the WABA's utility templates was paused.
//!
//! The send response says which way a template send went (`message_status`: `accepted` or
//! `held_for_quality_assessment`, see [`MessageStatus`]).
//!
//! The assessment reads what the sent part got back by `decide_after_minutes` after the
//! assessment opened (if nothing was held by then, the campaign stayed under the threshold:
//! the assessment closes without a verdict and the next send opens a new one): it is bad when the negative feedback (the same block, report and mute
//! weights as quality) per delivered message is at least `bad_negative_rate`, or when the
//! share of delivered messages read is below `low_read_rate` (Meta counts low read rates
//! towards template quality [M:tq]); it is inconclusive below `min_delivered` deliveries, and
//! the guardrail then releases. Meta publishes none of these numbers: they are our defaults
//! (docs/policy-model.md "Template pacing").
//!
//! Memory: one entry per template ever paced; held messages are kept per template, at most
//! `hold_capacity` each (past it a send is not held: it goes out at once, as the guardrail
//! would release it). Every held message ends released or failed: the decision, the guardrail
//! and template deletion all empty the hold.

use super::charging::PriceFacts;
use super::enforcement::DynKind;
use super::errors::ErrorCode;
use super::events::{Billing, Decision, MessageInfo, Rule};
use super::feedback::quality_event;
use super::ids::{PhoneNumberId, TemplateId, WabaId};
use super::number::Number;
use super::portfolio::{Business, Portfolio};
use super::world::{QualityRating, TemplateCategory, TemplateStatus};
use super::Sink;
use crate::clock::{SimTime, MICROS_PER_DAY, MICROS_PER_SEC};

const MICROS_PER_MIN: u64 = 60 * MICROS_PER_SEC;
use serde::{Deserialize, Serialize};

/// `[rules.pacing]`.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PacingConfig {
    /// Pace marketing (and, after a utility pause, utility) templates.
    pub enabled: bool,
    /// Sends of a paced template that go out normally before further sends are held (Meta:
    /// unpublished).
    pub threshold: u32,
    /// Minutes after the first paced send at which the assessment decides from the feedback
    /// the sent part has had by then.
    pub decide_after_minutes: u64,
    /// Minutes after the first paced send at which held messages are released if the
    /// assessment reached no decision (Meta: paced campaigns delivered within 1 h at p99).
    pub guardrail_minutes: u64,
    /// Deliveries of the sent part below which the assessment is inconclusive.
    pub min_delivered: u32,
    /// Negative feedback weight per delivered message of the sent part at or above which the
    /// assessment is bad.
    pub bad_negative_rate: f64,
    /// Share of the sent part's delivered messages read, below which the assessment is bad.
    /// 0 leaves read rates out.
    pub low_read_rate: f64,
    /// Days after one of the WABA's utility templates was paused during which its utility
    /// templates are paced too (Meta: 7).
    pub utility_days: u64,
    /// Messages held per template at most; past it, sends go out without being held.
    pub hold_capacity: u32,
}

impl Default for PacingConfig {
    fn default() -> Self {
        PacingConfig {
            enabled: true,
            threshold: 1_000,
            decide_after_minutes: 30,
            guardrail_minutes: 60,
            min_delivered: 100,
            bad_negative_rate: 0.01,
            low_read_rate: 0.2,
            utility_days: 7,
            hold_capacity: 100_000,
        }
    }
}

impl PacingConfig {
    /// Checks ranges; returns `(field, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let f = |n: &str| format!("rules.pacing.{n}");
        if self.decide_after_minutes == 0 {
            return Err((f("decide_after_minutes"), "must be at least 1".into()));
        }
        if self.guardrail_minutes < self.decide_after_minutes {
            return Err((
                f("guardrail_minutes"),
                format!(
                    "{} is before decide_after_minutes ({})",
                    self.guardrail_minutes, self.decide_after_minutes
                ),
            ));
        }
        if !(self.bad_negative_rate > 0.0 && self.bad_negative_rate.is_finite()) {
            return Err((f("bad_negative_rate"), "must be above 0".into()));
        }
        if !(0.0..=1.0).contains(&self.low_read_rate) {
            return Err((f("low_read_rate"), "must be between 0 and 1".into()));
        }
        if self.hold_capacity == 0 {
            return Err((f("hold_capacity"), "must be at least 1".into()));
        }
        Ok(())
    }
}

/// What the send response's `messages[].message_status` says about a template send. Meta's
/// pacing page says Cloud API always includes it, the send reference only for paced
/// templates; we answer it on every template send (both readings accept that) and leave it
/// out for other messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Accepted,
    HeldForQualityAssessment,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Accepted => "accepted",
            MessageStatus::HeldForQualityAssessment => "held_for_quality_assessment",
        }
    }
}

/// What pacing did to messages of a template, for sinks that count it (the simulator's
/// report; webhooks follow from the statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacingStep {
    Held,
    Released,
    /// Failed with 132015 when the assessment paused the template.
    Dropped,
}

/// One held message and what its launch needs.
#[derive(Debug)]
pub(super) struct Held {
    phone: PhoneNumberId,
    info: Box<MessageInfo>,
    facts: PriceFacts,
    blocked: bool,
}

/// An open assessment: the sent part's feedback so far and the held messages.
#[derive(Debug)]
pub(super) struct Assessment {
    opened: SimTime,
    sent: u32,
    delivered: u32,
    read: u32,
    negative: f64,
    held: Vec<Held>,
}

/// A template's pacing state.
#[derive(Debug, Default)]
pub(super) struct TemplatePacing {
    /// An assessment decided since the template was created or last unpaused.
    decided: bool,
    assessment: Option<Assessment>,
}

impl TemplatePacing {
    /// A pause is over: the template is assessed again from its next send.
    pub(super) fn unpaused(&mut self) {
        self.decided = false;
    }
}

/// A feedback signal on a message of a template.
#[derive(Clone, Copy, Debug)]
pub(super) enum Signal {
    Delivered,
    Read,
    Negative(f64),
}

/// How an assessment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Good,
    Bad,
    /// The guardrail: no decision in time.
    Undecided,
}

impl Business {
    /// Whether a send of `template` (of `category`) at `now` is paced.
    fn paced(&self, now: SimTime, waba: WabaId, id: TemplateId, cat: TemplateCategory) -> bool {
        let p = &self.cfg.rules.pacing;
        let Some(w) = self.waba(waba) else {
            return false;
        };
        let eligible = match cat {
            TemplateCategory::Marketing => true,
            TemplateCategory::Utility => w
                .utility_paused_at
                .is_some_and(|t| now < t.plus(p.utility_days * MICROS_PER_DAY)),
            TemplateCategory::Authentication => false,
        };
        if !eligible {
            return false;
        }
        let state = w.pacing.get(&id);
        if state.is_some_and(|s| s.assessment.is_some()) {
            return true;
        }
        // Rated below GREEN; or UNKNOWN (new, or just unpaused: a pause clears the rating)
        // with no assessment decided since.
        match w.feedback.get(&id).and_then(|f| f.rating) {
            Some(QualityRating::Green) => false,
            Some(_) => true,
            None => !state.is_some_and(|s| s.decided),
        }
    }

    /// Paces an accepted template send about to go out: returns the message if it goes out
    /// now, or `None` when it was held.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pace(
        &mut self,
        now: SimTime,
        s: &mut Number,
        template: (TemplateId, TemplateCategory),
        info: Box<MessageInfo>,
        facts: PriceFacts,
        blocked: bool,
        sink: &mut impl Sink,
    ) -> Option<Box<MessageInfo>> {
        let (id, cat) = template;
        if !self.cfg.rules.pacing.enabled || !self.paced(now, s.waba, id, cat) {
            return Some(info);
        }
        let p = &self.cfg.rules.pacing;
        let (threshold, capacity) = (p.threshold, p.hold_capacity as usize);
        let decide = now.plus(p.decide_after_minutes * MICROS_PER_MIN);
        let guardrail = now.plus(p.guardrail_minutes * MICROS_PER_MIN);
        let waba = s.waba;
        let Some(w) = self.waba_mut(waba) else {
            return Some(info);
        };
        let state = w.pacing.entry(id).or_default();
        if state.assessment.is_none() {
            state.assessment = Some(Assessment {
                opened: now,
                sent: 0,
                delivered: 0,
                read: 0,
                negative: 0.0,
                held: Vec::new(),
            });
            let opened = now;
            let kind = DynKind::PacingDecide {
                waba,
                template: id,
                opened,
            };
            self.timers.push(decide, kind, sink);
            let kind = DynKind::PacingGuardrail {
                waba,
                template: id,
                opened,
            };
            self.timers.push(guardrail, kind, sink);
        }
        let Some(a) = self
            .waba_mut(waba)
            .and_then(|w| w.pacing.get_mut(&id))
            .and_then(|p| p.assessment.as_mut())
        else {
            return Some(info);
        };
        if a.sent < threshold || a.held.len() >= capacity {
            a.sent = a.sent.saturating_add(1);
            return Some(info);
        }
        let wamid = info.wamid;
        a.held.push(Held {
            phone: s.id,
            info,
            facts,
            blocked,
        });
        s.counters.held += 1;
        sink.pacing(now, waba, id, PacingStep::Held);
        sink.decision(Decision {
            at: now,
            phone_number_id: s.id,
            recipient: Some(wamid.user),
            rule: Rule::TemplatePacing,
            code: None,
            wamid: Some(wamid),
            detail: Some(MessageStatus::HeldForQualityAssessment.as_str().into()),
        });
        None
    }

    /// Feedback on a message of `template`: counted while an assessment is open.
    pub(super) fn pacing_signal(&mut self, waba: WabaId, template: TemplateId, signal: Signal) {
        if !self.cfg.rules.pacing.enabled {
            return;
        }
        let Some(a) = self
            .waba_mut(waba)
            .and_then(|w| w.pacing.get_mut(&template))
            .and_then(|p| p.assessment.as_mut())
        else {
            return;
        };
        match signal {
            Signal::Delivered => a.delivered = a.delivered.saturating_add(1),
            Signal::Read => a.read = a.read.saturating_add(1),
            Signal::Negative(w) => a.negative += w,
        }
    }
}

impl Portfolio {
    /// The assessment opened at `opened` decides, if its sent part has had enough deliveries.
    pub(super) fn pacing_decide(
        &mut self,
        at: SimTime,
        waba: WabaId,
        template: TemplateId,
        opened: SimTime,
        sink: &mut impl Sink,
    ) {
        let p = &self.biz.cfg.rules.pacing;
        let (min, bad_at, low_read) = (p.min_delivered, p.bad_negative_rate, p.low_read_rate);
        let Some(a) = self.assessment(waba, template, opened) else {
            return; // closed already
        };
        if a.held.is_empty() {
            // The sends stayed under the threshold: nothing to decide on. The next send opens
            // a new assessment with a fresh count.
            self.close_assessment(at, waba, template, Verdict::Undecided, sink);
            return;
        }
        if a.delivered < min.max(1) {
            return; // inconclusive: the guardrail releases
        }
        let delivered = f64::from(a.delivered);
        let bad = a.negative / delivered >= bad_at || f64::from(a.read) / delivered < low_read;
        let verdict = if bad { Verdict::Bad } else { Verdict::Good };
        self.close_assessment(at, waba, template, verdict, sink);
    }

    /// The guardrail: an assessment still open releases what it holds.
    pub(super) fn pacing_guardrail(
        &mut self,
        at: SimTime,
        waba: WabaId,
        template: TemplateId,
        opened: SimTime,
        sink: &mut impl Sink,
    ) {
        if self.assessment(waba, template, opened).is_some() {
            self.close_assessment(at, waba, template, Verdict::Undecided, sink);
        }
    }

    fn assessment(
        &mut self,
        waba: WabaId,
        template: TemplateId,
        opened: SimTime,
    ) -> Option<&mut Assessment> {
        self.biz
            .waba_mut(waba)?
            .pacing
            .get_mut(&template)?
            .assessment
            .as_mut()
            .filter(|a| a.opened == opened)
    }

    /// Ends an assessment: rates or pauses the template, then releases or drops every held
    /// message, in the order they were held.
    fn close_assessment(
        &mut self,
        at: SimTime,
        waba: WabaId,
        template: TemplateId,
        verdict: Verdict,
        sink: &mut impl Sink,
    ) {
        let Some(w) = self.biz.waba_mut(waba) else {
            return;
        };
        let Some(state) = w.pacing.get_mut(&template) else {
            return;
        };
        let Some(a) = state.assessment.take() else {
            return;
        };
        if verdict != Verdict::Undecided {
            state.decided = true;
        }
        // A template paused or deleted meanwhile (by the ordinary quality rules) cannot send
        // what it holds: that ends as a pause would.
        let approved = w
            .templates
            .get(template)
            .is_some_and(|t| t.status == TemplateStatus::Approved);
        let drop = verdict == Verdict::Bad || !approved;
        match verdict {
            Verdict::Good if approved => self.biz.rate_green(at, waba, template, sink),
            Verdict::Bad if approved => self.biz.pause_for_pacing(at, waba, template, sink),
            _ => {}
        }
        for h in a.held {
            let Ok(i) = self.index(h.phone) else {
                continue; // numbers are never removed
            };
            let s = &mut self.numbers[i];
            let at = at.max(s.latest);
            let mut info = h.info;
            if drop {
                // Never sent, so never charged: the failed status carries no pricing.
                info.billing = Billing::NONE;
                s.counters.dropped += 1;
                sink.pacing(at, waba, template, PacingStep::Dropped);
                self.biz
                    .fail_now(at, s, &info, ErrorCode::TemplatePaused, sink);
            } else {
                s.counters.released += 1;
                sink.pacing(at, waba, template, PacingStep::Released);
                sink.decision(Decision {
                    at,
                    phone_number_id: s.id,
                    recipient: Some(info.recipient()),
                    rule: Rule::TemplatePacing,
                    code: None,
                    wamid: Some(info.wamid),
                    detail: Some("released".into()),
                });
                self.biz.launch(at, s, info, h.facts, h.blocked, sink);
            }
        }
    }
}

impl Business {
    /// A good assessment rates the template GREEN (`message_template_quality_update`).
    fn rate_green(&mut self, at: SimTime, waba: WabaId, id: TemplateId, sink: &mut impl Sink) {
        let m = self.cfg.policy.template_quality.clone();
        let Some(w) = self.waba_mut(waba) else {
            return;
        };
        let f = w
            .feedback
            .entry(id)
            .or_insert_with(|| super::feedback::TemplateFeedback::new(&m));
        let previous = f.rating;
        if previous == Some(QualityRating::Green) {
            return;
        }
        f.rating = Some(QualityRating::Green);
        if let Some(t) = w.templates.get(id) {
            quality_event(at, waba, t, previous, Some(QualityRating::Green), sink);
        }
    }

    /// A bad assessment rates the template RED and pauses it, as low quality does (the pause
    /// counts towards the third, disabling one).
    fn pause_for_pacing(
        &mut self,
        at: SimTime,
        waba: WabaId,
        id: TemplateId,
        sink: &mut impl Sink,
    ) {
        let m = self.cfg.policy.template_quality.clone();
        let Some(w) = self.waba_mut(waba) else {
            return;
        };
        let f = w
            .feedback
            .entry(id)
            .or_insert_with(|| super::feedback::TemplateFeedback::new(&m));
        let previous = f.rating;
        f.pauses = f.pauses.saturating_add(1);
        // A paused template starts afresh, as after a quality pause.
        f.window.clear();
        f.rating = None;
        let pauses = f.pauses;
        let Some(t) = w.templates.get(id) else {
            return;
        };
        quality_event(at, waba, t, previous, Some(QualityRating::Red), sink);
        self.pause_template(at, waba, id, pauses, sink);
    }
}
