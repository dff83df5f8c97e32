//! The Block Users API's rules: a business number blocks users who wrote to it in the last
//! 24 hours, up to 64,000 of them; a blocked user's messages are not delivered and sends to
//! them fail with 130403 (docs/policy-model.md, "Block Users API").
//!
//! The block is a flag on the (number, user) conversation, so it costs no memory beyond the
//! conversation the user's message already created, and the sweep keeps it.

use super::errors::ErrorCode;
use super::events::{Decision, Rule};
use super::feedback::BUSINESS_BLOCKED;
use super::ids::{PhoneNumberId, WaId};
use super::{Portfolio, Rejection, Sink};
use crate::clock::SimTime;

/// Users one request may name (Meta: 1,000).
pub const MAX_PER_REQUEST: usize = 1_000;
/// Users one number's block list may hold (Meta: 64,000).
pub const MAX_BLOCKED: usize = 64_000;

/// What happened to one user of a block or unblock request.
pub type UserOutcome = Result<WaId, (WaId, Rejection)>;

impl Portfolio {
    /// Blocks `users` on number `phone`, each on its own: a user who has not written in the
    /// last 24 hours gets 131047, the number itself 131021, a full list 139101; blocking a
    /// blocked user again succeeds. The caller has checked the request's size.
    pub fn block_users(
        &mut self,
        now: SimTime,
        phone: PhoneNumberId,
        users: &[WaId],
        sink: &mut impl Sink,
    ) -> Result<Vec<UserOutcome>, Rejection> {
        let (_, s, now) = self.number_at(phone, now)?;
        let mut listed = s
            .conversations
            .values()
            .filter(|c| c.flags & BUSINESS_BLOCKED != 0)
            .count();
        let own = s.meta.display.to_string();
        let mut out = Vec::with_capacity(users.len());
        for &user in users {
            let conv = s.conversations.get(&user).copied().unwrap_or_default();
            let refusal = if user.to_string() == own {
                Some((
                    ErrorCode::RecipientIsSender,
                    "A number cannot block itself.",
                ))
            } else if conv.flags & BUSINESS_BLOCKED != 0 {
                None
            } else if conv.window_until <= now {
                Some((
                    ErrorCode::ReEngagement,
                    "User has not messaged in the last 24 hours",
                ))
            } else if listed >= MAX_BLOCKED {
                Some((
                    ErrorCode::BlockListFull,
                    ErrorCode::BlockListFull.default_details(),
                ))
            } else {
                listed += 1;
                None
            };
            match refusal {
                Some((code, details)) => out.push(Err((
                    user,
                    Rejection::rule(code, Rule::BlockedUser, details),
                ))),
                None => {
                    s.conversations.entry(user).or_default().flags |= BUSINESS_BLOCKED;
                    sink.decision(Decision {
                        at: now,
                        phone_number_id: phone,
                        recipient: Some(user),
                        rule: Rule::BlockedUser,
                        code: None,
                        wamid: None,
                        detail: Some("blocked by the business".into()),
                    });
                    out.push(Ok(user));
                }
            }
        }
        Ok(out)
    }

    /// Unblocks `users` on number `phone`. Unblocking is not bound by the 24-hour rule, and
    /// unblocking a user who is not blocked succeeds (as whatsapp-api-js documents).
    pub fn unblock_users(
        &mut self,
        now: SimTime,
        phone: PhoneNumberId,
        users: &[WaId],
        sink: &mut impl Sink,
    ) -> Result<Vec<UserOutcome>, Rejection> {
        let (_, s, now) = self.number_at(phone, now)?;
        let mut out = Vec::with_capacity(users.len());
        for &user in users {
            if let Some(c) = s.conversations.get_mut(&user) {
                if c.flags & BUSINESS_BLOCKED != 0 {
                    c.flags &= !BUSINESS_BLOCKED;
                    sink.decision(Decision {
                        at: now,
                        phone_number_id: phone,
                        recipient: Some(user),
                        rule: Rule::BlockedUser,
                        code: None,
                        wamid: None,
                        detail: Some("unblocked by the business".into()),
                    });
                }
            }
            out.push(Ok(user));
        }
        Ok(out)
    }

    /// The user a business-scoped user id names, as a send by `recipient` would resolve it
    /// (131009 when this portfolio did not issue it for the user's current identity).
    /// Deletes the user a BSUID names from the portfolio's contact book; whether they were in
    /// it. Parent BSUIDs are not accepted [M:bsuid §3.7].
    pub fn delete_contact(&mut self, text: &str) -> Result<bool, Rejection> {
        if super::bsuid::is_parent_form(text) {
            return Err(Rejection::new(
                super::errors::ErrorCode::InvalidParameter,
                format!("bsuid: '{text}' is a parent BSUID; the contact book takes a business-scoped user ID"),
            ));
        }
        let user = self.resolve_user_id(text)?;
        Ok(self.biz.contact_book.delete(user))
    }

    pub fn resolve_user_id(&self, text: &str) -> Result<WaId, Rejection> {
        let to = super::message::Addressee::UserId(text.into());
        self.biz.resolve_addressee(self.biz.id, &to)
    }

    /// The users number `phone` blocked, in ascending order.
    pub fn blocked_users(&self, phone: PhoneNumberId) -> Result<Vec<WaId>, Rejection> {
        let i = self.index(phone)?;
        let mut v: Vec<WaId> = self.numbers[i]
            .conversations
            .iter()
            .filter(|(_, c)| c.flags & BUSINESS_BLOCKED != 0)
            .map(|(u, _)| *u)
            .collect();
        v.sort_unstable();
        Ok(v)
    }
}
