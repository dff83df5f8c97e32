//! [`Portfolio`]: one business portfolio's rules as a single-owner state machine.

use super::audience::Audience;
use super::charging::Charging;
use super::config::RulesConfig;
use super::enforcement::{DynKind, PortfolioLimits, PortfolioTimers};
use super::errors::ErrorCode;
use super::events::{Event, EventBody, Wamid};
use super::feedback::TemplateFeedback;
use super::identity::{self, IdentityBook};
use super::ids::{BusinessId, IdMap, PhoneNumberId, TemplateId, WaId, WabaId};
use super::limits::Rate;
use super::message::Outbound;
use super::number::Number;
use super::policy::PolicyConfig;
use super::review;
use super::standing::PortfolioStanding;
use super::templates::{Lookup, Template, TemplateBook, TemplateRequest};
use super::world::{BusinessProfile, TemplateStatus};
use super::{Rejection, SendReceipt, Sink};
use crate::clock::{SimTime, MICROS_PER_SEC};
use std::sync::Arc;

/// The rules and the audience every portfolio of a world reads (immutable after build).
#[derive(Debug)]
pub struct Config {
    pub rules: RulesConfig,
    pub policy: PolicyConfig,
    pub audience: Audience,
    pub seed: u64,
    pub(super) pair_rate: Rate,
    /// The customer service window's length, µs.
    pub(super) window_len: u64,
    /// The rate cards every portfolio prices with.
    pub(super) book: Arc<crate::pricing::RateBook>,
}

/// One business portfolio: its WABAs, phone numbers, templates, messaging limit, quality,
/// standing, identity acknowledgements and pricing ledger.
///
/// # Contract
///
/// A portfolio is a plain state machine with one owner (`&mut self`, no locks inside), in
/// the manner of quinn-proto's `Connection`:
///
/// - **Inputs** are method calls that take `now`: [`send`](Self::send),
///   [`inbound`](Self::inbound), template management, the control actions. Each returns its
///   decision (an `Err(Rejection)` carries the code and the rule that fired); what it caused
///   goes to the [`Sink`] passed in.
/// - **Timers**: after any input, [`poll_timeout`](Self::poll_timeout) says when the
///   portfolio next needs to run; call [`handle_timeout`](Self::handle_timeout) at or after
///   that instant (calling it early does nothing wrong).
/// - **Time** never goes backwards for a number: a `now` older than one the number has seen
///   is taken as that later instant. Concurrent doors read their clock before they reach the
///   portfolio, so this happens, and a limiter must not throttle because of it.
/// - **Facts from outside**: a re-registration the audience draws in one portfolio (in a
///   timer) concerns every portfolio. After [`handle_timeout`](Self::handle_timeout) the owner
///   takes them ([`take_reregistrations`](Self::take_reregistrations)) and delivers each to
///   every portfolio with [`reregister`](Self::reregister). Nothing else is shared: random
///   draws derive from the seed and the ids involved.
/// - **Determinism**: the same calls with the same `now`s give the same effects, byte for byte.
pub struct Portfolio {
    pub(super) biz: Business,
    /// Sorted by id.
    pub(super) numbers: Vec<Number>,
}

/// Everything of the portfolio but its numbers. Apart from them so that a rule can hold one
/// number and the rest of the portfolio mutably at once.
pub(super) struct Business {
    pub cfg: Arc<Config>,
    pub id: BusinessId,
    pub name: String,
    pub country: String,
    pub vertical: String,
    pub verified: bool,
    /// The parent BSUID account the portfolio is enrolled in ([`super::bsuid`]).
    pub parent_account: Option<BusinessId>,
    /// Users whose phone the portfolio has ([`super::contact_book`]).
    pub contact_book: super::contact_book::ContactBook,
    /// In the order the world declares them.
    pub wabas: Vec<Waba>,
    /// Messaging limit, opt-outs, restriction.
    pub limits: PortfolioLimits,
    pub standing: PortfolioStanding,
    pub identities: IdentityBook,
    pub reviews: Vec<ReviewTimer>,
    /// Timers that belong to no number: template unpauses, tier scaling.
    pub timers: PortfolioTimers,
    pub charging: Charging,
    pub next_template_id: u64,
    /// Re-registrations the audience drew, until the owner takes them.
    pub drawn_reregistrations: Vec<(SimTime, WaId)>,
}

pub(super) struct Waba {
    pub id: WabaId,
    pub name: String,
    pub currency: String,
    pub numbers: Vec<PhoneNumberId>,
    pub templates: TemplateBook,
    /// Feedback per template (quality, pauses).
    pub feedback: IdMap<TemplateId, TemplateFeedback>,
    /// The business accepted the Marketing Messages API terms for this WABA.
    pub mm_onboarded: bool,
    /// `disable_marketing_messages_on_cloud_api`.
    pub mm_only: bool,
    /// Pacing per template ever paced (`pacing.rs`).
    pub pacing: IdMap<TemplateId, super::pacing::TemplatePacing>,
    /// When one of this WABA's utility templates was last paused: its utility templates are
    /// paced for `rules.pacing.utility_days` after.
    pub utility_paused_at: Option<SimTime>,
}

#[derive(Debug)]
pub(super) struct ReviewTimer {
    pub at: SimTime,
    pub waba: WabaId,
    pub template: TemplateId,
    /// Decided at creation from the content; announced at `at`.
    pub verdict: review::Verdict,
}

impl Business {
    pub fn waba(&self, id: WabaId) -> Option<&Waba> {
        self.wabas.iter().find(|w| w.id == id)
    }

    pub fn waba_mut(&mut self, id: WabaId) -> Option<&mut Waba> {
        self.wabas.iter_mut().find(|w| w.id == id)
    }

    pub fn waba_ids(&self) -> impl Iterator<Item = WabaId> + '_ {
        self.wabas.iter().map(|w| w.id)
    }

    /// Sends one event to every WABA of the portfolio (account-level webhooks).
    pub fn to_every_waba(&self, at: SimTime, body: impl Fn() -> EventBody, sink: &mut impl Sink) {
        for w in &self.wabas {
            sink.event(Event {
                at,
                waba: w.id,
                body: body(),
            });
        }
    }
}

impl Portfolio {
    pub fn id(&self) -> BusinessId {
        self.biz.id
    }

    pub fn config(&self) -> &Config {
        &self.biz.cfg
    }

    /// The portfolio's phone numbers, by id.
    pub fn number_ids(&self) -> impl Iterator<Item = PhoneNumberId> + '_ {
        self.numbers.iter().map(|n| n.id)
    }

    pub fn waba_ids(&self) -> impl Iterator<Item = WabaId> + '_ {
        self.biz.waba_ids()
    }

    pub(super) fn index(&self, id: PhoneNumberId) -> Result<usize, Rejection> {
        self.numbers
            .binary_search_by_key(&id, |n| n.id)
            .map_err(|_| Rejection::unknown_object(&id.to_string()))
    }

    /// The number `id`, with `now` moved up to the latest instant it has seen.
    pub(super) fn number_at(
        &mut self,
        id: PhoneNumberId,
        now: SimTime,
    ) -> Result<(&mut Business, &mut Number, SimTime), Rejection> {
        let i = self.index(id)?;
        let s = &mut self.numbers[i];
        let now = now.max(s.latest);
        s.latest = now;
        Ok((&mut self.biz, s, now))
    }

    /// Sends one message: the send-path rules in order, then the status ladder.
    ///
    /// Order: number status → standing → throughput (every request to the number counts, as
    /// at Meta's gateway) → template or service-window rules → content → identity → pair rate
    /// (only messages that would otherwise be accepted use pair quota) → accepted.
    pub fn send(
        &mut self,
        now: SimTime,
        phone: PhoneNumberId,
        msg: &Outbound,
        sink: &mut impl Sink,
    ) -> Result<SendReceipt, Rejection> {
        let (biz, s, now) = self.number_at(phone, now)?;
        let result = biz.send(now, s, msg, sink);
        // Sending with the current hash acknowledged an identity change: release what this
        // portfolio's other numbers hold for the user.
        // Sending with the current hash acknowledged an identity change: release what this
        if let Ok(r) = &result {
            let release = s.identity_check
                && msg.recipient_identity_key_hash.is_some()
                && biz.identities.generation(r.wa_id) > 0;
            if release {
                self.release_held(now, r.wa_id, sink);
            }
        }
        result
    }

    /// A user writes to a business number: opens (or renews) the customer service window and
    /// reports the message by webhook. `from_ad`: the user came from a Click-to-WhatsApp ad or
    /// a Page CTA, so a business reply within 24 h opens a 72 h free-entry-point window.
    pub fn inbound(
        &mut self,
        now: SimTime,
        phone: PhoneNumberId,
        from: WaId,
        text: &str,
        from_ad: bool,
        sink: &mut impl Sink,
    ) -> Result<Wamid, Rejection> {
        let (biz, s, now) = self.number_at(phone, now)?;
        biz.inbound(
            now,
            s,
            from,
            text,
            from_ad,
            super::send::Attach::AsDrawn,
            sink,
        )
        .ok_or_else(|| {
            Rejection::rule(
                ErrorCode::BusinessBlockedUser,
                super::events::Rule::BlockedUser,
                "The business blocked this user: the message is not delivered.",
            )
        })
    }

    /// Mark an inbound message as read (`"status": "read"`). The platform shows blue ticks to
    /// the user; nothing is reported back by webhook.
    pub fn mark_read(&self, phone: PhoneNumberId, message_id: &str) -> Result<(), Rejection> {
        self.index(phone)?;
        if !message_id.starts_with("wamid.") {
            return Err(Rejection::new(
                ErrorCode::ParameterValueInvalid,
                format!("message_id: '{message_id}' is not a WhatsApp message id (wamid.…)"),
            ));
        }
        Ok(())
    }

    /// Whether the customer service window between `phone` and `user` is open at `now`.
    pub fn window_open(&self, now: SimTime, phone: PhoneNumberId, user: WaId) -> bool {
        self.index(phone).is_ok_and(|i| {
            self.numbers[i]
                .conversations
                .get(&user)
                .is_some_and(|c| c.window_until > now)
        })
    }

    /// Whether one of the numbers has a conversation with `user` (the number, if so).
    pub fn number_talking_to(&self, user: WaId) -> Option<PhoneNumberId> {
        self.numbers
            .iter()
            .find(|s| s.conversations.contains_key(&user))
            .map(|s| s.id)
    }

    // ----- Timers ------------------------------------------------------------------------

    /// The earliest pending timer, if any: when [`Self::handle_timeout`] must next run.
    pub fn poll_timeout(&mut self) -> Option<SimTime> {
        let numbers = self.numbers.iter_mut().filter_map(|s| s.timers.next_at());
        let reviews = self.biz.reviews.iter().map(|r| r.at);
        let dynamics = self.biz.timers.next_at();
        numbers.chain(reviews).chain(dynamics).min()
    }

    /// Fires every timer due at or before `now`: template reviews, then each number's timers
    /// in time order, then portfolio timers (pauses ending, tier scaling).
    pub fn handle_timeout(&mut self, now: SimTime, sink: &mut impl Sink) {
        if self.biz.reviews.iter().any(|t| t.at <= now) {
            self.biz.fire_reviews(now, sink);
        }
        for s in &mut self.numbers {
            // Views (limit usage, maintenance) read `latest` as the number's notion of now.
            s.latest = s.latest.max(now);
            while let Some(timer) = s.timers.pop_due(now) {
                self.biz.fire(s, timer, sink);
            }
            s.maybe_sweep(now);
        }
        while let Some(t) = self.biz.timers.pop_due(now) {
            match t.kind {
                DynKind::Unpause { waba, template } => self.biz.unpause(t.at, waba, template, sink),
                DynKind::Scale { number } => self.scale(t.at, number, sink),
                DynKind::CategoryNotice {
                    waba,
                    template,
                    to,
                    effective,
                } => self
                    .biz
                    .category_notice(t.at, waba, template, to, effective, sink),
                DynKind::Recategorise { waba, template, to } => {
                    self.biz.recategorise(t.at, waba, template, to, sink)
                }
                DynKind::PacingDecide {
                    waba,
                    template,
                    opened,
                } => self.pacing_decide(t.at, waba, template, opened, sink),
                DynKind::PacingGuardrail {
                    waba,
                    template,
                    opened,
                } => self.pacing_guardrail(t.at, waba, template, opened, sink),
            }
        }
    }

    /// The re-registrations drawn by the timers handled so far, in the order they fell due:
    /// the owner delivers each to every portfolio (this one included) with [`Self::reregister`].
    pub fn take_reregistrations(&mut self) -> Vec<(SimTime, WaId)> {
        std::mem::take(&mut self.biz.drawn_reregistrations)
    }

    /// Scheduled events not yet due.
    pub fn pending_timers(&self) -> usize {
        self.numbers.iter().map(|s| s.timers.len()).sum::<usize>()
            + self.biz.reviews.len()
            + self.biz.timers.len()
    }

    // ----- Identity ----------------------------------------------------------------------

    /// A user's number is re-registered (a recycled number gets a new owner): the identity key
    /// changes, numbers that had a conversation with the user get a `user_changed_number`
    /// system message (the previous owner moved to another number) followed by
    /// `user_changed_user_id` (their BSUID changed with the number), and their customer
    /// service window with the user closes (it was the previous owner's). Returns the user's
    /// new generation and the numbers told.
    pub fn reregister(
        &mut self,
        now: SimTime,
        user: WaId,
        sink: &mut impl Sink,
    ) -> (u32, Vec<PhoneNumberId>) {
        let seed = self.biz.cfg.seed;
        let generation = self.biz.identities.reregister(user);
        let moved = identity::moved_to(seed, user, generation);
        let mut notified = Vec::new();
        for s in &mut self.numbers {
            let known = s.conversations.contains_key(&user)
                || s.held.iter().any(|(m, _)| m.recipient() == user);
            if !known {
                continue;
            }
            let at = now.max(s.latest);
            if let Some(c) = s.conversations.get_mut(&user) {
                c.window_until = SimTime(0);
            }
            let wamid = s.next_wamid(user, true);
            sink.event(Event {
                at,
                waba: s.waba,
                body: EventBody::UserChangedNumber {
                    phone: s.meta.clone(),
                    old: user,
                    new: moved,
                    wamid,
                },
            });
            // The previous owner's BSUID in this portfolio changes with their number
            // [M:bsuid]: the old id stops resolving, the new one is announced.
            let previous_user_id = super::bsuid::user_id(seed, s.business, user, generation - 1);
            let new_user = self.biz.user_ref(at, s, moved, super::bsuid::Via::User);
            // Its own id without drawing a sequence number: later message numbers (and the
            // reactions drawn from them) stay what they were before this message existed.
            let wamid = Wamid {
                user: moved,
                ..wamid
            };
            sink.event(Event {
                at,
                waba: s.waba,
                body: EventBody::UserChangedUserId {
                    phone: s.meta.clone(),
                    old: user,
                    new: moved,
                    new_user,
                    previous_user_id,
                    wamid,
                },
            });
            let previous_parent_user_id = self
                .biz
                .parent_account
                .map(|a| super::bsuid::parent_user_id(seed, a, user, generation - 1));
            sink.event(Event {
                at,
                waba: s.waba,
                body: EventBody::UserIdUpdate {
                    phone: s.meta.clone(),
                    new: moved,
                    new_user,
                    previous_user_id,
                    previous_parent_user_id,
                },
            });
            notified.push(s.id);
        }
        (generation, notified)
    }

    /// The user's current identity generation (0: never re-registered).
    pub fn identity_generation(&self, user: WaId) -> u32 {
        self.biz.identities.generation(user)
    }

    // ----- Templates -----------------------------------------------------------------------

    fn owned_waba(&mut self, waba: WabaId) -> Result<&mut Waba, Rejection> {
        self.biz
            .waba_mut(waba)
            .ok_or_else(|| Rejection::unknown_object(&waba.to_string()))
    }

    /// Creates a template (status PENDING); the review verdict comes after
    /// `template_review_delay_s` as a `message_template_status_update` event.
    pub fn create_template(
        &mut self,
        now: SimTime,
        waba: WabaId,
        req: &TemplateRequest,
        sink: &mut impl Sink,
    ) -> Result<Template, Rejection> {
        let id = TemplateId(self.biz.next_template_id);
        let delay = self.biz.cfg.rules.template_review_delay_s;
        let cap = self.template_cap();
        let w = self.owned_waba(waba)?;
        let t = Template::from_request(req, id, waba, now)
            .map_err(|(code, d)| Rejection::new(code, d))?;
        if matches!(w.templates.find(&t.name, &t.language), Lookup::Found(_)) {
            let mut r = Rejection::new(
                ErrorCode::InvalidParameter,
                format!(
                    "Content in this language already exists: message template \"{}\" already has a {} translation.",
                    t.name, t.language
                ),
            );
            r.subcode = Some(2388024);
            return Err(r);
        }
        if !w.templates.has_name(&t.name) && w.templates.name_count() >= cap {
            let mut r = Rejection::new(
                ErrorCode::InvalidParameter,
                format!(
                    "Message Template Limit Exceeded: this WhatsApp Business Account has {cap} message templates (names), the most it may have. Delete templates it no longer uses."
                ),
            );
            r.subcode = Some(2388019);
            return Err(r);
        }
        w.templates.insert(t.clone());
        self.biz.next_template_id += 1;
        let at = now.plus(delay * MICROS_PER_SEC);
        self.biz.reviews.push(ReviewTimer {
            at,
            waba,
            template: id,
            verdict: review::review(&t),
        });
        sink.wake(at);
        Ok(t)
    }

    /// Template names a WABA of this portfolio may have: 250, or 6,000 once the business is
    /// verified and one of its numbers has an approved display name [M:templates].
    fn template_cap(&self) -> usize {
        let approved_name = self.numbers.iter().any(|n| n.name_status == "APPROVED");
        if self.biz.verified && approved_name {
            6_000
        } else {
            250
        }
    }

    /// Templates of a WABA, in creation order.
    pub fn templates(&self, waba: WabaId) -> Result<&[Template], Rejection> {
        self.biz
            .waba(waba)
            .map(|w| w.templates.templates.as_slice())
            .ok_or_else(|| Rejection::unknown_object(&waba.to_string()))
    }

    /// Deletes templates by name (every language) or by name and id. Unknown names are an error,
    /// as on the Graph API.
    pub fn delete_template(
        &mut self,
        waba: WabaId,
        name: &str,
        id: Option<TemplateId>,
    ) -> Result<usize, Rejection> {
        let removed = self.owned_waba(waba)?.templates.remove(name, id);
        if removed == 0 {
            return Err(Rejection::new(
                ErrorCode::InvalidParameter,
                format!(
                    "name: no message template named '{name}'{}",
                    match id {
                        Some(id) => format!(" with hsm_id {id}"),
                        None => String::new(),
                    }
                ),
            ));
        }
        Ok(removed)
    }

    /// One template by id, if this portfolio has it.
    pub fn template(&self, id: TemplateId) -> Option<&Template> {
        self.biz.wabas.iter().find_map(|w| w.templates.get(id))
    }

    /// Sets a template's status directly (control API, scenario scripting).
    pub fn set_template_status(
        &mut self,
        now: SimTime,
        waba: WabaId,
        id: TemplateId,
        status: TemplateStatus,
        sink: &mut impl Sink,
    ) -> Result<(), Rejection> {
        let t = self
            .owned_waba(waba)?
            .templates
            .get_mut(id)
            .ok_or_else(|| Rejection::unknown_object(&id.to_string()))?;
        if t.status != status {
            t.status = status;
            sink.event(Event {
                at: now,
                waba,
                body: EventBody::TemplateStatus {
                    template: id,
                    name: t.name.clone(),
                    language: t.language.clone(),
                    category: t.category,
                    status,
                    reason: None,
                },
            });
        }
        Ok(())
    }

    // ----- Phone numbers -------------------------------------------------------------------

    pub fn business_profile(&self, id: PhoneNumberId) -> Result<BusinessProfile, Rejection> {
        Ok(self.numbers[self.index(id)?].profile.clone())
    }

    /// Updates the business profile: fields present in `update` replace the stored ones.
    pub fn update_business_profile(
        &mut self,
        id: PhoneNumberId,
        update: BusinessProfile,
    ) -> Result<(), Rejection> {
        let i = self.index(id)?;
        let p = &mut self.numbers[i].profile;
        if update.about.is_some() {
            p.about = update.about;
        }
        if update.address.is_some() {
            p.address = update.address;
        }
        if update.description.is_some() {
            p.description = update.description;
        }
        if update.email.is_some() {
            p.email = update.email;
        }
        if update.profile_picture_url.is_some() {
            p.profile_picture_url = update.profile_picture_url;
        }
        if !update.websites.is_empty() {
            p.websites = update.websites;
        }
        if update.vertical.is_some() {
            p.vertical = update.vertical;
        }
        Ok(())
    }

    /// Switches the identity key check of a number (`POST /{id}/settings`).
    pub fn set_identity_check(&mut self, phone: PhoneNumberId, on: bool) -> Result<(), Rejection> {
        let i = self.index(phone)?;
        self.numbers[i].identity_check = on;
        Ok(())
    }

    pub fn identity_check(&self, phone: PhoneNumberId) -> Result<bool, Rejection> {
        Ok(self.numbers[self.index(phone)?].identity_check)
    }

    /// Messages a number holds for identity acknowledgements.
    pub fn held_count(&self, phone: PhoneNumberId) -> usize {
        self.index(phone).map_or(0, |i| self.numbers[i].held.len())
    }

    // ----- Pricing -------------------------------------------------------------------------

    /// The portfolio's pricing (its WABAs' pricers and ledgers).
    pub fn charging(&self) -> &Charging {
        &self.biz.charging
    }
}
