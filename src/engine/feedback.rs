//! What users do with delivered messages, and what it does to the number and the template:
//! reactions are drawn at delivery (see `reactions`), fire later as timers, and feed the
//! number's quality rating (GREEN / YELLOW / RED, FLAGGED) and the template's quality (which
//! pauses it: 3 h, 6 h, then DISABLED).

use super::events::{Decision, Event, EventBody, MessageInfo, Rule};
use super::ids::{PhoneNumberId, TemplateId, WaId, WabaId};
use super::number::{Number, ReactionTimer, TimerKind};
use super::policy::{LimitsMode, PolicyConfig};
use super::portfolio::{Business, Portfolio};
use super::quality::SignalWindow;
use super::reactions::{BlockReason, ReactionKind};
use super::send::Attach;
use super::tiers::{lower_tier, LimitState};
use super::world::{MessagingLimitTier, NumberStatus, QualityRating, TemplateStatus};
use super::{Rejection, Sink};
use crate::clock::{SimTime, MICROS_PER_DAY, MICROS_PER_HOUR};

/// `Conversation::flags`: the user blocked this number.
pub const BLOCKED: u8 = 1;
/// The user reported this number.
pub const REPORTED: u8 = 2;
/// The user muted this number.
pub const MUTED: u8 = 4;
/// The business blocked the user (Block Users API): sends to them fail with 130403 and their
/// messages are not delivered. In the conversation's flags so the sweep keeps the entry.
pub const BUSINESS_BLOCKED: u8 = 8;

/// Per-number dynamics. Fixed size: the feedback window is one 8-byte bucket per hour.
#[derive(Debug)]
pub struct NumberDynamics {
    /// This number's index in its portfolio (per-number counts of the messaging limit).
    pub idx: u16,
    pub feedback: SignalWindow,
    /// Since when the rating is RED (restriction clock).
    pub red_since: Option<SimTime>,
    /// Since when the number is FLAGGED.
    pub flagged_since: Option<SimTime>,
    pub tick_pending: bool,
    /// Latest computed negative rate (shown in `/_sim/state`).
    pub score: f64,
    /// The number's own tier in legacy per-number mode.
    pub legacy_limit: Option<LimitState>,
    /// End of the throughput upgrade's maintenance period (ZERO when none is running).
    pub upgrading_until: SimTime,
    pub upgraded: bool,
}

impl NumberDynamics {
    pub fn new(policy: &PolicyConfig, tier: MessagingLimitTier, idx: u16) -> NumberDynamics {
        let legacy = (policy.limits_mode == LimitsMode::PerNumber).then(|| {
            // The per-number ladder has 1K where the portfolio ladder has 2K.
            let t = if tier == MessagingLimitTier::Tier2K {
                MessagingLimitTier::Tier1K
            } else {
                tier
            };
            LimitState::new(t, 1)
        });
        NumberDynamics {
            idx: if legacy.is_some() { 0 } else { idx },
            feedback: SignalWindow::new(&policy.quality),
            red_since: None,
            flagged_since: None,
            tick_pending: false,
            score: 0.0,
            legacy_limit: legacy,
            upgrading_until: SimTime::ZERO,
            upgraded: false,
        }
    }
}

/// Per-template feedback (1.3 KB per template that has had deliveries).
#[derive(Debug)]
pub struct TemplateFeedback {
    pub window: SignalWindow,
    /// `None` = UNKNOWN (not enough traffic yet).
    pub rating: Option<QualityRating>,
    /// Quality pauses so far: the third disables.
    pub pauses: u8,
}

impl TemplateFeedback {
    pub fn new(m: &super::policy::QualityModel) -> TemplateFeedback {
        TemplateFeedback {
            window: SignalWindow::new(m),
            rating: None,
            pauses: 0,
        }
    }
}

/// What the control API (or a test) makes a user do.
#[derive(Clone, Debug, PartialEq)]
pub enum UserAction {
    Block(BlockReason),
    Report(BlockReason),
    Reply(String),
    OptOut(String),
    /// The user asks for marketing messages again (`resume`); the text defaults to "START".
    Resume(String),
}

/// What a forced action did, for the control API's answer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ActionOutcome {
    pub phone_number_id: PhoneNumberId,
    pub wa_id: WaId,
    pub action: &'static str,
    /// The template the feedback was charged to, if the user had received one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_id: Option<TemplateId>,
    pub quality_rating: QualityRating,
    pub status: NumberStatus,
}

impl Business {
    /// A message was delivered: it counts for quality, and its recipient may react.
    pub(super) fn on_delivered(
        &mut self,
        at: SimTime,
        s: &mut Number,
        info: &MessageInfo,
        sink: &mut impl Sink,
    ) {
        s.dynamics.feedback.add_delivered(at);
        if let Some(t) = info.template {
            self.template_signal(at, s.waba, t, None, sink);
            self.pacing_signal(s.waba, t, super::pacing::Signal::Delivered);
        }
        let category = info.feedback_category;
        let seed = self.cfg.seed;
        let profiles = &self.cfg.audience.profiles;
        let opted_in = profiles.opted_in(seed, s.business, info.recipient(), category);
        let reaction = profiles.draw(
            seed,
            s.id,
            info.recipient(),
            info.wamid.seq,
            category,
            opted_in,
        );
        let reregistration =
            profiles.draw_reregistration(seed, s.id, info.recipient(), info.wamid.seq);
        if let Some((kind, delay)) = reaction {
            s.schedule(
                sink,
                at.plus(delay),
                TimerKind::Reaction(Box::new(ReactionTimer {
                    user: info.recipient(),
                    template: info.template,
                    kind,
                })),
            );
        }
        if let Some(delay) = reregistration {
            s.schedule(
                sink,
                at.plus(delay),
                TimerKind::Reaction(Box::new(ReactionTimer {
                    user: info.recipient(),
                    template: None,
                    kind: ReactionKind::Reregister,
                })),
            );
        }
    }

    fn block_weight(&self, r: BlockReason) -> f64 {
        let w = &self.cfg.policy.block_weight;
        match r {
            BlockReason::Spam => w.spam,
            BlockReason::DidntSignUp => w.didnt_sign_up,
            BlockReason::Offensive => w.offensive,
            BlockReason::NoLongerNeeded => w.no_longer_needed,
            BlockReason::Other => w.other,
        }
    }

    /// Applies a reaction: flags on the conversation, signals on the number and the template,
    /// an inbound message for replies and STOP opt-outs.
    pub(super) fn apply_reaction(
        &mut self,
        at: SimTime,
        s: &mut Number,
        user: WaId,
        template: Option<TemplateId>,
        kind: ReactionKind,
        sink: &mut impl Sink,
    ) {
        let (weight, flag) = match kind {
            // Re-registration concerns every portfolio that knows the user: the owner takes it
            // and delivers it to each (see `Portfolio::take_reregistrations`).
            ReactionKind::Reregister => {
                self.drawn_reregistrations.push((at, user));
                return;
            }
            ReactionKind::Block(r) => {
                s.counters.blocks += 1;
                (self.block_weight(r), BLOCKED)
            }
            ReactionKind::Report(r) => {
                s.counters.blocks += 1;
                s.counters.reports += 1;
                (
                    self.block_weight(r) + self.cfg.policy.report_weight,
                    BLOCKED | REPORTED,
                )
            }
            ReactionKind::Mute => {
                s.counters.mutes += 1;
                (self.cfg.policy.mute_weight, MUTED)
            }
            ReactionKind::OptOut => {
                self.marketing_preference(at, s, user, "STOP", true, sink);
                (0.0, 0)
            }
            ReactionKind::Reply => {
                s.counters.replies += 1;
                const REPLIES: [&str; 4] = ["Terima kasih!", "OK", "Berapa harganya?", "Thanks"];
                let text = REPLIES[(user.0 % REPLIES.len() as u64) as usize];
                self.inbound(at, s, user, text, false, Attach::AsDrawn, sink);
                (0.0, 0)
            }
        };
        if flag != 0 {
            s.conversations.entry(user).or_default().flags |= flag;
        }
        sink.decision(Decision {
            at,
            phone_number_id: s.id,
            recipient: Some(user),
            rule: Rule::UserFeedback,
            code: None,
            wamid: None,
            detail: Some(kind.label().into()),
        });
        if weight > 0.0 {
            s.dynamics.feedback.add_negative(at, weight);
            if let Some(t) = template {
                self.template_signal(at, s.waba, t, Some(weight), sink);
                self.pacing_signal(s.waba, t, super::pacing::Signal::Negative(weight));
            }
            self.eval_quality(at, s, sink);
        }
    }

    /// Recomputes the number's rating and applies the transitions: RED flags the number (and
    /// stops tier scaling), recovery unflags it. Keeps the hourly tick going while needed.
    pub(super) fn eval_quality(&mut self, at: SimTime, s: &mut Number, sink: &mut impl Sink) {
        let m = &self.cfg.policy.quality;
        let w = s.dynamics.feedback.weighted(at, m);
        s.dynamics.score = w.rate(m);
        let new = w.rating(m);
        let old = s.quality;
        if new != old && old != QualityRating::Na {
            s.quality = new;
            let legacy_events = self.cfg.policy.legacy_webhooks;
            let (tier, _) = super::enforcement::limit_of(&self.cfg.policy, &mut self.limits, at, s);
            if new == QualityRating::Red {
                s.dynamics.red_since = Some(at);
                self.limits.low_quality.insert(s.id);
                if s.status == NumberStatus::Connected {
                    s.status = NumberStatus::Flagged;
                    s.dynamics.flagged_since = Some(at);
                    if legacy_events {
                        phone_event(at, s, "FLAGGED", tier, None, sink);
                    }
                }
            } else if old == QualityRating::Red {
                s.dynamics.red_since = None;
                self.limits.low_quality.remove(&s.id);
                if s.status == NumberStatus::Flagged {
                    s.status = NumberStatus::Connected;
                    s.dynamics.flagged_since = None;
                    if legacy_events {
                        phone_event(at, s, "UNFLAGGED", tier, None, sink);
                    }
                }
            }
        }
        let needs_tick = s.dynamics.feedback.has_negative(at)
            || s.quality != QualityRating::Green
            || s.status == NumberStatus::Flagged;
        if needs_tick && !s.dynamics.tick_pending {
            s.dynamics.tick_pending = true;
            s.schedule(sink, at.plus(MICROS_PER_HOUR), TimerKind::QualityTick);
        }
    }

    /// The hourly tick: ratings recover as signals age; a number FLAGGED for `flag_days`
    /// returns to CONNECTED (one tier lower in legacy per-number mode); sustained RED restricts.
    pub(super) fn quality_tick(&mut self, at: SimTime, s: &mut Number, sink: &mut impl Sink) {
        s.dynamics.tick_pending = false;
        if let Some(since) = s.dynamics.flagged_since {
            if at.since(since) >= self.cfg.policy.flag_days * MICROS_PER_DAY {
                s.status = NumberStatus::Connected;
                s.dynamics.flagged_since = None;
                self.limits.low_quality.remove(&s.id);
                if let Some(l) = s.dynamics.legacy_limit.as_mut() {
                    let old = l.tier;
                    l.set_tier(lower_tier(old, true));
                    let new = l.tier;
                    if new != old {
                        phone_event(at, s, "DOWNGRADE", new, Some(old), sink);
                    }
                }
            }
        }
        self.maybe_restrict(at, s, sink);
        self.eval_quality(at, s, sink);
    }

    /// Feeds a template's quality: a delivery (`weight` None) or a negative signal. A template
    /// reaching RED is paused (3 h, then 6 h) and disabled the third time.
    fn template_signal(
        &mut self,
        at: SimTime,
        waba: WabaId,
        id: TemplateId,
        weight: Option<f64>,
        sink: &mut impl Sink,
    ) {
        let cfg = &self.cfg;
        let m = &cfg.policy.template_quality;
        let Some(w) = self.wabas.iter_mut().find(|w| w.id == waba) else {
            return;
        };
        let (old, new) = {
            let f = w
                .feedback
                .entry(id)
                .or_insert_with(|| TemplateFeedback::new(m));
            match weight {
                None => f.window.add_delivered(at),
                Some(x) => f.window.add_negative(at, x),
            }
            // Deliveries only move a rating that is not yet GREEN (UNKNOWN → GREEN, recovery),
            // and an UNKNOWN one only once the window may hold enough feedback.
            if weight.is_none()
                && (f.rating == Some(QualityRating::Green)
                    || (f.rating.is_none() && !f.window.may_be_known(m)))
            {
                return;
            }
            let ws = f.window.weighted(at, m);
            let new = ws.is_known(m).then(|| ws.rating(m));
            let old = f.rating;
            if new == old {
                return;
            }
            f.rating = new;
            (old, new)
        };
        let mut pauses = 0;
        if new == Some(QualityRating::Red) {
            // Only an APPROVED template can be paused (deliveries of messages sent before a
            // pause still come in while it is paused).
            let approved = w
                .templates
                .get(id)
                .is_some_and(|t| t.status == TemplateStatus::Approved);
            if let Some(f) = w.feedback.get_mut(&id) {
                if approved && f.rating == Some(QualityRating::Red) {
                    f.pauses = f.pauses.saturating_add(1);
                    // A paused template starts afresh: the next pause needs new bad feedback.
                    f.window.clear();
                    f.rating = None;
                }
                pauses = f.pauses;
            }
        }
        let Some(t) = w.templates.get_mut(id) else {
            return;
        };
        quality_event(at, waba, t, old, new, sink);
        if new != Some(QualityRating::Red) || t.status != TemplateStatus::Approved {
            return;
        }
        self.pause_template(at, waba, id, pauses, sink);
    }

    /// Pauses an APPROVED template for its `pauses`-th time (3 h, then 6 h; the third time
    /// disables it) and schedules the end of the pause. A utility template's pause makes the
    /// WABA's utility templates paced for a while (`pacing.rs`).
    pub(super) fn pause_template(
        &mut self,
        at: SimTime,
        waba: WabaId,
        id: TemplateId,
        pauses: u8,
        sink: &mut impl Sink,
    ) {
        let cfg = &self.cfg;
        let Some(w) = self.wabas.iter_mut().find(|w| w.id == waba) else {
            return;
        };
        let Some(t) = w.templates.get_mut(id) else {
            return;
        };
        let (status, title, description) = match pauses {
            1 | 2 => {
                let hours = cfg.policy.pause_hours[pauses as usize - 1];
                (
                    TemplateStatus::Paused,
                    if pauses == 1 { "FIRST_PAUSE" } else { "SECOND_PAUSE" },
                    format!("Your message template has been paused for {hours} hours due to low quality."),
                )
            }
            _ => (
                TemplateStatus::Disabled,
                "DISABLED",
                "Your message template has been disabled after repeated low quality.".to_string(),
            ),
        };
        t.status = status;
        if t.category == super::world::TemplateCategory::Utility {
            w.utility_paused_at = Some(at);
        }
        sink.event(Event {
            at,
            waba,
            body: EventBody::TemplatePause {
                template: id,
                name: t.name.clone(),
                language: t.language.clone(),
                category: t.category,
                status,
                title,
                description,
            },
        });
        if status == TemplateStatus::Paused {
            let hours = cfg.policy.pause_hours[pauses as usize - 1];
            let at = at.plus(hours * MICROS_PER_HOUR);
            let kind = super::enforcement::DynKind::Unpause { waba, template: id };
            self.timers.push(at, kind, sink);
        }
    }

    /// A pause is over: the template is APPROVED again (`other_info.title` UNPAUSE).
    pub(super) fn unpause(
        &mut self,
        at: SimTime,
        waba: WabaId,
        id: TemplateId,
        sink: &mut impl Sink,
    ) {
        let Some(t) = self.waba_mut(waba).and_then(|w| w.templates.get_mut(id)) else {
            return;
        };
        if t.status != TemplateStatus::Paused {
            return; // changed by hand meanwhile
        }
        t.status = TemplateStatus::Approved;
        if let Some(p) = self
            .wabas
            .iter_mut()
            .find(|w| w.id == waba)
            .and_then(|w| w.pacing.get_mut(&id))
        {
            p.unpaused();
        }
        let Some(t) = self.waba_mut(waba).and_then(|w| w.templates.get_mut(id)) else {
            return;
        };
        sink.event(Event {
            at,
            waba,
            body: EventBody::TemplatePause {
                template: id,
                name: t.name.clone(),
                language: t.language.clone(),
                category: t.category,
                status: TemplateStatus::Approved,
                title: "UNPAUSE",
                description: "Your message template has been unpaused and can be sent again."
                    .into(),
            },
        });
    }

    /// Template quality as `/_sim/state` and the template's `quality_score` show it.
    pub(super) fn template_quality(
        &self,
        waba: WabaId,
        id: TemplateId,
    ) -> (Option<QualityRating>, u8) {
        self.waba(waba)
            .and_then(|w| w.feedback.get(&id).map(|f| (f.rating, f.pauses)))
            .unwrap_or((None, 0))
    }

    /// The user stops (`stop`) or resumes marketing messages from the business, writing
    /// `text` (which opens a customer service window, as any message does): the portfolio's
    /// opt-out set changes (131050 applies to marketing while the user is in it) and a
    /// `user_preferences` webhook reports it [M:errors 131050; Meta `user_preferences`
    /// reference]. A resume from a user who had not stopped changes nothing but still reports.
    fn marketing_preference(
        &mut self,
        at: SimTime,
        s: &mut Number,
        user: WaId,
        text: &str,
        stop: bool,
        sink: &mut impl Sink,
    ) {
        if stop {
            s.counters.opt_outs += 1;
            self.limits.opted_out.insert(user);
        } else {
            self.limits.opted_out.remove(&user);
        }
        self.inbound(at, s, user, text, false, Attach::TextOnly, sink);
        sink.event(Event {
            at,
            waba: s.waba,
            body: EventBody::UserPreference {
                phone: s.meta.clone(),
                user,
                profile_name: self.cfg.audience.profile_name(user),
                stop,
            },
        });
    }
}

/// A `message_template_quality_update` of template `t`: low quality (above) and a pacing
/// assessment (`pacing.rs`) rate templates through the same event.
pub(super) fn quality_event(
    at: SimTime,
    waba: WabaId,
    t: &super::templates::Template,
    previous: Option<QualityRating>,
    new: Option<QualityRating>,
    sink: &mut impl Sink,
) {
    sink.event(Event {
        at,
        waba,
        body: EventBody::TemplateQuality {
            template: t.id,
            name: t.name.clone(),
            language: t.language.clone(),
            previous,
            new,
        },
    });
}

/// A `phone_number_quality_update` of the number (legacy per-number events).
fn phone_event(
    at: SimTime,
    s: &Number,
    event: &'static str,
    current: MessagingLimitTier,
    old: Option<MessagingLimitTier>,
    sink: &mut impl Sink,
) {
    sink.event(Event {
        at,
        waba: s.waba,
        body: EventBody::PhoneQuality {
            display: s.meta.display,
            event,
            current_limit: current,
            old_limit: old,
        },
    });
}

impl Portfolio {
    /// Makes a user react now (control API), on number `phone` (the door resolves which).
    pub fn user_action(
        &mut self,
        now: SimTime,
        phone: PhoneNumberId,
        user: WaId,
        action: UserAction,
        sink: &mut impl Sink,
    ) -> Result<ActionOutcome, Rejection> {
        let (biz, s, now) = self.number_at(phone, now)?;
        let template = s
            .conversations
            .get(&user)
            .map(|c| c.last_template)
            .filter(|t| *t != 0)
            .map(TemplateId);
        // A text given with an opt-out or a reply is the user's message; without one, the
        // action is the drawn reaction itself.
        let mut react = |kind| biz.apply_reaction(now, s, user, template, kind, sink);
        let name = match &action {
            UserAction::Block(r) => {
                react(ReactionKind::Block(*r));
                "block"
            }
            UserAction::Report(r) => {
                react(ReactionKind::Report(*r));
                "report"
            }
            UserAction::OptOut(text) if text.is_empty() => {
                react(ReactionKind::OptOut);
                "opt_out"
            }
            UserAction::Reply(text) if text.is_empty() => {
                react(ReactionKind::Reply);
                "reply"
            }
            UserAction::OptOut(text) => {
                biz.marketing_preference(now, s, user, text, true, sink);
                "opt_out"
            }
            UserAction::Reply(text) => {
                s.counters.replies += 1;
                biz.inbound(now, s, user, text, false, Attach::TextOnly, sink);
                "reply"
            }
            UserAction::Resume(text) => {
                let text = if text.is_empty() { "START" } else { text };
                biz.marketing_preference(now, s, user, text, false, sink);
                "resume"
            }
        };
        Ok(ActionOutcome {
            phone_number_id: phone,
            wa_id: user,
            action: name,
            template_id: template,
            quality_rating: s.quality,
            status: s.status,
        })
    }
}
