//! HTTP doors to the policy rules: Graph-style routes (number settings, On-Premises style
//! contact checks and identity acknowledgement) and control routes (onboarding, verticals,
//! standings, re-registration). Bad input gets the Graph error envelope.
//!
//! Graph (bearer token):
//! - `GET|POST /{phone-number-id}/settings` `{"user_identity_change":{"enable_identity_key_check":bool}}`
//! - `POST /v1/contacts` `{"blocking","contacts":[...],"force_check"}` → `{"contacts":[{input,status,wa_id}]}`
//! - `PUT|POST /v1/contacts/{wa_id}/identity` `{"hash"}` → acknowledge an identity change
//!
//! Control (`/_sim`):
//! - `POST /_sim/businesses` `{"name","vertical","country"}` → onboarding decision
//! - `GET  /_sim/businesses` standings (strikes, bans, contact checks) and onboarded businesses
//! - `POST /_sim/businesses/{id}/reinstate` lifts a ban
//! - `GET  /_sim/verticals` allowed and prohibited verticals
//! - `POST /_sim/recipients/{wa_id}/reregister` the number gets a new owner
//! - `GET  /_sim/recipients/{wa_id}/identity` current identity key hash

use super::errors::Failure;
use super::{with_effects, Ctx};
use crate::engine::eligibility::Refusal;
use crate::engine::errors::ErrorCode;
use crate::engine::ids::{BusinessId, PhoneNumberId, WaId};
use crate::engine::integrity::{ALLOWED_VERTICALS, PROHIBITED_VERTICALS};
use crate::engine::Rejection;
use serde_json::{json, Value};

fn bad(details: impl Into<String>) -> Rejection {
    Rejection::new(ErrorCode::InvalidParameter, details)
}

/// A JSON object body (Graph's 100 otherwise).
fn object(body: &[u8]) -> Result<serde_json::Map<String, Value>, Rejection> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad("Request body must be a JSON object.")),
        Err(e) => Err(bad(format!("Request body is not valid JSON: {e}"))),
    }
}

fn wa_id(s: &str) -> Result<WaId, Rejection> {
    WaId::parse_lenient(s).ok_or_else(|| bad(format!("wa_id: '{s}' is not a phone number")))
}

/// `GET /{phone-number-id}/settings`.
pub(super) fn settings(ctx: &Ctx<'_>, biz: BusinessId, id: &str) -> Result<Value, Rejection> {
    let e = &*ctx.state.engine;
    let p = phone(id)?;
    let on = e.identity_check(biz, p)?;
    Ok(json!({"user_identity_change": {"enable_identity_key_check": on}}))
}

/// `POST /{phone-number-id}/settings`: the object and the permission first, as Graph does,
/// then the body.
pub(super) fn update_settings(
    ctx: &Ctx<'_>,
    biz: BusinessId,
    id: &str,
    body: &[u8],
) -> Result<Value, Rejection> {
    let e = &*ctx.state.engine;
    let p = phone(id)?;
    e.check_number(biz, p)?;
    let m = object(body)?;
    let Some(uic) = m.get("user_identity_change") else {
        return Err(bad(
            "user_identity_change: required (the only setting wabasim simulates)",
        ));
    };
    let on = uic
        .get("enable_identity_key_check")
        .and_then(Value::as_bool)
        .ok_or_else(|| {
            bad("user_identity_change.enable_identity_key_check: must be true or false")
        })?;
    e.set_identity_check(biz, p, on)?;
    Ok(json!({"success": true}))
}

/// `POST /contacts`.
pub(super) fn check_contacts(
    ctx: &Ctx<'_>,
    biz: BusinessId,
    body: &[u8],
) -> Result<Value, Rejection> {
    let e = &*ctx.state.engine;
    let now = ctx.now;
    let m = object(body)?;
    let list = m
        .get("contacts")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("contacts: required, an array of phone numbers"))?;
    if list.is_empty() {
        return Err(bad("contacts: must not be empty"));
    }
    if let Some(b) = m.get("blocking") {
        if !matches!(b.as_str(), Some("wait" | "no_wait")) {
            return Err(bad("blocking: must be \"wait\" or \"no_wait\""));
        }
    }
    let inputs = list
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(format!("contacts[{i}]: must be a string")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let out = e.check_contacts(now, biz, &inputs)?;
    Ok(json!({"contacts": out}))
}

/// `PUT|POST /contacts/{wa_id}/identity`. The engine's refusals are conflicts with the user's
/// current identity (409), not input errors.
pub(super) fn acknowledge_identity(
    ctx: &Ctx<'_>,
    biz: BusinessId,
    user: &str,
    body: &[u8],
) -> Result<Value, Failure> {
    let e = &*ctx.state.engine;
    let now = ctx.now;
    let user = wa_id(user)?;
    let m = object(body)?;
    let hash = m
        .get("hash")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("hash: required (the user's identity key hash)"))?;
    let released = with_effects(|fx| {
        let r = e.acknowledge_identity(now, biz, user, hash, fx);
        ctx.state.commit(fx);
        r
    })
    .map_err(Failure::conflict)?;
    Ok(json!({"success": true, "released": released}))
}

fn phone(id: &str) -> Result<PhoneNumberId, Rejection> {
    id.parse().map_err(|_| Rejection::unknown_object(id))
}

/// `GET /_sim/verticals`.
pub(super) fn verticals() -> Value {
    json!({
        "allowed": ALLOWED_VERTICALS,
        "prohibited": PROHIBITED_VERTICALS,
    })
}

/// `GET /_sim/businesses`.
pub(super) fn businesses(ctx: &Ctx<'_>) -> Value {
    let e = &*ctx.state.engine;
    let (list, dropped) = {
        let r = ctx.state.onboarding.lock();
        (r.list.clone(), r.dropped)
    };
    json!({
        "portfolios": e.standings(),
        "onboarded": list,
        "onboarded_dropped": dropped,
    })
}

/// `POST /_sim/businesses`: the onboarding decision; a prohibited vertical is refused (403).
pub(super) fn onboard(ctx: &Ctx<'_>, body: &[u8]) -> Result<Value, Failure> {
    let now = ctx.now;
    let e400 = Failure::bad_request;
    let m = object(body).map_err(e400)?;
    // Kept for `GET /_sim/businesses` (10,000 at most): the strings are bounded too.
    const MAX_FIELD: usize = 256;
    let field = |k: &str| -> Result<String, Failure> {
        match m.get(k) {
            Some(Value::String(s)) if s.trim().chars().count() > MAX_FIELD => {
                Err(e400(bad(format!("{k}: at most {MAX_FIELD} characters"))))
            }
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(_) => Err(e400(bad(format!("{k}: must be a non-empty string")))),
            None => Err(e400(bad(format!("{k}: required")))),
        }
    };
    let name = field("name")?;
    let vertical = field("vertical")?;
    let country = field("country")?;
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(e400(bad(format!(
            "country: '{country}' is not an ISO 3166-1 alpha-2 code"
        ))));
    }
    let (o, verdict) = ctx
        .state
        .onboarding
        .lock()
        .record(now, &name, &vertical, &country);
    match verdict {
        Ok(_) => Ok(serde_json::to_value(&o).unwrap_or_default()),
        Err(Refusal::Prohibited(p)) => Err(Failure::forbidden(Rejection::new(
            ErrorCode::PolicyBlocked,
            format!(
                "Business '{name}' cannot use the WhatsApp Business Platform: {}.",
                p.reason
            ),
        ))),
        Err(Refusal::UnknownVertical(v)) => Err(e400(bad(format!(
            "vertical: '{v}' is not a known vertical; allowed: {}",
            ALLOWED_VERTICALS.join(", ")
        )))),
    }
}

/// `POST /_sim/businesses/{id}/reinstate`: lifts a ban (404 for a business that does not exist).
pub(super) fn reinstate(ctx: &Ctx<'_>, id: &str) -> Result<Value, Failure> {
    let st = ctx.state;
    let e = &*st.engine;
    let now = ctx.now;
    let b: BusinessId = id
        .parse()
        .map_err(|_| Failure::not_found(Rejection::unknown_object(id)))?;
    let was = with_effects(|fx| {
        let r = e.reinstate(now, b, fx);
        st.commit(fx);
        r
    })
    .map_err(Failure::not_found)?;
    Ok(json!({"reinstated": was}))
}

/// `POST /_sim/templates/{id}/recategorise` `{"to": "MARKETING", "notice_hours": 24}`: Meta
/// changes the template's category after `notice_hours` (default 24, Meta's one day; 0: at
/// once), with the `template_category_update` notice now and the completed one at the change.
pub(super) fn recategorise(ctx: &Ctx<'_>, id: &str, body: &[u8]) -> Result<Value, Failure> {
    use crate::engine::ids::TemplateId;
    use crate::engine::world::TemplateCategory;
    let st = ctx.state;
    let now = st.clock.now();
    let e400 = Failure::bad_request;
    let template: TemplateId = id
        .parse()
        .map_err(|_| Failure::not_found(Rejection::unknown_object(id)))?;
    let m = object(body).map_err(e400)?;
    let to = match m.get("to") {
        Some(Value::String(s)) => TemplateCategory::parse(s)
            .ok_or_else(|| e400(bad(format!("to: '{s}' is not MARKETING or UTILITY"))))?,
        Some(_) => return Err(e400(bad("to: must be a string"))),
        None => return Err(e400(bad("to: required (MARKETING or UTILITY)"))),
    };
    let notice_hours = match m.get("notice_hours") {
        None => 24,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| e400(bad("notice_hours: must be a whole number of hours")))?,
    };
    let effective = with_effects(|fx| {
        let r = st
            .engine
            .order_recategorisation(now, template, to, notice_hours, fx);
        st.commit(fx);
        r
    })
    .map_err(|r| {
        if r.code == ErrorCode::InvalidParameter {
            e400(r)
        } else {
            Failure::not_found(r)
        }
    })?;
    Ok(json!({
        "template_id": template.to_string(),
        "to": to.as_str(),
        "effective_time": effective.unix_secs(),
    }))
}

/// `POST /_sim/recipients/{wa_id}/reregister`: the number gets a new owner.
pub(super) fn reregister(ctx: &Ctx<'_>, user: &str) -> Result<Value, Failure> {
    let st = ctx.state;
    let e = &*st.engine;
    let now = ctx.now;
    let user = wa_id(user).map_err(Failure::bad_request)?;
    let r = with_effects(|fx| {
        let r = e.reregister(now, user, fx);
        st.commit(fx);
        r
    })
    .map_err(Failure::bad_request)?;
    Ok(serde_json::to_value(&r).unwrap_or_default())
}

/// `GET /_sim/recipients/{wa_id}/identity`: the current identity key hash.
pub(super) fn identity(ctx: &Ctx<'_>, user: &str) -> Result<Value, Failure> {
    let e = &*ctx.state.engine;
    let user = wa_id(user).map_err(Failure::bad_request)?;
    let (generation, hash) = e.identity_of(user);
    Ok(json!({
        "wa_id": user.to_string(),
        "generation": generation,
        "identity_key_hash": hash,
    }))
}
