//! The core: one business portfolio's rules as a plain state machine.
//!
//! A [`Portfolio`] owns everything a real platform limit applies to: its WABAs, phone numbers,
//! templates, messaging limit, quality, standing and pricing ledger, with plain `&mut self`
//! and no locks. Every call takes `now` and returns a decision; what the decision caused goes
//! to a [`Sink`] the caller provides (statuses, webhook-worthy events, the decision log);
//! deadlines (the status ladder, reactions, reviews, pauses) are timers the caller drives
//! with [`Portfolio::poll_timeout`] and [`Portfolio::handle_timeout`], as quinn-proto's
//! `Connection` does. No tokio, sockets, clocks or shared mutable state in here.
//!
//! [`Portfolios`] routes requests of a whole world to its portfolios by token and id through
//! a [`Directory`]; each door picks how a portfolio is held (see [`PortfolioCell`]): the
//! simulator and tests own them outright, the server behind one lock each.
//!
//! Layout:
//! - `portfolio`: the state machine and its contract; `build`: a world description → portfolios;
//! - `number`, `send`: a phone number's state, the send path and the status ladder;
//! - `feedback`, `enforcement`, `integrity`: the rule families after the send (quality,
//!   limits and tiers, strikes, identity, contacts);
//! - `portfolios`, `directory`: routing a world's requests; `views`: read models;
//! - the rest: small rule modules and plain data (`templates`, `tiers`, `quality`, `ids`, …).

pub mod audience;
pub mod blocking;
pub mod bsuid;
pub mod build;
pub mod charging;
pub mod config;
pub mod contact_book;
pub mod contacts;
pub mod content;
pub mod directory;
pub mod eligibility;
pub mod enforcement;
pub mod errors;
pub mod events;
pub mod feedback;
pub mod identity;
pub mod ids;
pub mod inbound_media;
pub mod integrity;
pub mod limits;
pub mod marketing_messages;
pub mod message;
mod number;
pub mod pacing;
pub mod policy;
pub mod portfolio;
pub mod portfolios;
pub mod quality;
pub mod reactions;
mod recategorise;
pub mod registration;
pub mod review;
mod send;
pub mod standing;
pub mod templates;
pub mod tiers;
pub mod timers;
pub mod validate;
pub mod views;
pub mod violations;
pub mod world;

use crate::clock::SimTime;
use errors::ErrorCode;
use events::{Decision, DeliveryStatus, Event, EventBody, MessageInfo, Rule, Wamid};
use ids::{WaId, WabaId};

pub use directory::Directory;
pub use number::NumberCounters;
pub use portfolio::Portfolio;
pub use portfolios::{PortfolioCell, Portfolios};
pub use validate::{InvalidWorld, ValidWorld, WorldError};
pub use views::{BusinessView, ObjectKind, PhoneNumberView, StateSnapshot, TemplateView, WabaView};

/// A refused request: the code, what to tell the caller, and the rule that fired.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub subcode: Option<u32>,
    pub details: String,
    pub rule: Option<Rule>,
}

impl Rejection {
    pub fn new(code: ErrorCode, details: impl Into<String>) -> Rejection {
        Rejection {
            code,
            subcode: None,
            details: details.into(),
            rule: None,
        }
    }

    pub(crate) fn rule(code: ErrorCode, rule: Rule, details: impl Into<String>) -> Rejection {
        Rejection {
            code,
            subcode: None,
            details: details.into(),
            rule: Some(rule),
        }
    }

    /// An id that does not exist (or cannot be seen): code 100, subcode 33, with the id as
    /// the details (the server words it as Graph does).
    pub fn unknown_object(id: &str) -> Rejection {
        Rejection {
            code: ErrorCode::InvalidParameter,
            subcode: Some(33),
            details: id.to_string(),
            rule: None,
        }
    }

    pub(crate) fn permission(id: impl std::fmt::Display) -> Rejection {
        Rejection::new(
            ErrorCode::PermissionError,
            format!("The access token does not have permission on object {id}: it belongs to another business portfolio."),
        )
    }
}

/// What an accepted send returns to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReceipt {
    pub wamid: Wamid,
    pub wa_id: WaId,
    /// The user's BSUID when the send named them by it (the response's `contacts[].user_id`).
    pub user_id: Option<bsuid::UserId>,
    /// The response's `messages[].message_status`: set for template sends (see
    /// [`pacing::MessageStatus`]), `None` for other messages.
    pub message_status: Option<pacing::MessageStatus>,
}

/// Where the core puts what its decisions caused. One interface for every door: the server's
/// sink renders webhooks and keeps the decision log, the simulator's counts.
///
/// Calls come in the order things happened. Nothing here may fail or block: a sink that
/// forwards to I/O queues (bounded, with back-pressure counted) and returns.
pub trait Sink {
    /// A message status. The record is lent: a sink that needs it after the call (a webhook)
    /// copies it; one that counts does not pay for a copy.
    fn status(
        &mut self,
        at: SimTime,
        waba: WabaId,
        info: &MessageInfo,
        status: DeliveryStatus,
        error: Option<ErrorCode>,
    );

    /// Any other webhook-worthy event (inbound messages, template and account updates, …).
    fn event(&mut self, event: Event);

    /// A decision and the rule behind it, for a decision log.
    fn decision(&mut self, decision: Decision);

    /// A deadline earlier than any the caller may know of was set (a driver sleeping until
    /// the next one wakes up earlier).
    fn wake(&mut self, at: SimTime);

    /// Template pacing held, released or dropped one message of `template`. Webhooks follow
    /// from the statuses (a release is `sent` then the ladder, a drop `failed` 132015); a
    /// sink that counts pacing (the simulator's report) reads it here.
    fn pacing(
        &mut self,
        at: SimTime,
        waba: WabaId,
        template: ids::TemplateId,
        step: pacing::PacingStep,
    ) {
        let _ = (at, waba, template, step);
    }
}

/// A sink that keeps everything, in order: the server's per-request buffer and the tests'.
/// Reuse one across calls: `clear` keeps capacity.
#[derive(Debug, Default)]
pub struct Effects {
    pub events: Vec<Event>,
    pub decisions: Vec<Decision>,
    /// The earliest deadline set.
    pub wake_at: Option<SimTime>,
}

impl Effects {
    pub fn clear(&mut self) {
        self.events.clear();
        self.decisions.clear();
        self.wake_at = None;
    }
}

impl Sink for Effects {
    fn status(
        &mut self,
        at: SimTime,
        waba: WabaId,
        info: &MessageInfo,
        status: DeliveryStatus,
        error: Option<ErrorCode>,
    ) {
        self.events.push(Event {
            at,
            waba,
            body: EventBody::Status {
                info: info.clone(),
                status,
                error: error.map(|c| (c, None)),
            },
        });
    }

    fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    fn decision(&mut self, decision: Decision) {
        self.decisions.push(decision);
    }

    fn wake(&mut self, at: SimTime) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }
}

pub mod harness;

#[cfg(test)]
mod dynamics_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod bsuid_tests;
#[cfg(test)]
mod pacing_tests;
#[cfg(test)]
mod policy_tests;
