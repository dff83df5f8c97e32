//! A phone number's registration on the Cloud API: verification code, two-step PIN, register
//! and deregister (`POST /{phone-number-id}/request_code|verify_code|register|deregister`, and
//! `POST /{phone-number-id}` with `{"pin"}`).
//!
//! Plain data on the number, changed through `&mut self` with `now`; the send path refuses an
//! unregistered number with 133010. The rules and their sources are in docs/policy-model.md
//! ("Onboarding and registration"):
//!
//! - register takes a 6-digit `pin`: the two-step PIN when one is set (133005 on a mismatch),
//!   otherwise it becomes the PIN; the number must have verified its code first (133006);
//!   registering a registered number succeeds again (what BSPs observe);
//! - register and deregister together are limited to 10 per number per moving 72 h; the 11th
//!   gets 133016 and blocks both for 72 h;
//! - deregistering an unregistered number gets 100, subcode 2207051 (the OAS's example);
//! - the verification code is deterministic ([`VERIFICATION_CODE`]), so a test or a load script
//!   can complete the flow without an SMS.

use super::errors::ErrorCode;
use super::ids::PhoneNumberId;
use super::portfolios::PortfolioCell;
use super::Rejection;
use crate::clock::{SimTime, MICROS_PER_HOUR};
use std::collections::VecDeque;

/// The code every `request_code` "sends". Meta sends a random 6-digit code by SMS or voice; the
/// simulator has no phone, so the code is fixed and documented (docs/server.md).
pub const VERIFICATION_CODE: &str = "123456";

/// Register and deregister calls a number may make per moving window (Meta: 10 per 72 h).
pub const REGISTER_CALLS: usize = 10;
/// The moving window of [`REGISTER_CALLS`], and how long the block after it lasts.
pub const REGISTER_WINDOW_MICROS: u64 = 72 * MICROS_PER_HOUR;

/// `code_verification_status` of a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeVerification {
    NotVerified,
    Verified,
}

impl CodeVerification {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeVerification::NotVerified => "NOT_VERIFIED",
            CodeVerification::Verified => "VERIFIED",
        }
    }
}

/// One number's registration state (a few dozen bytes; the call history holds at most
/// [`REGISTER_CALLS`] instants).
#[derive(Clone, Debug)]
pub struct Registration {
    pub registered: bool,
    /// The two-step verification PIN, once set (by `register` or `POST /{id}` with `pin`).
    pub pin: Option<String>,
    pub code: CodeVerification,
    /// A code was requested and not yet verified.
    pub code_requested: bool,
    /// Instants of the register/deregister calls in the moving window, oldest first.
    calls: VecDeque<SimTime>,
    /// Register and deregister are refused with 133016 until then.
    blocked_until: SimTime,
}

impl Registration {
    /// A number as the scenario declares it: registered (the default, with a verified code and
    /// no PIN, like Meta's test numbers), or not yet registered, with or without a verified code.
    pub fn new(registered: bool, code_verified: bool) -> Registration {
        Registration {
            registered,
            pin: None,
            code: if code_verified || registered {
                CodeVerification::Verified
            } else {
                CodeVerification::NotVerified
            },
            code_requested: false,
            calls: VecDeque::new(),
            blocked_until: SimTime::default(),
        }
    }

    /// Counts a register or deregister call: 133016 past 10 in 72 h (and for 72 h after).
    fn count_call(&mut self, now: SimTime) -> Result<(), Rejection> {
        if now < self.blocked_until {
            return Err(rate_limited());
        }
        while self
            .calls
            .front()
            .is_some_and(|t| now.since(*t) >= REGISTER_WINDOW_MICROS)
        {
            self.calls.pop_front();
        }
        if self.calls.len() >= REGISTER_CALLS {
            self.blocked_until = now.plus(REGISTER_WINDOW_MICROS);
            self.calls.clear();
            return Err(rate_limited());
        }
        self.calls.push_back(now);
        Ok(())
    }

    /// `POST /{id}/register` with a `pin` the door has checked is 6 digits.
    pub fn register(&mut self, now: SimTime, pin: &str) -> Result<(), Rejection> {
        self.count_call(now)?;
        if self.code != CodeVerification::Verified {
            return Err(Rejection::new(
                ErrorCode::ReverificationNeeded,
                "The phone number has not been verified: request a code (request_code) and verify it (verify_code) first.",
            ));
        }
        match &self.pin {
            Some(p) if p != pin => return Err(pin_mismatch()),
            Some(_) => {}
            None => self.pin = Some(pin.to_string()),
        }
        self.registered = true;
        Ok(())
    }

    /// `POST /{id}/deregister`.
    pub fn deregister(&mut self, now: SimTime) -> Result<(), Rejection> {
        if !self.registered {
            let mut r = Rejection::new(
                ErrorCode::InvalidParameter,
                "Phone number not registered on the WhatsApp Business Platform.",
            );
            r.subcode = Some(2207051);
            return Err(r);
        }
        self.count_call(now)?;
        self.registered = false;
        Ok(())
    }

    /// `POST /{id}` with `{"pin"}`: sets or changes the two-step verification PIN.
    pub fn set_pin(&mut self, pin: &str) {
        self.pin = Some(pin.to_string());
    }

    /// `POST /{id}/request_code`.
    pub fn request_code(&mut self) {
        self.code_requested = true;
    }

    /// `POST /{id}/verify_code`: the code must have been requested and be [`VERIFICATION_CODE`].
    pub fn verify_code(&mut self, code: &str) -> Result<(), Rejection> {
        if !self.code_requested || code != VERIFICATION_CODE {
            return Err(Rejection::new(
                ErrorCode::InvalidParameter,
                "The verification code is invalid or has expired.",
            ));
        }
        self.code_requested = false;
        self.code = CodeVerification::Verified;
        Ok(())
    }

    /// The send path's check: 133010 until the number is registered.
    pub fn check_can_send(&self) -> Result<(), Rejection> {
        if self.registered {
            Ok(())
        } else {
            Err(Rejection::rule(
                ErrorCode::NotRegistered,
                super::events::Rule::NumberStatus,
                "The phone number is not registered on the WhatsApp Business Platform: register it with POST /{phone-number-id}/register.",
            ))
        }
    }
}

/// A registration call, as the doors pass it to [`super::Portfolio::registration_call`].
#[derive(Clone, Copy, Debug)]
pub enum RegistrationCall<'a> {
    Register { pin: &'a str },
    Deregister,
    SetPin { pin: &'a str },
    RequestCode,
    VerifyCode { code: &'a str },
}

impl super::Portfolio {
    /// Applies a registration call to number `phone` at `now`.
    pub fn registration_call(
        &mut self,
        now: SimTime,
        phone: PhoneNumberId,
        call: RegistrationCall<'_>,
    ) -> Result<(), Rejection> {
        let (_, s, now) = self.number_at(phone, now)?;
        let r = &mut s.registration;
        match call {
            RegistrationCall::Register { pin } => r.register(now, pin),
            RegistrationCall::Deregister => r.deregister(now),
            RegistrationCall::SetPin { pin } => {
                r.set_pin(pin);
                Ok(())
            }
            RegistrationCall::RequestCode => {
                r.request_code();
                Ok(())
            }
            RegistrationCall::VerifyCode { code } => r.verify_code(code),
        }
    }
}

impl<C: PortfolioCell> super::Portfolios<C> {
    /// See [`super::Portfolio::registration_call`]; `business` must own the number.
    pub fn registration_call(
        &self,
        now: SimTime,
        business: super::ids::BusinessId,
        phone: PhoneNumberId,
        call: RegistrationCall<'_>,
    ) -> Result<(), Rejection> {
        self.with_number(business, phone, |p| p.registration_call(now, phone, call))?
    }

    /// The name of business `business`, if the world has it (`GET /{business-id}`).
    pub fn business_name(&self, business: super::ids::BusinessId) -> Option<String> {
        let i = self.directory().business(business)?;
        let name = self.cells()[i].lock().biz.name.clone();
        Some(name)
    }

    /// The WABAs of `business`, in the order the world declares them (`debug_token`, the
    /// business's WABA lists).
    pub fn business_wabas(
        &self,
        business: super::ids::BusinessId,
    ) -> Result<Vec<super::views::WabaView>, Rejection> {
        let i = self
            .directory()
            .business(business)
            .ok_or_else(|| Rejection::unknown_object(&business.to_string()))?;
        let p = self.cells()[i].lock();
        p.waba_ids().map(|w| p.waba_view(w)).collect()
    }
}

fn rate_limited() -> Rejection {
    Rejection::new(
        ErrorCode::RegisterRateLimit,
        "Too many register or deregister calls for this number: at most 10 per 72 hours; try again in 72 hours.",
    )
}

fn pin_mismatch() -> Rejection {
    Rejection::new(
        ErrorCode::PinMismatch,
        "The two-step verification PIN does not match the one set for this number.",
    )
}

/// Whether `pin` is the 6-digit form Meta requires (the door answers 100 otherwise).
pub fn is_valid_pin(pin: &str) -> bool {
    pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u64) -> SimTime {
        SimTime::default().plus(h * MICROS_PER_HOUR)
    }

    #[test]
    fn register_sets_the_pin_then_checks_it() {
        let mut r = Registration::new(false, true);
        r.register(t(0), "111111").unwrap();
        assert!(r.registered);
        assert_eq!(r.pin.as_deref(), Some("111111"));
        r.deregister(t(0)).unwrap();
        let e = r.register(t(0), "222222").unwrap_err();
        assert_eq!(e.code, ErrorCode::PinMismatch);
        assert!(!r.registered);
        r.register(t(0), "111111").unwrap();
        // Already registered: succeeds again.
        r.register(t(0), "111111").unwrap();
    }

    #[test]
    fn an_unverified_number_must_verify_its_code_first() {
        let mut r = Registration::new(false, false);
        let e = r.register(t(0), "111111").unwrap_err();
        assert_eq!(e.code, ErrorCode::ReverificationNeeded);
        assert_eq!(
            r.verify_code(VERIFICATION_CODE).unwrap_err().code,
            ErrorCode::InvalidParameter,
            "no code was requested"
        );
        r.request_code();
        assert!(r.verify_code("000000").is_err());
        r.verify_code(VERIFICATION_CODE).unwrap();
        assert_eq!(r.code, CodeVerification::Verified);
        r.register(t(0), "111111").unwrap();
    }

    #[test]
    fn ten_calls_per_72_hours_then_a_72_hour_block() {
        let mut r = Registration::new(true, true);
        for i in 0..10 {
            if i % 2 == 0 {
                r.deregister(t(1)).unwrap();
            } else {
                r.register(t(1), "123123").unwrap();
            }
        }
        let e = r.deregister(t(2)).unwrap_err();
        assert_eq!(e.code, ErrorCode::RegisterRateLimit);
        assert_eq!(
            r.deregister(t(73)).unwrap_err().code,
            ErrorCode::RegisterRateLimit
        );
        r.deregister(t(75)).unwrap();
    }

    #[test]
    fn deregistering_an_unregistered_number_is_refused() {
        let mut r = Registration::new(false, true);
        let e = r.deregister(t(0)).unwrap_err();
        assert_eq!(
            (e.code, e.subcode),
            (ErrorCode::InvalidParameter, Some(2207051))
        );
        assert!(r.check_can_send().is_err());
    }

    #[test]
    fn pins_are_six_digits() {
        assert!(is_valid_pin("012345"));
        assert!(!is_valid_pin("12345"));
        assert!(!is_valid_pin("1234567"));
        assert!(!is_valid_pin("12a456"));
    }
}
