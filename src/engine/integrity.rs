//! The engine's policy entry points beyond the send path: content violations and strikes,
//! bans, re-registration and identity acknowledgement, contact checks and onboarding. The rules
//! themselves live in their own modules (`content`, `violations`, `identity`, `contacts`,
//! `eligibility`); this file wires them to the engine's state.

use super::contacts::CheckRefusal;
use super::content::{self, Sensitive};
use super::eligibility::{self, Onboarding, Refusal};
use super::errors::ErrorCode;
use super::events::{Event, EventBody, LogEntry, Rule};
use super::identity;
use super::ids::{BusinessId, PhoneNumberId, WaId};
use super::message::{Content, Outbound};
use super::violations::{BanState, Violation};
use super::{push_log, Effects, Engine, NumberShard, Rejection};
use crate::clock::SimTime;
use serde::Serialize;
use std::sync::atomic::Ordering;

/// The content rule: the first sensitive identifier in the text a message shows the user.
pub(super) fn scan_outbound(c: &Content) -> Option<Sensitive> {
    match c {
        Content::Template(send) => content::scan_template(send),
        Content::FreeForm {
            text: Some(text), ..
        } => content::scan(text),
        Content::FreeForm { text: None, .. } => None,
    }
}

/// What a send of a disabled portfolio gets: 368, synchronously (our choice; 131031 is the
/// other code the reference links to locked accounts, seen asynchronously). A portfolio
/// refused at onboarding (`[rules.onboarding] check = true`) is disabled from the start and
/// says why, under rule `onboarding`.
pub(super) fn disabled_rejection(policy: &super::portfolio::PortfolioPolicy) -> Rejection {
    if let Some(reason) = policy.refused_at_onboarding {
        return Rejection::rule(
            ErrorCode::PolicyBlocked,
            Rule::Onboarding,
            format!("The business was refused at onboarding and cannot use the WhatsApp Business Platform: {reason}."),
        );
    }
    Rejection::rule(
        ErrorCode::PolicyBlocked,
        Rule::AccountDisabled,
        "The WhatsApp Business Account is disabled for repeated violations of WhatsApp's Business and Commerce policies (account_update DISABLED_UPDATE).",
    )
}

/// Result of re-registering a user's number.
#[derive(Clone, Debug, Serialize)]
pub struct Reregistration {
    pub wa_id: String,
    /// How many times the number has been re-registered.
    pub generation: u32,
    /// The new identity key hash (what `recipient_identity_key_hash` must now be).
    pub identity_key_hash: String,
    /// Where the previous owner moved (`system.wa_id` of `user_changed_number`).
    pub previous_owner_moved_to: String,
    /// Numbers that were told (they had a conversation with the user in memory).
    pub notified: Vec<PhoneNumberId>,
}

/// One answer of `POST /v1/contacts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContactStatus {
    pub input: String,
    /// `valid` or `invalid`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
}

/// A portfolio's standing, for `GET /_sim/businesses`.
#[derive(Clone, Debug, Serialize)]
pub struct StandingView {
    pub id: BusinessId,
    pub name: String,
    pub vertical: String,
    pub country: String,
    pub strikes: u32,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected_risk: Option<Violation>,
    pub contact_checks_outstanding: usize,
    pub contact_checks_wasted: u64,
}

impl Engine {
    /// A content hit: a strike for the portfolio, and the rejection for the caller. Template
    /// sends get 132007 (template content violates a policy), free-form sends 368.
    pub(super) fn content_violation(
        &self,
        now: SimTime,
        s: &mut NumberShard,
        msg: &Outbound,
        kind: Sensitive,
        out: &mut Effects,
    ) -> Rejection {
        self.strike(now, s.business, out);
        let code = match msg.content {
            Content::Template(_) => ErrorCode::TemplatePolicy,
            Content::FreeForm { .. } => ErrorCode::PolicyBlocked,
        };
        Rejection::rule(
            code,
            Rule::ContentPolicy,
            format!(
                "Message blocked: it contains {}. WhatsApp's Business Policy forbids sharing or asking for full payment card numbers and national identity numbers (strike {} of {}).",
                kind.description(),
                s.policy.standing.strikes(),
                self.rules.violations.disable_after
            ),
        )
    }

    /// For a business with a detected risk (prohibited vertical, unofficial BSP): maybe a
    /// strike for this accepted send, logged with the rule.
    pub(super) fn detect_violation(&self, now: SimTime, s: &mut NumberShard, out: &mut Effects) {
        let Some(v) = s.policy.risk else {
            return;
        };
        let key = s.id.0 ^ (s.msg_seq << 20);
        if !self.rules.violations.detected(self.seed, key) {
            return;
        }
        self.strike(now, s.business, out);
        let entry = LogEntry {
            seq: self.next_log_seq(),
            at: now,
            phone_number_id: s.id,
            recipient: None,
            rule: Rule::PolicyViolation,
            code: None,
            wamid: None,
            detail: Some(v.as_str().into()),
        };
        push_log(s, self.rules.log_capacity_per_number, entry);
    }

    /// Adds a strike; on the disabling one, tells every WABA of the portfolio.
    fn strike(&self, now: SimTime, business: BusinessId, out: &mut Effects) {
        let p = &self.portfolios[&business];
        if p.standing.strike(self.rules.violations.disable_after) {
            self.announce_ban(now, business, BanState::Disable, out);
        }
    }

    fn announce_ban(&self, now: SimTime, business: BusinessId, state: BanState, out: &mut Effects) {
        for w in &self.businesses[&business].wabas {
            out.events.push(Event {
                at: now,
                waba: *w,
                body: EventBody::AccountDisabled { state },
            });
        }
    }

    /// Lifts a portfolio's ban (control API). Returns whether it was disabled.
    pub fn reinstate(
        &self,
        now: SimTime,
        business: BusinessId,
        out: &mut Effects,
    ) -> Result<bool, Rejection> {
        let p = self
            .portfolios
            .get(&business)
            .ok_or_else(|| Rejection::unknown_object(&business.to_string()))?;
        let was = p.standing.reinstate();
        if was {
            self.announce_ban(now, business, BanState::Reinstate, out);
        }
        Ok(was)
    }

    /// Standing of every scenario portfolio, by id.
    pub fn standings(&self) -> Vec<StandingView> {
        let mut v: Vec<StandingView> = self
            .businesses
            .iter()
            .map(|(id, b)| {
                let p = &self.portfolios[id];
                let c = p.contacts.lock();
                StandingView {
                    id: *id,
                    name: b.name.clone(),
                    vertical: b.vertical.clone(),
                    country: b.country.clone(),
                    strikes: p.standing.strikes(),
                    disabled: p.standing.is_disabled(),
                    detected_risk: p.risk,
                    contact_checks_outstanding: c.outstanding(),
                    contact_checks_wasted: c.wasted,
                }
            })
            .collect();
        v.sort_by_key(|s| s.id);
        v
    }

    // ----- Identity ----------------------------------------------------------------------

    /// A user's number is re-registered (a recycled number gets a new owner): the identity key
    /// changes, numbers that had a conversation with the user get a `user_changed_number`
    /// system message (the previous owner moved to another number), and their customer
    /// service window with the user closes (it was the previous owner's).
    pub fn reregister(
        &self,
        now: SimTime,
        user: WaId,
        out: &mut Effects,
    ) -> Result<Reregistration, Rejection> {
        if user.0 < 10_000_000 {
            return Err(Rejection::new(
                ErrorCode::ParameterValueInvalid,
                format!("wa_id: '{user}' is not a phone number"),
            ));
        }
        let generation = self.identities.reregister(user);
        let moved = identity::moved_to(self.seed, user, generation);
        let mut notified = Vec::new();
        for id in &self.number_order {
            let mut s = self.numbers[id].lock();
            let known = s.conversations.contains_key(&user)
                || s.held.iter().any(|(m, _)| m.recipient() == user);
            if !known {
                continue;
            }
            let at = now.max(s.latest);
            if let Some(c) = s.conversations.get_mut(&user) {
                c.window_until = SimTime(0);
            }
            s.msg_seq += 1;
            let wamid = super::events::Wamid {
                user,
                seq: s.msg_seq,
                tag: (s.id.0 & 0xFFFF) as u16,
                inbound: true,
            };
            out.events.push(Event {
                at,
                waba: s.waba,
                body: EventBody::UserChangedNumber {
                    phone: s.meta.clone(),
                    old: user,
                    new: moved,
                    wamid,
                },
            });
            notified.push(*id);
        }
        Ok(Reregistration {
            wa_id: user.to_string(),
            generation,
            identity_key_hash: identity::key_hash_string(&identity::key_hash(
                self.seed, user, generation,
            )),
            previous_owner_moved_to: moved.to_string(),
            notified,
        })
    }

    /// Applies the re-registrations the audience drew (see `reactions::Reregistration`), in
    /// the order they fell due.
    /// Returns whether there were any.
    pub(super) fn apply_pending_reregistrations(&self, out: &mut Effects) -> bool {
        if !self.rereg_pending.load(Ordering::Acquire) {
            return false;
        }
        let due = {
            let mut p = self.pending_reregistrations.lock();
            self.rereg_pending.store(false, Ordering::Release);
            std::mem::take(&mut *p)
        };
        let any = !due.is_empty();
        for (at, user) in due {
            // A wa_id the audience delivered to is a phone number: this cannot be refused.
            let _ = self.reregister(at, user, out);
        }
        any
    }

    /// The user's current identity: (generation, key hash).
    pub fn identity_of(&self, user: WaId) -> (u32, String) {
        let g = self.identities.generation(user);
        (
            g,
            identity::key_hash_string(&identity::key_hash(self.seed, user, g)),
        )
    }

    /// The business acknowledges a user's current identity (On-Premises style
    /// `PUT /v1/contacts/{wa_id}/identity {"hash"}`). Releases held messages; returns how many.
    pub fn acknowledge_identity(
        &self,
        now: SimTime,
        business: BusinessId,
        user: WaId,
        hash: &str,
        out: &mut Effects,
    ) -> Result<usize, Rejection> {
        let g = self.identities.generation(user);
        if hash.as_bytes() != identity::key_hash(self.seed, user, g) {
            return Err(Rejection::rule(
                ErrorCode::IdentityKeyMismatch,
                Rule::IdentityCheck,
                format!("hash: '{hash}' is not the current identity key hash of {user}"),
            ));
        }
        self.identities.acknowledge(business, user, g);
        Ok(self.release_held(now, business, user, out))
    }

    /// Starts delivery of the messages the business's numbers hold for `user`.
    pub(super) fn release_held(
        &self,
        now: SimTime,
        business: BusinessId,
        user: WaId,
        out: &mut Effects,
    ) -> usize {
        let (g, _) = self.identity_of(user);
        let hash = identity::key_hash(self.seed, user, g);
        let mut released = 0;
        for w in &self.businesses[&business].wabas {
            for id in &self.wabas[w].numbers {
                let mut s = self.numbers[id].lock();
                if s.held.is_empty() {
                    continue;
                }
                let at = now.max(s.latest);
                let (go, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut s.held)
                    .into_iter()
                    .partition(|(m, _)| m.recipient() == user);
                s.held = keep;
                let blocked = s.is_blocked(user);
                for (mut m, facts) in go {
                    m.recipient_identity_key_hash = Some(hash);
                    self.launch(at, &mut s, m, facts, blocked, out);
                    released += 1;
                }
            }
        }
        released
    }

    /// Switches the identity key check of a number (`POST /{id}/settings`).
    pub fn set_identity_check(
        &self,
        business: BusinessId,
        phone: PhoneNumberId,
        on: bool,
    ) -> Result<(), Rejection> {
        self.shard(business, phone)?.lock().identity_check = on;
        Ok(())
    }

    pub fn identity_check(
        &self,
        business: BusinessId,
        phone: PhoneNumberId,
    ) -> Result<bool, Rejection> {
        Ok(self.shard(business, phone)?.lock().identity_check)
    }

    /// Messages a number holds for identity acknowledgements.
    pub fn held_count(&self, phone: PhoneNumberId) -> usize {
        self.numbers.get(&phone).map_or(0, |s| s.lock().held.len())
    }

    // ----- Contacts ----------------------------------------------------------------------

    /// On-Premises style contact check: valid/invalid per number, within the business's
    /// contact-check budget (see `contacts`).
    pub fn check_contacts(
        &self,
        now: SimTime,
        business: BusinessId,
        inputs: &[String],
    ) -> Result<Vec<ContactStatus>, Rejection> {
        let p = &self.portfolios[&business];
        if p.standing.is_disabled() {
            return Err(disabled_rejection(p));
        }
        let parsed: Vec<Option<WaId>> = inputs.iter().map(|i| WaId::parse_lenient(i)).collect();
        let users: Vec<WaId> = parsed.iter().flatten().copied().collect();
        let mut c = p.contacts.lock();
        match c.check(now, &self.rules.contacts, &users) {
            Ok(()) => {}
            Err(CheckRefusal::TooMany) => {
                return Err(Rejection::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "contacts: at most {} numbers per request",
                        self.rules.contacts.max_per_request
                    ),
                ))
            }
            Err(CheckRefusal::Blocked { until }) => {
                return Err(Rejection::new(
                    ErrorCode::PolicyBlocked,
                    format!(
                        "Contact checks are blocked until {} (unix seconds): too many numbers were checked without being messaged (more than {} outstanding within {} h).",
                        until.unix_secs(),
                        self.rules.contacts.max_unmessaged,
                        self.rules.contacts.window_hours
                    ),
                ))
            }
        }
        p.contacts_outstanding
            .store(c.outstanding(), Ordering::Release);
        drop(c);
        Ok(inputs
            .iter()
            .zip(parsed)
            .map(|(input, wa)| match wa {
                Some(w) if self.audience.on_whatsapp(w) => ContactStatus {
                    input: input.clone(),
                    status: "valid",
                    wa_id: Some(w.to_string()),
                },
                _ => ContactStatus {
                    input: input.clone(),
                    status: "invalid",
                    wa_id: None,
                },
            })
            .collect())
    }

    // ----- Onboarding --------------------------------------------------------------------

    /// Onboards a business (control API): the eligibility decision, recorded.
    pub fn onboard(
        &self,
        now: SimTime,
        name: &str,
        vertical: &str,
        country: &str,
    ) -> (Onboarding, Result<&'static str, Refusal>) {
        self.onboarding.lock().record(now, name, vertical, country)
    }

    /// Businesses onboarded so far (oldest first) and how many were dropped from memory.
    pub fn onboarded(&self) -> (Vec<Onboarding>, u64) {
        let r = self.onboarding.lock();
        (r.list.clone(), r.dropped)
    }
}

/// Re-exported for the control API.
pub use eligibility::{ALLOWED as ALLOWED_VERTICALS, PROHIBITED as PROHIBITED_VERTICALS};
