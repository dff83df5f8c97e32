//! The contact book over HTTP: once the business sent to a hiding user's phone number, the
//! portfolio's webhooks keep showing it past the 30 days of the same-number rule, until
//! `DELETE /{phone-number-id}/contact_book` removes the entry.

use crate::common::*;
use crate::dynamics_http::{changes, wait_for};
use hyper::Method;
use serde_json::{json, Value};

fn scenario() -> String {
    wabasim::scenario::DEFAULT_WORLD.replacen(
        "[audience]\n",
        "[audience]\nusername_ratio = 1.0\n",
        1,
    )
}

/// The user writes; the contact block of the inbound webhook.
async fn user_writes(s: &TestServer, got: &parking_lot::Mutex<Vec<Value>>, text: &str) -> Value {
    s.inbound(USER, text).await;
    wait_for(got, text, |c| {
        c.iter()
            .any(|(_, v)| v["messages"][0]["text"]["body"] == text)
    })
    .await;
    changes(got)
        .into_iter()
        .map(|(_, v)| v)
        .find(|v| v["messages"][0]["text"]["body"] == text)
        .unwrap()["contacts"][0]
        .clone()
}

fn delete_path(bsuid: &str) -> String {
    format!("/v23.0/{PHONE}/contact_book?messaging_product=whatsapp&bsuid={bsuid}")
}

#[tokio::test]
async fn the_book_shows_the_phone_until_the_entry_is_deleted() {
    let (s, got) = start_with_webhooks(Some(&scenario())).await;
    let c = user_writes(&s, &got, "halo 1").await;
    assert!(c.get("wa_id").is_none(), "hidden at first: {c}");
    let id = c["user_id"].as_str().unwrap().to_string();
    // Deleting someone who is not in the book: success, nothing deleted.
    let v = s.delete(&delete_path(&id)).await.ok();
    assert_eq!(
        v,
        json!({"messaging_product": "whatsapp", "success": true, "deleted": false})
    );

    // The business sends to the phone number: the book records it.
    s.send(&text_msg(USER, "Siap")).await.ok();
    s.advance(31.0 * 86_400.0).await;
    let c = user_writes(&s, &got, "halo 2").await;
    assert_eq!(c["wa_id"], USER, "from the book, past 30 days: {c}");

    let v = s.delete(&delete_path(&id)).await.ok();
    assert_eq!(
        v,
        json!({"messaging_product": "whatsapp", "success": true, "deleted": true})
    );
    let c = user_writes(&s, &got, "halo 3").await;
    assert!(c.get("wa_id").is_none(), "deleted: hidden again: {c}");

    // Bad requests get Graph's errors.
    let r = s
        .delete(&format!(
            "/v23.0/{PHONE}/contact_book?messaging_product=whatsapp"
        ))
        .await;
    assert_graph_error(&r, 400, 100);
    let r = s
        .delete(&format!("/v23.0/{PHONE}/contact_book?bsuid={id}"))
        .await;
    assert_graph_error(&r, 400, 100);
    let r = s.delete(&delete_path("ID.ENT.1234")).await;
    assert_graph_error(&r, 400, 100);
    let r = s.delete(&delete_path("ID.1234")).await;
    assert_graph_error(&r, 400, 131009);
    let r = s
        .request(Method::GET, &delete_path(&id), Some(TOKEN), None)
        .await;
    assert_eq!(assert_graph_error(&r, 400, 100)["error_subcode"], 33);
    let r = s
        .delete(&format!(
            "/v23.0/{WABA}/contact_book?messaging_product=whatsapp&bsuid={id}"
        ))
        .await;
    assert_eq!(assert_graph_error(&r, 400, 100)["error_subcode"], 33);
}
