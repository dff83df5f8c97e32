//! Business-scoped user ids and usernames over HTTP with `--clock manual`: a client learns a
//! user's BSUID from a webhook, as a real one does, sends by `recipient`, and reads the
//! webhooks; the errors for ids the business cannot use; usernames hiding the phone.

use crate::common::*;
use crate::dynamics_http::{changes, wait_for};
use hyper::Method;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;

const NOT_ON_WA: &str = "6281399999999";

/// The default world with `audience_extra` added to its `[audience]` table.
fn scenario(audience_extra: &str) -> String {
    wabasim::scenario::DEFAULT_WORLD.replacen(
        "[audience]\n",
        &format!("[audience]\nnot_on_whatsapp = [\"{NOT_ON_WA}\"]\n{audience_extra}\n"),
        1,
    )
}

async fn start(audience_extra: &str) -> (TestServer, Arc<Mutex<Vec<Value>>>) {
    let (s, got) = start_with_webhooks(Some(&scenario(audience_extra))).await;
    (s, got)
}

fn by_id(recipient: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual",
           "recipient": recipient, "type": "text", "text": {"body": body}})
}

/// The user writes; returns the inbound `messages` change as the business receives it.
async fn user_writes(s: &TestServer, got: &Mutex<Vec<Value>>) -> Value {
    s.inbound(USER, "Ada ukuran 42?").await;
    wait_for(got, "the inbound message", |c| {
        c.iter().any(|(_, v)| v["messages"][0]["type"] == "text")
    })
    .await;
    changes(got)
        .into_iter()
        .map(|(_, v)| v)
        .find(|v| v["messages"][0]["type"] == "text")
        .unwrap()
}

/// The statuses received for message `wamid`, as (status change value).
fn statuses_of(got: &Mutex<Vec<Value>>, wamid: &str) -> Vec<Value> {
    changes(got)
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| v["statuses"][0]["id"] == wamid)
        .collect()
}

async fn wait_status(got: &Mutex<Vec<Value>>, wamid: &str, status: &str) -> Value {
    wait_for(got, status, |c| {
        c.iter()
            .any(|(_, v)| v["statuses"][0]["id"] == wamid && v["statuses"][0]["status"] == status)
    })
    .await;
    statuses_of(got, wamid)
        .into_iter()
        .find(|v| v["statuses"][0]["status"] == status)
        .unwrap()
}

#[tokio::test]
async fn a_business_replies_by_the_bsuid_it_learned_from_a_webhook() {
    let (s, got) = start("").await;
    let inbound = user_writes(&s, &got).await;
    let c = &inbound["contacts"][0];
    let id = c["user_id"].as_str().expect("user_id").to_string();
    assert!(id.starts_with("ID."), "{id}");
    assert_eq!(c["wa_id"], USER);
    assert!(
        c["profile"].get("username").is_none(),
        "nobody has a username: {c}"
    );
    let m = &inbound["messages"][0];
    assert_eq!(
        (m["from"].as_str(), m["from_user_id"].as_str()),
        (Some(USER), Some(id.as_str()))
    );

    let v = s.send(&by_id(&id, "Ada kak")).await.ok();
    assert_eq!(
        v["contacts"],
        json!([{"input": id, "user_id": id}]),
        "no wa_id for a BSUID send"
    );
    let wamid = v["messages"][0]["id"].as_str().unwrap().to_string();
    s.advance(2.0).await;
    let sent = wait_status(&got, &wamid, "sent").await;
    let st = &sent["statuses"][0];
    assert_eq!(st["recipient_user_id"], id.as_str());
    assert_eq!(st["recipient_id"], USER, "no username: the phone is shown");
    let delivered = wait_status(&got, &wamid, "delivered").await;
    let c = &delivered["contacts"][0];
    assert_eq!(
        (c["user_id"].as_str(), c["wa_id"].as_str()),
        (Some(id.as_str()), Some(USER))
    );
    assert!(c["profile"]["name"].is_string());

    // By phone: `wa_id` and no `user_id` in the answer; the statuses still carry the BSUID.
    let v = s.send(&text_msg(USER, "Siap")).await.ok();
    assert_eq!(v["contacts"], json!([{"input": USER, "wa_id": USER}]));
}

#[tokio::test]
async fn to_wins_over_recipient() {
    let (s, got) = start("").await;
    let id = user_writes(&s, &got).await["contacts"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A phone and any `recipient`: the phone is used, as Meta documents.
    for recipient in [id.as_str(), "not-a-bsuid"] {
        let mut body = text_msg(USER, "Halo");
        body["recipient"] = json!(recipient);
        let v = s.send(&body).await.ok();
        assert_eq!(v["contacts"], json!([{"input": USER, "wa_id": USER}]));
    }
    // Neither: the parameter is missing.
    let r = s
        .send(&json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}))
        .await;
    assert_graph_error(&r, 400, 100);
}

#[tokio::test]
async fn ids_the_business_cannot_use_are_refused_with_131009() {
    let (s, got) = start("").await;
    let id = user_writes(&s, &got).await["contacts"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let seed = s.state.engine.seed();
    let foreign = wabasim::engine::bsuid::user_id(
        seed,
        wabasim::engine::ids::BusinessId(424_242),
        wabasim::engine::ids::WaId(USER.parse().unwrap()),
        0,
    )
    .to_string();
    assert_ne!(foreign, id);
    for bad in [
        "6281300000001",
        "id.123",
        "US.ENT.11815799212886844830",
        "US.13491208655302741918",
        foreign.as_str(),
    ] {
        let r = s.send(&by_id(bad, "Halo")).await;
        let e = assert_graph_error(&r, 400, 131009);
        assert!(
            details(&e).starts_with(&format!("recipient: '{bad}'")),
            "{}",
            details(&e)
        );
    }
    // The business's own id still works.
    s.send(&by_id(&id, "Halo")).await.ok();
}

#[tokio::test]
async fn authentication_templates_to_a_bsuid_get_131062() {
    let (s, got) = start("").await;
    let id = user_writes(&s, &got).await["contacts"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut otp = template_msg(USER, "otp_login", "en_US", body_params(&["123456"]));
    let by_phone = s.send(&otp).await;
    assert_eq!(by_phone.status, 200, "{}", by_phone.text());
    otp.as_object_mut().unwrap().remove("to");
    otp["recipient"] = json!(id);
    let e = assert_graph_error(&s.send(&otp).await, 400, 131062);
    assert!(details(&e).contains("BSUID"), "{}", details(&e));
    // Other templates go to the BSUID.
    let mut hello = hello_world(USER);
    hello.as_object_mut().unwrap().remove("to");
    hello["recipient"] = json!(id);
    assert_eq!(s.send(&hello).await.status, 200);
}

#[tokio::test]
async fn usernames_hide_the_phone_until_the_business_sends_to_it() {
    let (s, got) = start("username_ratio = 1.0").await;
    let inbound = user_writes(&s, &got).await;
    let c = &inbound["contacts"][0];
    let id = c["user_id"].as_str().unwrap().to_string();
    assert!(c.get("wa_id").is_none(), "phone omitted, not empty: {c}");
    let username = c["profile"]["username"].as_str().expect("username");
    assert!(
        !username.is_empty() && !username.starts_with('@'),
        "{username}"
    );
    assert!(inbound["messages"][0].get("from").is_none(), "{inbound}");
    assert_eq!(inbound["messages"][0]["from_user_id"], id.as_str());

    // A reply by BSUID keeps the phone hidden; the username shows on delivered, not sent.
    let v = s.send(&by_id(&id, "Ada kak")).await.ok();
    let wamid = v["messages"][0]["id"].as_str().unwrap().to_string();
    s.advance(2.0).await;
    let sent = wait_status(&got, &wamid, "sent").await;
    assert!(sent["statuses"][0].get("recipient_id").is_none(), "{sent}");
    assert!(sent["contacts"][0].get("wa_id").is_none());
    assert!(
        sent["contacts"][0]["profile"].get("username").is_none(),
        "{sent}"
    );
    let delivered = wait_status(&got, &wamid, "delivered").await;
    assert_eq!(delivered["contacts"][0]["profile"]["username"], username);

    // A send to the phone number shows it (the business has it).
    let v = s.send(&text_msg(USER, "Siap")).await.ok();
    let wamid = v["messages"][0]["id"].as_str().unwrap().to_string();
    s.advance(2.0).await;
    let sent = wait_status(&got, &wamid, "sent").await;
    assert_eq!(sent["statuses"][0]["recipient_id"], USER);
    assert_eq!(sent["contacts"][0]["wa_id"], USER);
}

#[tokio::test]
async fn failed_statuses_drop_contacts_and_the_bsuid_of_phone_sends() {
    let (s, got) = start("").await;
    let v = s.send(&hello_world(NOT_ON_WA)).await.ok();
    let wamid = v["messages"][0]["id"].as_str().unwrap().to_string();
    s.advance(2.0).await;
    let failed = wait_status(&got, &wamid, "failed").await;
    assert!(failed.get("contacts").is_none(), "{failed}");
    let st = &failed["statuses"][0];
    assert_eq!(st["recipient_id"], NOT_ON_WA);
    assert!(st.get("recipient_user_id").is_none(), "{st}");
    assert_eq!(st["errors"][0]["code"], 131026);
    // The sent status before it has both.
    let sent = wait_status(&got, &wamid, "sent").await;
    assert!(sent["statuses"][0]["recipient_user_id"].is_string());
    assert!(sent["contacts"][0]["user_id"].is_string());
}

/// The Block Users API takes `user_id` (a BSUID) as well as `user`, and answers with it.
#[tokio::test]
async fn a_user_is_blocked_and_unblocked_by_bsuid() {
    let (s, got) = start("").await;
    let id = user_writes(&s, &got).await["contacts"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v23.0/{PHONE}/block_users");
    let body = |items: Value| {
        serde_json::to_vec(&json!({"messaging_product": "whatsapp", "block_users": items})).unwrap()
    };
    let r = s
        .request(
            Method::POST,
            &path,
            Some(TOKEN),
            Some(body(json!([{"user_id": id}, {"user_id": "US.123"}]))),
        )
        .await;
    let v = r.json();
    assert_graph_error(&r, 400, 139100);
    assert_eq!(
        v["block_users"]["added_users"],
        json!([{"input": id, "user_id": id}])
    );
    assert_eq!(
        v["block_users"]["failed_users"][0]["errors"][0]["code"],
        131009
    );
    // Blocked whichever way the user is addressed.
    assert_graph_error(&s.send(&by_id(&id, "hai")).await, 400, 130403);
    assert_graph_error(&s.send(&text_msg(USER, "hai")).await, 400, 130403);
    let r = s
        .request(
            Method::DELETE,
            &path,
            Some(TOKEN),
            Some(body(json!([{"user_id": id}]))),
        )
        .await;
    assert_eq!(
        r.ok()["block_users"]["removed_users"],
        json!([{"input": id, "user_id": id}])
    );
    s.send(&by_id(&id, "maaf")).await.ok();
}
