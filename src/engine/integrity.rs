//! The engine's policy entry points beyond the send path: content violations and strikes,
//! bans, re-registration and identity acknowledgement, contact checks and onboarding. The rules
//! themselves live in their own modules (`content`, `violations`, `identity`, `contacts`,
//! `eligibility`); this file wires them to the engine's state.

use super::contacts::CheckRefusal;
use super::content::{self, Sensitive};
use super::eligibility;
use super::errors::ErrorCode;
use super::events::{Decision, EventBody, Rule};
use super::identity;
use super::ids::{BusinessId, PhoneNumberId, WaId};
use super::message::{Content, Outbound};
use super::number::Number;
use super::portfolio::{Business, Portfolio};
use super::violations::{BanState, Violation};
use super::{Rejection, Sink};
use crate::clock::SimTime;
use serde::Serialize;

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
pub(super) fn disabled_rejection(policy: &super::standing::PortfolioStanding) -> Rejection {
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

impl Business {
    /// A content hit: a strike for the portfolio, and the rejection for the caller. Template
    /// sends get 132007 (template content violates a policy), free-form sends 368.
    pub(super) fn content_violation(
        &mut self,
        now: SimTime,
        msg: &Outbound,
        kind: Sensitive,
        sink: &mut impl Sink,
    ) -> Rejection {
        self.strike(now, sink);
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
                self.standing.standing.strikes(),
                self.cfg.rules.violations.disable_after
            ),
        )
    }

    /// For a business with a detected risk (prohibited vertical, unofficial BSP): maybe a
    /// strike for this accepted send, logged with the rule.
    pub(super) fn detect_violation(&mut self, now: SimTime, s: &Number, sink: &mut impl Sink) {
        let Some(v) = self.standing.risk else {
            return;
        };
        let key = s.id.0 ^ (s.msg_seq << 20);
        if !self.cfg.rules.violations.detected(self.cfg.seed, key) {
            return;
        }
        self.strike(now, sink);
        sink.decision(Decision {
            at: now,
            phone_number_id: s.id,
            recipient: None,
            rule: Rule::PolicyViolation,
            code: None,
            wamid: None,
            detail: Some(v.as_str().into()),
        });
    }

    /// Adds a strike; on the disabling one, tells every WABA of the portfolio.
    fn strike(&mut self, now: SimTime, sink: &mut impl Sink) {
        let disable_after = self.cfg.rules.violations.disable_after;
        if self.standing.standing.strike(disable_after) {
            self.announce_ban(now, BanState::Disable, sink);
        }
    }

    fn announce_ban(&self, now: SimTime, state: BanState, sink: &mut impl Sink) {
        self.to_every_waba(now, || EventBody::AccountDisabled { state }, sink);
    }
}

impl Portfolio {
    /// Lifts the portfolio's ban (control API). Returns whether it was disabled.
    pub fn reinstate(&mut self, now: SimTime, sink: &mut impl Sink) -> bool {
        let was = self.biz.standing.standing.reinstate();
        if was {
            self.biz.announce_ban(now, BanState::Reinstate, sink);
        }
        was
    }

    /// The portfolio's standing.
    pub fn standing(&self) -> StandingView {
        let b = &self.biz;
        let p = &b.standing;
        StandingView {
            id: b.id,
            name: b.name.clone(),
            vertical: b.vertical.clone(),
            country: b.country.clone(),
            strikes: p.standing.strikes(),
            disabled: p.standing.is_disabled(),
            detected_risk: p.risk,
            contact_checks_outstanding: p.contacts.outstanding(),
            contact_checks_wasted: p.contacts.wasted,
        }
    }

    /// The business acknowledges a user's current identity (On-Premises style
    /// `PUT /v1/contacts/{wa_id}/identity {"hash"}`). Releases held messages; returns how many.
    pub fn acknowledge_identity(
        &mut self,
        now: SimTime,
        user: WaId,
        hash: &str,
        sink: &mut impl Sink,
    ) -> Result<usize, Rejection> {
        let g = self.biz.identities.generation(user);
        if hash.as_bytes() != identity::key_hash(self.biz.cfg.seed, user, g) {
            return Err(Rejection::rule(
                ErrorCode::IdentityKeyMismatch,
                Rule::IdentityCheck,
                format!("hash: '{hash}' is not the current identity key hash of {user}"),
            ));
        }
        let business = self.biz.id;
        self.biz.identities.acknowledge(business, user, g);
        Ok(self.release_held(now, user, sink))
    }

    /// Starts delivery of the messages the portfolio's numbers hold for `user`.
    pub(super) fn release_held(&mut self, now: SimTime, user: WaId, sink: &mut impl Sink) -> usize {
        let g = self.biz.identities.generation(user);
        let hash = identity::key_hash(self.biz.cfg.seed, user, g);
        let mut released = 0;
        // In the order of the WABAs and their numbers, as the world declares them.
        let order: Vec<PhoneNumberId> = self
            .biz
            .wabas
            .iter()
            .flat_map(|w| w.numbers.iter().copied())
            .collect();
        for id in order {
            let Ok(i) = self.index(id) else { continue };
            let s = &mut self.numbers[i];
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
                self.biz.launch(at, s, m, facts, blocked, sink);
                released += 1;
            }
        }
        released
    }

    /// On-Premises style contact check: valid/invalid per number, within the business's
    /// contact-check budget (see `contacts`).
    pub fn check_contacts(
        &mut self,
        now: SimTime,
        inputs: &[String],
    ) -> Result<Vec<ContactStatus>, Rejection> {
        let b = &mut self.biz;
        if b.standing.standing.is_disabled() {
            return Err(disabled_rejection(&b.standing));
        }
        let rules = &b.cfg.rules.contacts;
        let parsed: Vec<Option<WaId>> = inputs.iter().map(|i| WaId::parse_lenient(i)).collect();
        let users: Vec<WaId> = parsed.iter().flatten().copied().collect();
        match b.standing.contacts.check(now, rules, &users) {
            Ok(()) => {}
            Err(CheckRefusal::TooMany) => {
                return Err(Rejection::new(
                    ErrorCode::InvalidParameter,
                    format!(
                        "contacts: at most {} numbers per request",
                        rules.max_per_request
                    ),
                ))
            }
            Err(CheckRefusal::Blocked { until }) => {
                return Err(Rejection::new(
                    ErrorCode::PolicyBlocked,
                    format!(
                        "Contact checks are blocked until {} (unix seconds): too many numbers were checked without being messaged (more than {} outstanding within {} h).",
                        until.unix_secs(),
                        rules.max_unmessaged,
                        rules.window_hours
                    ),
                ))
            }
        }
        let audience = &b.cfg.audience;
        Ok(inputs
            .iter()
            .zip(parsed)
            .map(|(input, wa)| match wa {
                Some(w) if audience.on_whatsapp(w) => ContactStatus {
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
}

/// The identity of a user at `generation`, as the control API shows it: the key hash.
pub fn identity_hash(seed: u64, user: WaId, generation: u32) -> String {
    identity::key_hash_string(&identity::key_hash(seed, user, generation))
}

/// The result of re-registering `user` at `generation`, once every portfolio was told.
pub fn reregistration(
    seed: u64,
    user: WaId,
    generation: u32,
    notified: Vec<PhoneNumberId>,
) -> Reregistration {
    Reregistration {
        wa_id: user.to_string(),
        generation,
        identity_key_hash: identity_hash(seed, user, generation),
        previous_owner_moved_to: identity::moved_to(seed, user, generation).to_string(),
        notified,
    }
}

/// Onboarding decisions of businesses that ask to join (control API).
pub use eligibility::Registry as OnboardingRegistry;

/// Re-exported for the control API.
pub use eligibility::{ALLOWED as ALLOWED_VERTICALS, PROHIBITED as PROHIBITED_VERTICALS};
