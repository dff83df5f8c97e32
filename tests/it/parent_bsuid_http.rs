//! Parent BSUIDs over HTTP (`[[businesses]] parent_bsuid_account`): webhooks carry
//! `parent_user_id` / `from_parent_user_id` / `recipient_parent_user_id` for enrolled
//! portfolios only, any enrolled portfolio sends by the parent BSUID, others are refused, and
//! `GET /{business-id}/parent-bsuid-accounts` lists the enrolment.

use crate::common::*;
use crate::dynamics_http::{changes, wait_for};
use hyper::Method;
use serde_json::{json, Value};

const A: &str = "500000000000001";
const B: &str = "500000000000002";
const C: &str = "500000000000003";
const ACCOUNT: &str = "590000000000001";
const USER_A: &str = "6281300000001";

fn business(n: u64, enrolled: bool) -> String {
    let parent = if enrolled {
        format!("parent_bsuid_account = \"{ACCOUNT}\"\n")
    } else {
        String::new()
    };
    format!(
        r#"
[[businesses]]
id = "50000000000000{n}"
name = "Biz {n}"
tokens = ["token-{n}"]
{parent}[[businesses.wabas]]
id = "50000000000001{n}"
name = "WABA {n}"
[[businesses.wabas.phone_numbers]]
id = "50000000000011{n}"
display_phone_number = "+62 812-5555-000{n}"
verified_name = "Biz {n}"
[[businesses.wabas.templates]]
name = "hello_world"
language = "en_US"
category = "UTILITY"
body = "Hello"
"#
    )
}

fn send_by(recipient: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual",
           "recipient": recipient, "type": "template",
           "template": {"name": "hello_world", "language": {"code": "en_US"}}})
}

async fn send(s: &TestServer, n: u64, body: &Value) -> Resp {
    s.request(
        Method::POST,
        &format!("/v23.0/50000000000011{n}/messages"),
        Some(&format!("token-{n}")),
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

#[tokio::test]
async fn enrolled_portfolios_share_the_parent_bsuid_and_others_cannot_use_it() {
    let world = format!(
        "{}{}{}[audience]\nread_ratio = 0.0\n",
        business(1, true),
        business(2, true),
        business(3, false)
    );
    let (s, got) = start_with_webhooks(Some(&world)).await;

    // The user writes to A's number: the parent BSUID rides along with the BSUID.
    let r = s
        .sim_post(
            "inbound",
            &json!({"from": USER_A, "phone_number_id": "500000000000111", "text": "halo"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for(&got, "the inbound message", |c| {
        c.iter().any(|(_, v)| v["messages"].is_array())
    })
    .await;
    let inbound = changes(&got)
        .into_iter()
        .map(|(_, v)| v)
        .find(|v| v["messages"].is_array())
        .unwrap();
    let contact = &inbound["contacts"][0];
    let parent = contact["parent_user_id"]
        .as_str()
        .expect("parent_user_id")
        .to_string();
    assert!(parent.starts_with("ID.ENT."), "{parent}");
    assert_ne!(contact["user_id"], parent.as_str());
    assert_eq!(
        inbound["messages"][0]["from_parent_user_id"],
        parent.as_str()
    );

    // B, enrolled with A, sends by the parent BSUID; its statuses carry it.
    let r = send(&s, 2, &send_by(&parent)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["contacts"][0]["input"], parent.as_str());
    let wamid = v["messages"][0]["id"].as_str().unwrap().to_string();
    s.advance(2.0).await;
    wait_for(&got, "B's delivered status", |c| {
        c.iter().any(|(_, v)| {
            v["statuses"][0]["id"] == wamid.as_str() && v["statuses"][0]["status"] == "delivered"
        })
    })
    .await;
    let delivered = changes(&got)
        .into_iter()
        .map(|(_, v)| v)
        .find(|v| {
            v["statuses"][0]["id"] == wamid.as_str() && v["statuses"][0]["status"] == "delivered"
        })
        .unwrap();
    assert_eq!(
        delivered["statuses"][0]["recipient_parent_user_id"],
        parent.as_str()
    );
    assert_eq!(delivered["contacts"][0]["parent_user_id"], parent.as_str());
    // B's own BSUID for the user differs from A's; the parent is the same.
    assert_ne!(delivered["contacts"][0]["user_id"], contact["user_id"]);

    // C is not enrolled: the parent BSUID is not one it can use (131009), and C's webhooks
    // carry no parent ids.
    let r = send(&s, 3, &send_by(&parent)).await;
    assert_graph_error(&r, 400, 131009);
    let r = send(&s, 3, &send_by(contact["user_id"].as_str().unwrap())).await;
    assert_graph_error(&r, 400, 131009);
    let r = send(
        &s,
        3,
        &json!({"messaging_product": "whatsapp", "to": USER_A,
        "type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}),
    )
    .await;
    let wamid = r.ok()["messages"][0]["id"].as_str().unwrap().to_string();
    s.advance(2.0).await;
    wait_for(&got, "C's delivered status", |c| {
        c.iter().any(|(_, v)| {
            v["statuses"][0]["id"] == wamid.as_str() && v["statuses"][0]["status"] == "delivered"
        })
    })
    .await;
    for (_, v) in changes(&got) {
        if v["statuses"][0]["id"] == wamid.as_str() {
            assert!(
                v["statuses"][0].get("recipient_parent_user_id").is_none(),
                "{v}"
            );
            assert!(v["contacts"][0].get("parent_user_id").is_none(), "{v}");
        }
    }

    // The enrolment, on the mock's own base URL.
    let r = s
        .request(
            Method::GET,
            &format!("/v23.0/{A}/parent-bsuid-accounts"),
            Some("token-1"),
            None,
        )
        .await;
    assert_eq!(
        r.ok(),
        json!({"parent_bsuid_account_id": ACCOUNT, "enrolled_business_portfolios": [A, B]})
    );
    let r = s
        .request(
            Method::GET,
            &format!("/v23.0/{C}/parent-bsuid-accounts"),
            Some("token-3"),
            None,
        )
        .await;
    assert_eq!(r.ok(), json!({"enrolled_business_portfolios": []}));
    let r = s
        .request(
            Method::GET,
            &format!("/v23.0/{B}/parent-bsuid-accounts"),
            Some("token-1"),
            None,
        )
        .await;
    assert_graph_error(&r, 403, 200);
}
