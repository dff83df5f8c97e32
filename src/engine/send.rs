//! The send path (the rules in order), inbound messages, and the status ladder of a sent
//! message (sent → delivered → read, or failed), which also prices it.

use super::bsuid::Via;
use super::charging::{self, PriceFacts};
use super::config::ErrorTiming;
use super::errors::ErrorCode;
use super::events::{self, Decision, DeliveryStatus, Event, EventBody, MessageInfo, Rule, Wamid};
use super::identity;
use super::ids::WaId;
use super::integrity;
use super::message::{Content, Outbound};
use super::number::{Conversation, Number, ReactionTimer, TimerKind};
use super::portfolio::Business;
use super::reactions;
use super::templates::Lookup;
use super::timers::Timed;
use super::world::{NumberStatus, TemplateCategory, TemplateStatus};
use super::{Rejection, SendReceipt, Sink};
use crate::clock::{SimTime, MICROS_PER_SEC};

/// Whether an inbound message may carry media the audience draws
/// ([`super::audience::Audience::inbound_media`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Attach {
    AsDrawn,
    /// Keywords (STOP, START) and text a test or operator gave word for word.
    TextOnly,
}

impl Business {
    /// [`super::Portfolio::send`] for number `s` (with `now` already moved up to its latest):
    /// decides, counts and reports the decision.
    pub(super) fn send(
        &mut self,
        now: SimTime,
        s: &mut Number,
        msg: &Outbound,
        sink: &mut impl Sink,
    ) -> Result<SendReceipt, Rejection> {
        let user = self.resolve_addressee(s.business, &msg.to);
        let result = match user {
            Ok(user) => self.decide_send(now, s, msg, user, sink),
            Err(ref rej) => Err(rej.clone()),
        };
        let user = user.ok();
        let decision = match &result {
            Ok(r) => {
                self.standing.messaged(r.wa_id);
                s.counters.accepted += 1;
                Decision {
                    at: now,
                    phone_number_id: s.id,
                    recipient: Some(r.wa_id),
                    rule: Rule::Accepted,
                    code: None,
                    wamid: Some(r.wamid),
                    detail: None,
                }
            }
            Err(rej) => {
                *s.counters.rejected.entry(rej.code.code()).or_default() += 1;
                Decision {
                    at: now,
                    phone_number_id: s.id,
                    recipient: user,
                    rule: rej.rule.unwrap_or(Rule::Accepted),
                    code: Some(rej.code),
                    wamid: None,
                    detail: Some(rej.details.clone().into()),
                }
            }
        };
        sink.decision(decision);
        result
    }

    fn decide_send(
        &mut self,
        now: SimTime,
        s: &mut Number,
        msg: &Outbound,
        to: WaId,
        sink: &mut impl Sink,
    ) -> Result<SendReceipt, Rejection> {
        s.registration.check_can_send()?;
        check_number_status(s)?;
        if self.standing.standing.is_disabled() {
            return Err(integrity::disabled_rejection(&self.standing));
        }
        super::enforcement::check_maintenance(now, s)?;
        if let Err(wait) = s.limiter.try_take(now, s.throughput) {
            return Err(Rejection::rule(
                ErrorCode::ThroughputLimit,
                Rule::Throughput,
                format!(
                    "Cloud API message throughput has been reached ({} msg/s); retry in {} ms.",
                    1_000_000 / s.throughput.interval.max(1),
                    wait.div_ceil(1_000)
                ),
            ));
        }
        let mut conv = s.conversations.get(&to).copied().unwrap_or_default();
        if conv.flags & super::feedback::BUSINESS_BLOCKED != 0 {
            return Err(Rejection::rule(
                ErrorCode::BusinessBlockedUser,
                Rule::BlockedUser,
                ErrorCode::BusinessBlockedUser.default_details(),
            ));
        }
        let in_window = conv.window_until > now;
        let mut async_error = None;
        let (category, template) = match &msg.content {
            Content::Template(send) => {
                let waba = self
                    .waba(s.waba)
                    .expect("a number's WABA is in its portfolio");
                let t = approved_template(&waba.templates, send)?;
                if t.1 == TemplateCategory::Authentication && msg.phone().is_none() {
                    return Err(Rejection::rule(
                        ErrorCode::BsuidUnsupported,
                        Rule::BsuidRecipient,
                        ErrorCode::BsuidUnsupported.default_details(),
                    ));
                }
                let route = self.route_template(now, s.waba, msg.channel, t.0, t.1)?;
                let category = match route {
                    super::marketing_messages::Route::MarketingMessages => {
                        crate::pricing::Category::MarketingLite
                    }
                    super::marketing_messages::Route::CloudApi => charging::category_of(t.1),
                };
                (category, Some(t))
            }
            Content::FreeForm { .. } => {
                if !in_window {
                    let rej = Rejection::rule(
                        ErrorCode::ReEngagement,
                        Rule::ServiceWindow,
                        ErrorCode::ReEngagement.default_details(),
                    );
                    match self.cfg.rules.window_errors {
                        ErrorTiming::Sync => return Err(rej),
                        ErrorTiming::Async => async_error = Some(ErrorCode::ReEngagement),
                    }
                }
                (crate::pricing::Category::Service, None)
            }
        };
        if let Some(kind) = integrity::scan_outbound(&msg.content) {
            return Err(self.content_violation(now, msg, kind, sink));
        }
        let (hold, key_hash) = identity_rule(
            &mut self.identities,
            self.cfg.seed,
            s,
            msg,
            to,
            &mut async_error,
        );
        if msg.media_unavailable {
            async_error = async_error.or(Some(ErrorCode::MediaUpload));
        }
        let fep_open =
            !s.entry_points.is_empty() && s.entry_points.get(&to).is_some_and(|e| e.open(now));
        if let Some((id, category)) = template {
            // An earlier asynchronous failure (window, identity) wins over the template rules.
            let template_error = super::enforcement::check_template_send(
                &self.cfg,
                &mut self.limits,
                &mut self.timers,
                now,
                s,
                to,
                category,
                in_window,
                &mut conv,
                sink,
            )?;
            async_error = async_error.or(template_error);
            conv.last_template = id.0;
        }
        if async_error.is_none() {
            check_pair_rate(now, &mut conv, self.cfg.pair_rate)?;
            if fep_open {
                // The business's reply opens the 72 h window (or continues it).
                if let Some(e) = s.entry_points.get_mut(&to) {
                    e.reply(now);
                }
            }
            s.conversations.insert(to, conv);
        }
        let wamid = s.next_wamid(to, false);
        let facts = PriceFacts {
            category,
            csw_open: in_window,
            fep_open,
        };
        // Priced at send (not charged) only when it will be sent: an asynchronous refusal gets
        // a `failed` status with no billing.
        let billing = match async_error {
            Some(_) => events::Billing::NONE,
            None => self
                .charging
                .price(now, charging::message_ref(s, to, wamid), facts, false, now)
                .unwrap_or(events::Billing::NONE),
        };
        let via = if msg.phone().is_some() {
            Via::Phone
        } else {
            Via::UserId
        };
        let user = self.user_ref(now, s, to, via);
        let info = Box::new(MessageInfo {
            wamid,
            phone: s.meta.clone(),
            billing,
            template: template.map(|(id, _)| id),
            feedback_category: template
                .map_or(reactions::FeedbackCategory::Service, |(_, c)| c.into()),
            biz_opaque_callback_data: msg.biz_opaque_callback_data.clone(),
            sent_at: now,
            recipient_identity_key_hash: key_hash,
            user,
        });
        let mut receipt = SendReceipt {
            wamid,
            wa_id: to,
            user_id: user.by_user_id.then_some(user.user_id),
            message_status: template.map(|_| super::pacing::MessageStatus::Accepted),
        };
        if let Some(code) = async_error {
            self.fail_now(now, s, &info, code, sink);
            return Ok(receipt);
        }
        self.detect_violation(now, s, sink);
        if hold {
            if s.held.len() >= self.cfg.rules.identity.hold_capacity {
                self.fail_now(now, s, &info, ErrorCode::IdentityKeyMismatch, sink);
            } else {
                s.held.push((info, facts));
            }
            return Ok(receipt);
        }
        let info = match template {
            Some(t) => match self.pace(now, s, t, info, facts, conv.blocked(), sink) {
                Some(info) => info,
                None => {
                    receipt.message_status =
                        Some(super::pacing::MessageStatus::HeldForQualityAssessment);
                    return Ok(receipt);
                }
            },
            None => info,
        };
        self.launch(now, s, info, facts, conv.blocked(), sink);
        Ok(receipt)
    }

    /// Starts the status ladder of an accepted message: `sent` now, then delivered (or failed
    /// with 131026 for a number not on WhatsApp) after the audience's delay. `blocked`: the
    /// recipient blocked this number (a user who blocked it never gets its messages).
    pub(super) fn launch(
        &mut self,
        now: SimTime,
        s: &mut Number,
        info: Box<MessageInfo>,
        facts: PriceFacts,
        blocked: bool,
        sink: &mut impl Sink,
    ) {
        sink.status(now, s.waba, &info, DeliveryStatus::Sent, None);
        if blocked {
            return;
        }
        let audience = &self.cfg.audience;
        let delay = audience.delivered_delay(&mut s.rng);
        let (status, error) = if audience.on_whatsapp(info.recipient()) {
            (DeliveryStatus::Delivered, None)
        } else {
            (DeliveryStatus::Failed, Some(ErrorCode::Undeliverable))
        };
        s.schedule(
            sink,
            now.plus(delay),
            TimerKind::Status {
                info,
                status,
                error,
                pricing: Some(facts),
            },
        );
    }

    /// Counts and logs an asynchronous failure (a `failed` status) with the rule behind it.
    fn record_failure(
        &self,
        at: SimTime,
        s: &mut Number,
        info: &MessageInfo,
        code: ErrorCode,
        sink: &mut impl Sink,
    ) {
        *s.counters.failed.entry(code.code()).or_default() += 1;
        sink.decision(Decision {
            at,
            phone_number_id: s.id,
            recipient: Some(info.recipient()),
            rule: rule_of_async(code),
            code: Some(code),
            wamid: Some(info.wamid),
            detail: None,
        });
    }

    pub(super) fn fail_now(
        &self,
        now: SimTime,
        s: &mut Number,
        info: &MessageInfo,
        code: ErrorCode,
        sink: &mut impl Sink,
    ) {
        self.record_failure(now, s, info, code, sink);
        sink.status(now, s.waba, info, DeliveryStatus::Failed, Some(code));
    }

    /// [`super::Portfolio::inbound`] for number `s`; `attach` says whether the audience may
    /// attach media (not to keywords such as STOP, which are text by nature); reactions reply through here too. A user
    /// the business blocked is not delivered (`None`): no webhook, no window.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn inbound(
        &mut self,
        now: SimTime,
        s: &mut Number,
        from: WaId,
        text: &str,
        from_ad: bool,
        attach: Attach,
        sink: &mut impl Sink,
    ) -> Option<Wamid> {
        let conv = s.conversations.entry(from).or_default();
        if conv.flags & super::feedback::BUSINESS_BLOCKED != 0 {
            s.counters.inbound_blocked += 1;
            return None;
        }
        // Throughput counts inbound and outbound messages together [M:throughput].
        s.limiter.take_anyway(now, s.throughput);
        conv.window_until = now.plus(self.cfg.window_len);
        if from_ad {
            s.entry_points
                .entry(from)
                .or_default()
                .user_came_from_ad(now);
        }
        let wamid = s.next_wamid(from, true);
        s.counters.inbound += 1;
        sink.decision(Decision {
            at: now,
            phone_number_id: s.id,
            recipient: Some(from),
            rule: Rule::InboundMessage,
            code: None,
            wamid: Some(wamid),
            detail: None,
        });
        let seed = self.cfg.seed;
        let user = self.user_ref(now, s, from, Via::User);
        sink.event(Event {
            at: now,
            waba: s.waba,
            body: EventBody::Inbound {
                phone: s.meta.clone(),
                from,
                profile_name: self.cfg.audience.profile_name(from),
                wamid,
                text: text.to_string(),
                identity_key_hash: s
                    .identity_check
                    .then(|| identity::key_hash(seed, from, self.identities.generation(from))),
                user,
                media: match attach {
                    Attach::AsDrawn => self
                        .cfg
                        .audience
                        .inbound_media(s.business, s.id, from, wamid.seq),
                    Attach::TextOnly => None,
                },
            },
        });
        Some(wamid)
    }

    /// Fires one of a number's timers.
    pub(super) fn fire(&mut self, s: &mut Number, timer: Timed<TimerKind>, sink: &mut impl Sink) {
        let at = timer.at;
        match timer.item {
            TimerKind::Status {
                info,
                status,
                error,
                pricing,
            } => self.next_rung(at, s, info, status, error, pricing, sink),
            TimerKind::Reaction(r) => {
                let ReactionTimer {
                    user,
                    template,
                    kind,
                } = *r;
                self.apply_reaction(at, s, user, template, kind, sink)
            }
            TimerKind::QualityTick => self.quality_tick(at, s, sink),
            TimerKind::ThroughputUpgraded => self.finish_upgrade(at, s, sink),
        }
    }

    /// A rung of the status ladder: delivered (priced, charged, counted for quality, maybe
    /// followed by read), read, or failed.
    #[allow(clippy::too_many_arguments)]
    fn next_rung(
        &mut self,
        at: SimTime,
        s: &mut Number,
        mut info: Box<MessageInfo>,
        status: DeliveryStatus,
        error: Option<ErrorCode>,
        pricing: Option<PriceFacts>,
        sink: &mut impl Sink,
    ) {
        match status {
            DeliveryStatus::Delivered => {
                // The platform charges on delivery; failed messages are never priced again.
                if let Some(facts) = pricing {
                    let m = charging::message_ref(s, info.recipient(), info.wamid);
                    if let Some(b) = self.charging.price(at, m, facts, true, info.sent_at) {
                        info.billing = b;
                    }
                    if let Some(t) = self.charging.take_tier_entered() {
                        self.to_every_waba(at, || EventBody::VolumeTier(t), sink);
                    }
                }
                s.counters.delivered += 1;
            }
            DeliveryStatus::Read => {
                s.counters.read += 1;
                if let Some(t) = info.template {
                    self.pacing_signal(s.waba, t, super::pacing::Signal::Read);
                }
            }
            DeliveryStatus::Failed => {
                let code = error.unwrap_or(ErrorCode::SomethingWentWrong);
                self.record_failure(at, s, &info, code, sink);
            }
            DeliveryStatus::Sent => {}
        }
        sink.status(at, s.waba, &info, status, error);
        if status != DeliveryStatus::Delivered {
            return;
        }
        self.on_delivered(at, s, &info, sink);
        if let Some(d) = self.cfg.audience.read_delay(&mut s.rng) {
            s.schedule(
                sink,
                at.plus(d),
                TimerKind::Status {
                    info,
                    status: DeliveryStatus::Read,
                    error: None,
                    pricing: None,
                },
            );
        }
    }

    /// Announces the review verdicts due at `now`, in (time, template) order.
    pub(super) fn fire_reviews(&mut self, now: SimTime, sink: &mut impl Sink) {
        let (mut due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reviews)
            .into_iter()
            .partition(|t| t.at <= now);
        self.reviews = keep;
        due.sort_by_key(|t| (t.at, t.template));
        for t in due {
            let Some(tpl) = self
                .waba_mut(t.waba)
                .and_then(|w| w.templates.get_mut(t.template))
            else {
                continue; // deleted while pending
            };
            if tpl.status != TemplateStatus::Pending {
                continue;
            }
            let (status, reason) = match t.verdict {
                super::review::Verdict::Approve => (TemplateStatus::Approved, None),
                super::review::Verdict::Reject(r) => (TemplateStatus::Rejected, Some(r)),
            };
            tpl.status = status;
            tpl.rejected_reason = reason;
            sink.event(Event {
                at: t.at,
                waba: t.waba,
                body: EventBody::TemplateStatus {
                    template: tpl.id,
                    name: tpl.name.clone(),
                    language: tpl.language.clone(),
                    category: tpl.category,
                    status,
                    reason,
                },
            });
        }
    }
}

/// The template a send names, if it exists and is APPROVED, with its parameters checked.
fn approved_template(
    book: &super::templates::TemplateBook,
    send: &super::templates::TemplateSend,
) -> Result<(super::ids::TemplateId, super::world::TemplateCategory), Rejection> {
    let t = match book.find(&send.name, &send.language) {
        Lookup::Found(t) => t,
        // Meta answers 132001 whether the name or only the language is missing.
        Lookup::NoSuchName | Lookup::NoSuchLanguage => {
            return Err(Rejection::rule(
                ErrorCode::TemplateMissing,
                Rule::TemplateExists,
                format!(
                    "template name ({}) does not exist in {}",
                    send.name, send.language
                ),
            ))
        }
    };
    match t.status {
        TemplateStatus::Approved => {}
        TemplateStatus::Paused => {
            return Err(Rejection::rule(
                ErrorCode::TemplatePaused,
                Rule::TemplatePaused,
                format!("Template {} is paused due to low quality.", t.name),
            ))
        }
        TemplateStatus::Disabled => {
            return Err(Rejection::rule(
                ErrorCode::TemplateDisabled,
                Rule::TemplateDisabled,
                format!("Template {} is disabled.", t.name),
            ))
        }
        other => {
            return Err(Rejection::rule(
                ErrorCode::TemplateMissing,
                Rule::TemplateApproved,
                format!(
                    "template name ({}) in {} is {}, not APPROVED",
                    t.name,
                    t.language,
                    other.as_str()
                ),
            ))
        }
    }
    t.check_send(send)
        .map_err(|(code, d)| Rejection::rule(code, Rule::TemplateParameters, d))?;
    Ok((t.id, t.category))
}

/// The identity rule (numbers with the check on): whether to hold the message until the
/// business acknowledges a changed identity, and the hash statuses carry. A stale hash sets
/// the asynchronous error 137000.
fn identity_rule(
    identities: &mut identity::IdentityBook,
    seed: u64,
    s: &Number,
    msg: &Outbound,
    to: WaId,
    async_error: &mut Option<ErrorCode>,
) -> (bool, Option<identity::KeyHash>) {
    if !s.identity_check {
        return (false, None);
    }
    let key_hash = identity::key_hash(seed, to, identities.generation(to));
    let mut hold = false;
    if async_error.is_none() {
        match identity::decide(
            identities,
            seed,
            s.business,
            to,
            msg.recipient_identity_key_hash.as_deref(),
        ) {
            identity::IdentityDecision::Pass => {}
            identity::IdentityDecision::Acknowledge(g) => {
                identities.acknowledge(s.business, to, g);
            }
            identity::IdentityDecision::Mismatch => {
                *async_error = Some(ErrorCode::IdentityKeyMismatch)
            }
            identity::IdentityDecision::Hold => hold = true,
        }
    }
    (hold, Some(key_hash))
}

/// A number must be CONNECTED (or FLAGGED, which still sends) to send.
fn check_number_status(s: &Number) -> Result<(), Rejection> {
    match s.status {
        NumberStatus::Connected | NumberStatus::Flagged => Ok(()),
        NumberStatus::Restricted => Err(Rejection::rule(
            ErrorCode::PolicyBlocked,
            Rule::NumberStatus,
            "The phone number is RESTRICTED and cannot send messages.",
        )),
        other => Err(Rejection::rule(
            ErrorCode::NotRegistered,
            Rule::NumberStatus,
            format!(
                "The phone number status is {}; it must be CONNECTED to send.",
                other.as_str()
            ),
        )),
    }
}

/// The pair rate limit: messages to one user from one number (131056).
fn check_pair_rate(
    now: SimTime,
    conv: &mut Conversation,
    rate: super::limits::Rate,
) -> Result<(), Rejection> {
    conv.pair.try_take(now, rate).map_err(|wait| {
        Rejection::rule(
            ErrorCode::PairRateLimit,
            Rule::PairRate,
            format!(
                "{} Retry in {} s.",
                ErrorCode::PairRateLimit.default_details(),
                wait.div_ceil(MICROS_PER_SEC)
            ),
        )
    })
}

fn rule_of_async(code: ErrorCode) -> Rule {
    match code {
        ErrorCode::Undeliverable => Rule::RecipientOnWhatsapp,
        ErrorCode::ReEngagement => Rule::ServiceWindow,
        ErrorCode::IdentityKeyMismatch => Rule::IdentityCheck,
        ErrorCode::MarketingOptOut => Rule::MarketingOptOut,
        ErrorCode::SpamRateLimit => Rule::MessagingLimit,
        ErrorCode::EcosystemEngagement => Rule::PerUserMarketingLimit,
        ErrorCode::MediaUpload => Rule::MediaAvailable,
        ErrorCode::TemplatePaused => Rule::TemplatePacing,
        _ => Rule::Accepted,
    }
}
