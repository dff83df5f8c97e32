//! Media the simulated audience sends in (`[audience] inbound_media_ratio`): the webhook's media
//! id downloads through the Media API with the business's token, its `sha256` matches the
//! bytes, and after Meta's 7 days the id answers 100/33. See `src/engine/inbound_media.rs`.

use crate::common::*;
use crate::dynamics_http::{changes, wait_for};
use base64::Engine as _;
use hyper::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

const OTHER: &str = r#"
[[businesses]]
id = "900000000000001"
name = "Other"
tokens = ["other-token"]
[[businesses.wabas]]
id = "900000000000011"
name = "Other WABA"
[[businesses.wabas.phone_numbers]]
id = "900000000000111"
display_phone_number = "+62 812-9999-0001"
verified_name = "Other"
"#;

fn scenario(ratio: f64) -> String {
    wabasim::scenario::DEFAULT_WORLD.replacen(
        "[audience]\n",
        &format!("[audience]\ninbound_media_ratio = {ratio}\n"),
        1,
    )
}

/// The inbound `messages` items the receiver got, after the user wrote `n` times.
async fn user_writes(s: &TestServer, got: &parking_lot::Mutex<Vec<Value>>, n: usize) -> Vec<Value> {
    for k in 0..n {
        s.inbound(USER, &format!("lihat ini {k}")).await;
    }
    wait_for(got, "the inbound messages", |c| {
        c.iter().filter(|(_, v)| v["messages"].is_array()).count() >= n
    })
    .await;
    changes(got)
        .into_iter()
        .filter_map(|(_, v)| v["messages"].get(0).cloned())
        .collect()
}

#[tokio::test]
async fn an_inbound_media_id_downloads_and_expires_after_seven_days() {
    let (s, got) = start_with_webhooks(Some(&scenario(1.0))).await;
    let msgs = user_writes(&s, &got, 4).await;
    assert_eq!(msgs.len(), 4);
    for m in &msgs {
        let kind = m["type"].as_str().unwrap();
        assert!(kind == "image" || kind == "document", "{m}");
        let media = &m[kind];
        assert!(media["caption"].as_str().unwrap().starts_with("lihat ini"));
        assert!(media.get("url").is_none());
        if kind == "document" {
            assert!(media["filename"].as_str().unwrap().ends_with(".pdf"));
        }
        let id = media["id"].as_str().unwrap();
        // Retrieve, then download with the bearer token: the bytes match the webhook's sha256.
        let info = s.get(&format!("/v23.0/{id}")).await.ok();
        assert_eq!(info["mime_type"], media["mime_type"]);
        let path = info["url"]
            .as_str()
            .unwrap()
            .strip_prefix(&s.base)
            .unwrap()
            .to_string();
        let r = s.get(&path).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.headers["content-type"],
            media["mime_type"].as_str().unwrap()
        );
        assert_eq!(info["file_size"], r.body.len().to_string());
        let sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&r.body));
        assert_eq!(media["sha256"], sha.as_str());
        // Not without the token.
        assert_graph_error(&s.request(Method::GET, &path, None, None).await, 401, 190);
    }
    let id = msgs[0][msgs[0]["type"].as_str().unwrap()]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Still there just before 7 days, gone after: Meta's 100/33.
    s.advance(7.0 * 86_400.0 - 60.0).await;
    s.get(&format!("/v23.0/{id}")).await.ok();
    s.advance(120.0).await;
    let r = s.get(&format!("/v23.0/{id}")).await;
    assert_eq!(assert_graph_error(&r, 400, 100)["error_subcode"], 33);
}

#[tokio::test]
async fn with_the_default_ratio_users_write_text_and_another_business_cannot_download() {
    let (s, got) = start_with_webhooks(None).await;
    let msgs = user_writes(&s, &got, 3).await;
    assert!(msgs.iter().all(|m| m["type"] == "text"), "{msgs:?}");
    assert_eq!(s.state.media.lock().usage(), (0, 0), "nothing stored");

    // Media belong to the business whose number received them.
    let two = format!("{}\n{OTHER}", scenario(1.0));
    let (s, got) = start_with_webhooks(Some(&two)).await;
    let m = &user_writes(&s, &got, 1).await[0];
    let id = m[m["type"].as_str().unwrap()]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .request(
            Method::GET,
            &format!("/v23.0/{id}"),
            Some("other-token"),
            None,
        )
        .await;
    assert_eq!(assert_graph_error(&r, 400, 100)["error_subcode"], 33);
    s.get(&format!("/v23.0/{id}")).await.ok();
}
