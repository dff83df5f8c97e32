//! Policy routes over real HTTP on loopback: onboarding and verticals, contact checks,
//! identity settings, re-registration and acknowledgement, content violations and bans. Each
//! test starts its own in-process server with a manual clock.

use crate::common::*;
use hyper::Method;
use serde_json::{json, Value};

fn promo(to: &str, name: &str) -> Value {
    template_msg(to, "promo_diskon", "id", body_params(&[name]))
}

async fn put(s: &TestServer, path: &str, body: &Value) -> Resp {
    s.request(
        Method::PUT,
        path,
        Some(TOKEN),
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

// ----- Onboarding ----------------------------------------------------------------------------

#[tokio::test]
async fn onboarding_refuses_p2p_lending_in_indonesia_and_accepts_a_shoe_shop() {
    let s = start_default().await;
    let r = s
        .sim_post(
            "businesses",
            &json!({"name": "Pinjam Cepat", "vertical": "p2p_lending", "country": "ID"}),
        )
        .await;
    let e = assert_graph_error(&r, 403, 368);
    assert!(details(&e).contains("P2P lending"), "{}", details(&e));

    let v = s
        .sim_post(
            "businesses",
            &json!({"name": "Toko Sepatu", "vertical": "shoes", "country": "ID"}),
        )
        .await
        .ok();
    assert_eq!(v["decision"], "APPROVED");
    assert_eq!(v["vertical"], "shoes");
    assert!(v["id"].is_string() || v["id"].is_u64(), "{v}");

    // The same vertical is fine outside Indonesia; Commerce Policy categories nowhere.
    let v = s
        .sim_post(
            "businesses",
            &json!({"name": "Lend SG", "vertical": "P2P lending", "country": "SG"}),
        )
        .await
        .ok();
    assert_eq!(v["decision"], "APPROVED");
    let r = s
        .sim_post(
            "businesses",
            &json!({"name": "Bar", "vertical": "alcohol", "country": "BR"}),
        )
        .await;
    assert_graph_error(&r, 403, 368);

    let list = s.sim_get("businesses").await.ok();
    let decisions: Vec<&str> = list["onboarded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["REJECTED", "APPROVED", "APPROVED", "REJECTED"]);
    assert_eq!(list["portfolios"][0]["disabled"], false);
}

#[tokio::test]
async fn onboarding_bad_input_gets_graph_errors() {
    let s = start_default().await;
    for body in [
        json!({"name": "X", "vertical": "shoes"}),
        json!({"name": "", "vertical": "shoes", "country": "ID"}),
        json!({"name": "X", "vertical": "shoes", "country": "Indonesia"}),
        json!({"name": "X", "vertical": "space tourism", "country": "ID"}),
        json!({"name": "X", "vertical": 7, "country": "ID"}),
        json!(["not", "an", "object"]),
        // Kept in the registry: bounded in length (at most 256 characters).
        json!({"name": "N".repeat(257), "vertical": "shoes", "country": "ID"}),
    ] {
        let r = s.sim_post("businesses", &body).await;
        assert_graph_error(&r, 400, 100);
    }
    let r = s
        .request(
            Method::POST,
            "/_sim/businesses",
            None,
            Some(b"{not json".to_vec()),
        )
        .await;
    assert_graph_error(&r, 400, 100);
    let ok = s
        .sim_post(
            "businesses",
            &json!({"name": "N".repeat(256), "vertical": "shoes", "country": "ID"}),
        )
        .await;
    assert_eq!(ok.status, 200, "256 characters are accepted");
}

#[tokio::test]
async fn verticals_lists_allowed_and_prohibited_with_reasons() {
    let s = start_default().await;
    let v = s.sim_get("verticals").await.ok();
    let allowed: Vec<&str> = v["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(allowed.contains(&"retail") && allowed.contains(&"shoes"));
    assert!(!allowed.contains(&"gambling"));
    let p2p = v["prohibited"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["vertical"] == "p2p_lending")
        .expect("p2p_lending listed");
    assert_eq!(p2p["country"], "ID");
    assert!(p2p["reason"].as_str().unwrap().contains("pinjol"));
    assert_eq!(v["prohibited"].as_array().unwrap().len(), 19);
}

// ----- Contact checks ------------------------------------------------------------------------

#[tokio::test]
async fn contacts_answers_valid_and_invalid_then_blocks_unmessaged_checking() {
    let s = start_scenario(&format!(
        "{}\n[rules.contacts]\nmax_unmessaged = 3\n",
        wabasim::scenario::DEFAULT_WORLD
    ))
    .await;
    let v = s
        .post(
            "/v1/contacts",
            &json!({"blocking": "wait", "contacts": ["+62 813-0000-0001", "not a number"], "force_check": false}),
        )
        .await
        .ok();
    assert_eq!(
        v["contacts"],
        json!([
            {"input": "+62 813-0000-0001", "status": "valid", "wa_id": "6281300000001"},
            {"input": "not a number", "status": "invalid"},
        ])
    );
    // Messaging the checked number uses the check.
    s.send(&promo(USER, "Ayu")).await.ok();
    s.post(
        "/v1/contacts",
        &json!({"contacts": ["6281300000002", "6281300000003", "6281300000004"]}),
    )
    .await
    .ok();
    let r = s
        .post("/v1/contacts", &json!({"contacts": ["6281300000005"]}))
        .await;
    let e = assert_graph_error(&r, 403, 368);
    assert!(details(&e).contains("without being messaged"), "{e}");
    // The new routes have their own metric labels.
    let m = s.request(Method::GET, "/metrics", None, None).await.text();
    assert!(
        m.contains(r#"wabasim_http_requests_total{route="contacts",status="403"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn contacts_bad_input_gets_graph_errors() {
    let s = start_default().await;
    for body in [
        json!({}),
        json!({"contacts": []}),
        json!({"contacts": "6281300000001"}),
        json!({"contacts": [6281300000001u64]}),
        json!({"contacts": ["6281300000001"], "blocking": "sometimes"}),
    ] {
        let r = s.post("/v1/contacts", &body).await;
        assert_graph_error(&r, 400, 100);
    }
    // No token: the usual 190.
    let r = s
        .request(
            Method::POST,
            "/v1/contacts",
            None,
            Some(br#"{"contacts":["6281300000001"]}"#.to_vec()),
        )
        .await;
    assert_graph_error(&r, 401, 190);
}

// ----- Identity ------------------------------------------------------------------------------

#[tokio::test]
async fn settings_switch_the_identity_check_and_reject_bad_bodies() {
    let s = start_default().await;
    let path = format!("/v23.0/{PHONE}/settings");
    let v = s.get(&path).await.ok();
    assert_eq!(
        v["user_identity_change"]["enable_identity_key_check"],
        false
    );
    let v = s
        .post(
            &path,
            &json!({"user_identity_change": {"enable_identity_key_check": true}}),
        )
        .await
        .ok();
    assert_eq!(v["success"], true);
    let v = s.get(&path).await.ok();
    assert_eq!(v["user_identity_change"]["enable_identity_key_check"], true);
    for body in [
        json!({}),
        json!({"user_identity_change": {"enable_identity_key_check": "yes"}}),
        json!([1]),
    ] {
        assert_graph_error(&s.post(&path, &body).await, 400, 100);
    }
    assert_graph_error(&s.get("/v23.0/999999/settings").await, 400, 100);
}

#[tokio::test]
async fn reregistration_then_stale_hash_fails_137000_and_holds_until_acknowledged() {
    let s = start_default().await;
    s.post(
        &format!("/v23.0/{PHONE}/settings"),
        &json!({"user_identity_change": {"enable_identity_key_check": true}}),
    )
    .await
    .ok();
    let id0 = s.sim_get(&format!("recipients/{USER}/identity")).await.ok();
    let h0 = id0["identity_key_hash"].as_str().unwrap().to_string();
    assert_eq!(h0.len(), 12);
    s.inbound(USER, "halo").await;

    let r = s
        .sim_post(&format!("recipients/{USER}/reregister"), &json!({}))
        .await
        .ok();
    assert_eq!(r["generation"], 1);
    assert_eq!(r["notified"], json!([PHONE]));
    let h1 = r["identity_key_hash"].as_str().unwrap().to_string();
    assert_ne!(h0, h1);

    // Stale hash: accepted, then failed with 137000 (decision log).
    s.advance(10.0).await;
    let mut m = promo(USER, "Ayu");
    m["recipient_identity_key_hash"] = json!(h0);
    s.send(&m).await.ok();
    let log = s.all_events().await;
    assert!(
        log.iter()
            .any(|l| l["rule"] == "identity_check" && l["code"] == 137000),
        "{log:?}"
    );

    // No hash: held (accepted, nothing delivered) until the business acknowledges.
    s.advance(10.0).await;
    s.send(&promo(USER, "Ayu")).await.ok();
    assert_eq!(s.state.engine.held_count(PHONE.parse().unwrap()), 1);
    let r = put(
        &s,
        &format!("/v1/contacts/{USER}/identity"),
        &json!({"hash": h0}),
    )
    .await;
    assert_graph_error(&r, 409, 137000);
    let v = put(
        &s,
        &format!("/v1/contacts/{USER}/identity"),
        &json!({"hash": h1}),
    )
    .await
    .ok();
    assert_eq!(v["released"], 1);
    assert_eq!(s.state.engine.held_count(PHONE.parse().unwrap()), 0);
    let r = put(&s, &format!("/v1/contacts/{USER}/identity"), &json!({})).await;
    assert_graph_error(&r, 400, 100);
    let r = put(&s, "/v1/contacts/abc/identity", &json!({"hash": h1})).await;
    assert_graph_error(&r, 400, 100);
}

#[tokio::test]
async fn reregister_bad_wa_id_is_a_graph_error() {
    let s = start_default().await;
    let r = s.sim_post("recipients/hello/reregister", &json!({})).await;
    assert_graph_error(&r, 400, 100);
    let r = s.sim_post("recipients/123456/reregister", &json!({})).await;
    assert_graph_error(&r, 400, 131009);
}

// ----- Content and bans ----------------------------------------------------------------------

#[tokio::test]
async fn card_numbers_in_sends_are_refused_and_the_third_strike_disables_the_portfolio() {
    let s = start_default().await;
    // A Luhn-invalid 16-digit parameter is fine.
    s.send(&promo(USER, "1234567812345678")).await.ok();
    s.inbound("6281300000002", "halo").await;
    let r = s
        .send(&text_msg("6281300000002", "Kartu 4111 1111 1111 1111"))
        .await;
    assert_graph_error(&r, 403, 368);
    let r = s.send(&promo("6281300000003", "4111111111111111")).await;
    assert_graph_error(&r, 400, 132007);
    let st = s.sim_get("businesses").await.ok();
    assert_eq!(st["portfolios"][0]["strikes"], 2);
    assert_eq!(st["portfolios"][0]["disabled"], false);
    let r = s.send(&promo("6281300000004", "3273015205900001")).await;
    assert_graph_error(&r, 400, 132007);
    let st = s.sim_get("businesses").await.ok();
    assert_eq!(st["portfolios"][0]["disabled"], true);
    // Now every send fails, even a clean one.
    let r = s.send(&hello_world("6281300000005")).await;
    let e = assert_graph_error(&r, 403, 368);
    assert!(details(&e).contains("disabled"), "{e}");
    // Reinstated by the control API.
    let id = st["portfolios"][0]["id"].as_str().unwrap().to_string();
    let v = s
        .sim_post(&format!("businesses/{id}/reinstate"), &json!({}))
        .await
        .ok();
    assert_eq!(v["reinstated"], true);
    s.send(&hello_world("6281300000005")).await.ok();
    let r = s.sim_post("businesses/nope/reinstate", &json!({})).await;
    assert_graph_error(&r, 404, 100);
}

// ----- Webhook payloads ----------------------------------------------------------------------

mod payloads {
    use serde_json::json;
    use wabasim::clock::SimTime;
    use wabasim::engine::events::*;
    use wabasim::engine::identity::key_hash;
    use wabasim::engine::ids::{PhoneNumberId, WaId, WabaId};
    use wabasim::engine::violations::BanState;
    use wabasim::webhooks::payload::{envelope, render_change};

    #[test]
    fn account_disabled_is_account_update_disabled_update_with_ban_info() {
        let ev = Event {
            at: SimTime::from_secs(1_744_848_000 + 3_600),
            waba: WabaId(102290129340398),
            body: EventBody::AccountDisabled {
                state: BanState::Disable,
            },
        };
        let (field, v) = render_change(&ev, "v23.0");
        assert_eq!(field, "account_update");
        assert_eq!(
            v,
            json!({"event": "DISABLED_UPDATE",
                   "ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "April 17, 2025"}})
        );
        let env = envelope(&[ev], "v23.0");
        assert_eq!(env["entry"][0]["id"], "102290129340398");
        assert_eq!(env["entry"][0]["time"], 1_744_851_600u64);
    }

    #[test]
    fn inbound_contacts_carry_identity_key_hash_only_when_set() {
        let h = key_hash(1, WaId(6281300000001), 2);
        for (hash, expect) in [
            (Some(h), json!(String::from_utf8(h.to_vec()).unwrap())),
            (None, serde_json::Value::Null),
        ] {
            let ev = Event {
                at: SimTime::from_secs(1_750_000_000),
                waba: WabaId(1),
                body: EventBody::Inbound {
                    phone: PhoneMeta {
                        id: PhoneNumberId(106540352242922),
                        display: wabasim::engine::events::DisplayNumber::parse("6281200000001")
                            .unwrap(),
                    },
                    from: WaId(6281300000001),
                    profile_name: "Ayu".into(),
                    wamid: Wamid {
                        user: WaId(6281300000001),
                        seq: 1,
                        tag: 1,
                        inbound: true,
                    },
                    text: "halo".into(),
                    identity_key_hash: hash,
                    media: None,
                    user: wabasim::engine::events::UserRef::plain(wabasim::engine::bsuid::user_id(
                        1,
                        wabasim::engine::ids::BusinessId(1),
                        WaId(6281300000001),
                        0,
                    )),
                },
            };
            let v = render_change(&ev, "v23.0").1;
            assert_eq!(v["contacts"][0]["identity_key_hash"], expect);
            assert_eq!(v["contacts"][0]["wa_id"], "6281300000001");
        }
    }

    #[test]
    fn statuses_carry_the_identity_hash_only_when_set() {
        let info = |hash| MessageInfo {
            wamid: Wamid {
                user: WaId(6281300000001),
                seq: 1,
                tag: 1,
                inbound: false,
            },
            phone: PhoneMeta {
                id: PhoneNumberId(106540352242922),
                display: wabasim::engine::events::DisplayNumber::parse("6281200000001").unwrap(),
            },
            billing: Billing::NONE,
            template: None,
            feedback_category: wabasim::engine::reactions::FeedbackCategory::Service,
            biz_opaque_callback_data: None,
            sent_at: SimTime::from_secs(1_750_000_000),
            recipient_identity_key_hash: hash,
            user: wabasim::engine::events::UserRef::plain(wabasim::engine::bsuid::user_id(
                1,
                wabasim::engine::ids::BusinessId(1),
                WaId(6281300000001),
                0,
            )),
        };
        let h = key_hash(1, WaId(6281300000001), 0);
        for (hash, expect) in [
            (Some(h), json!(String::from_utf8(h.to_vec()).unwrap())),
            (None, serde_json::Value::Null),
        ] {
            let ev = Event {
                at: SimTime::from_secs(1_750_000_000),
                waba: WabaId(1),
                body: EventBody::Status {
                    info: info(hash),
                    status: DeliveryStatus::Sent,
                    error: None,
                },
            };
            let v = render_change(&ev, "v23.0").1;
            assert_eq!(v["statuses"][0]["recipient_identity_key_hash"], expect);
        }
    }
}
