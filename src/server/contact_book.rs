//! `DELETE /{phone-number-id}/contact_book?messaging_product=whatsapp&bsuid=<BSUID>`: removes a
//! user from the portfolio's contact book (`engine/contact_book.rs`), so webhooks stop showing
//! a hidden phone the book supplied. Answer
//! `{"messaging_product":"whatsapp","success":true,"deleted":true|false}` [M:bsuid §3.7].

use super::query::Query;
use crate::engine::errors::ErrorCode;
use crate::engine::ids::{BusinessId, PhoneNumberId};
use crate::engine::{ObjectKind, Rejection};
use serde_json::{json, Value};

pub(super) fn delete(
    state: &super::AppState,
    biz: BusinessId,
    id: &str,
    q: &Query,
) -> Result<Value, Rejection> {
    let e = &*state.engine;
    let phone = crate::engine::ids::parse_id(id)
        .filter(|&i| e.kind_of(i) == Some(ObjectKind::PhoneNumber))
        .ok_or_else(|| Rejection::unknown_object(id))?;
    let phone = PhoneNumberId(phone);
    e.check_number(biz, phone)?;
    if q.get("messaging_product") != Some("whatsapp") {
        return Err(Rejection::new(
            ErrorCode::InvalidParameter,
            "messaging_product: must be \"whatsapp\"",
        ));
    }
    let bsuid = q.get("bsuid").filter(|b| !b.is_empty()).ok_or_else(|| {
        Rejection::new(
            ErrorCode::InvalidParameter,
            "The parameter bsuid is required.",
        )
    })?;
    let deleted = e.delete_contact(biz, phone, bsuid)?;
    Ok(json!({"messaging_product": "whatsapp", "success": true, "deleted": deleted}))
}
