//! The Block Users API over HTTP: who may be blocked (wrote in the last 24 h, not the number
//! itself), the partial-failure body (lists and the 139100 error together), what a block does
//! (sends refused with 130403, the user's messages not delivered), unblocking, the list.

use crate::common::*;
use hyper::Method;
use serde_json::json;

const OTHER: &str = "6281300000002";

fn block_body(users: &[&str]) -> Vec<u8> {
    let list: Vec<_> = users.iter().map(|u| json!({ "user": u })).collect();
    serde_json::to_vec(&json!({"messaging_product": "whatsapp", "block_users": list})).unwrap()
}

async fn block(s: &TestServer, method: Method, users: &[&str]) -> Resp {
    s.request(
        method,
        &format!("/v23.0/{PHONE}/block_users"),
        Some(TOKEN),
        Some(block_body(users)),
    )
    .await
}

#[tokio::test]
async fn a_user_who_wrote_in_is_blocked_and_can_no_longer_reach_or_be_reached() {
    let s = start_default().await;
    s.inbound(USER, "halo").await;
    // Before: a reply inside the window is accepted.
    s.send(&text_msg(USER, "hai")).await.ok();
    let r = block(&s, Method::POST, &[&format!("+{USER}")]).await;
    let v = r.ok();
    assert_eq!(v["messaging_product"], "whatsapp");
    assert_eq!(
        v["block_users"]["added_users"],
        json!([{"input": format!("+{USER}"), "wa_id": USER}])
    );
    assert!(v.get("error").is_none(), "{v}");
    // Sends to the blocked user fail with 130403 (templates too), others are unaffected.
    assert_graph_error(&s.send(&text_msg(USER, "hai lagi")).await, 400, 130403);
    assert_graph_error(&s.send(&hello_world(USER)).await, 400, 130403);
    s.send(&hello_world(OTHER)).await.ok();
    // Their messages are not delivered: the simulation's inbound is refused with the reason.
    let r = s
        .sim_post(
            "inbound",
            &json!({"from": USER, "phone_number_id": PHONE, "text": "halo?"}),
        )
        .await;
    assert_eq!(r.json()["error"]["code"], 130403, "{}", r.text());
    // The list shows them, paged as Graph pages.
    let list = s.get(&format!("/v23.0/{PHONE}/block_users")).await.ok();
    assert_eq!(
        list["data"],
        json!([{"messaging_product": "whatsapp", "wa_id": USER}])
    );
    // Unblocking (no 24-hour rule) restores sending; the window is still open.
    let v = block(&s, Method::DELETE, &[USER]).await.ok();
    assert_eq!(
        v["block_users"]["removed_users"],
        json!([{"input": USER, "wa_id": USER}])
    );
    s.send(&text_msg(USER, "maaf")).await.ok();
    let list = s.get(&format!("/v23.0/{PHONE}/block_users")).await.ok();
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn only_users_who_wrote_in_the_last_24_hours_can_be_blocked() {
    let s = start_default().await;
    s.inbound(USER, "halo").await;
    let own = s.get(&format!("/v23.0/{PHONE}")).await.ok()["display_phone_number"]
        .as_str()
        .unwrap()
        .replace(|c: char| !c.is_ascii_digit(), "");
    // OTHER never wrote, the number cannot block itself, and "abc" is no phone number: the
    // lists and the 139100 error come in one body.
    let r = block(&s, Method::POST, &[USER, OTHER, &own, "abc"]).await;
    let v = r.json();
    let e = assert_graph_error(&r, 400, 139100);
    assert_eq!(e["message"], "(#139100) Failed to block/unblock users");
    assert_eq!(v["messaging_product"], "whatsapp");
    assert_eq!(
        v["block_users"]["added_users"],
        json!([{"input": USER, "wa_id": USER}])
    );
    let failed = v["block_users"]["failed_users"].as_array().unwrap();
    let codes: Vec<u64> = failed
        .iter()
        .map(|f| f["errors"][0]["code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [131047, 131021, 100], "{v}");
    assert_eq!(failed[0]["wa_id"], OTHER);
    assert_eq!(
        failed[0]["errors"][0]["error_data"]["details"],
        "User has not messaged in the last 24 hours"
    );
    // A day later the window has closed: the same user can no longer be blocked.
    s.advance(24.0 * 3600.0 + 1.0).await;
    let r = block(&s, Method::POST, &[OTHER]).await;
    assert_graph_error(&r, 400, 139100);
    // Blocking again a user already blocked succeeds (the 24 h do not matter then).
    block(&s, Method::POST, &[USER]).await.ok();
}

#[tokio::test]
async fn bad_block_requests_get_graph_errors() {
    let s = start_default().await;
    let path = format!("/v23.0/{PHONE}/block_users");
    // Not JSON, no list, wrong product, too many users.
    for body in [
        b"nope".to_vec(),
        br#"{"messaging_product":"whatsapp"}"#.to_vec(),
        br#"{"messaging_product":"sms","block_users":[]}"#.to_vec(),
        block_body(&vec!["6281300000001"; 1001]),
    ] {
        let r = s
            .request(Method::POST, &path, Some(TOKEN), Some(body))
            .await;
        assert_graph_error(&r, 400, 100);
    }
    // Another business's number, or none.
    let r = s
        .request(
            Method::POST,
            "/v23.0/999/block_users",
            Some(TOKEN),
            Some(block_body(&[USER])),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    // An empty list is no failure.
    let v = block(&s, Method::POST, &[]).await.ok();
    assert_eq!(v["block_users"]["added_users"], json!([]));
    // Other methods are Graph's "unsupported".
    let r = s.request(Method::PUT, &path, Some(TOKEN), None).await;
    assert_graph_error(&r, 400, 100);
}
