//! The mock server over real HTTP on loopback: every Graph route, every error code the server
//! produces, the `/_sim` control API and `/metrics`. Each test starts its own in-process server
//! with a manual clock, so time only moves when a test advances it.

use crate::common::*;
use hyper::Method;
use serde_json::{json, Value};
use std::collections::HashSet;

/// The default world with extra keys on its phone number, extra `[audience]` keys and extra
/// tables at the end (e.g. `[rules]`, more templates).
fn world(phone_extra: &str, audience_extra: &str, tables: &str) -> String {
    let base = wabasim::scenario::DEFAULT_WORLD;
    let anchor = "display_phone_number = \"+62 812-0000-0001\"\n";
    assert!(
        base.contains(anchor),
        "default world changed; update the tests"
    );
    let mut s = base.replacen(anchor, &format!("{anchor}{phone_extra}\n"), 1);
    // The default world ends inside [audience].
    s.push('\n');
    s.push_str(audience_extra);
    s.push('\n');
    s.push_str(tables);
    s
}

fn wamid_of(v: &Value) -> String {
    let id = v["messages"][0]["id"].as_str().expect("messages[0].id");
    assert!(id.starts_with("wamid."), "{id}");
    id.to_string()
}

// ----- Sending -------------------------------------------------------------------------------

#[tokio::test]
async fn send_text_response_shape_echoes_input() {
    let s = start_default().await;
    s.inbound(USER, "halo").await;
    for to in ["+6281300000001", "6281300000001", "+62 813-0000-0001"] {
        let r = s.send(&text_msg(to, "Hi there")).await;
        let v = r.ok();
        assert_eq!(v["messaging_product"], "whatsapp");
        assert_eq!(v["contacts"].as_array().unwrap().len(), 1);
        assert_eq!(
            v["contacts"][0]["input"], to,
            "input must echo `to` exactly"
        );
        assert_eq!(v["contacts"][0]["wa_id"], USER);
        assert_eq!(v["messages"].as_array().unwrap().len(), 1);
        wamid_of(&v);
        assert_eq!(r.headers["content-type"], "application/json; charset=UTF-8");
        assert_eq!(r.headers["facebook-api-version"], "v23.0");
        assert!(r.headers.contains_key("x-fb-trace-id"));
    }
    // `to` given as a JSON number is accepted too and echoed as digits.
    let v = s
        .send(&json!({"messaging_product":"whatsapp","to": 6281300000001u64,"type":"text","text":{"body":"n"}}))
        .await
        .ok();
    assert_eq!(v["contacts"][0]["input"], USER);
}

#[tokio::test]
async fn send_every_free_form_type_and_mark_as_read() {
    let s = start_default().await;
    let inbound = s.inbound(USER, "halo").await;
    let inbound_id = inbound["message_id"].as_str().unwrap().to_string();
    assert!(inbound_id.starts_with("wamid."));
    let first = wamid_of(&s.send(&text_msg(USER, "first")).await.ok());
    // Sends by media id name uploaded media (tests/it/media_http.rs).
    let mut uploaded = Vec::new();
    for mime in ["image/jpeg", "audio/ogg", "image/webp"] {
        let v = s.upload(TOKEN, PHONE, mime, None, b"media").await.ok();
        uploaded.push(v["id"].as_str().unwrap().to_string());
    }
    let base = |kind: &str, obj: Value| {
        let mut m = json!({"messaging_product":"whatsapp","recipient_type":"individual","to":USER,"type":kind});
        m[kind] = obj;
        m
    };
    let bodies = vec![
        base(
            "interactive",
            json!({"type":"button","body":{"text":"Pick one"},"action":{"buttons":[
            {"type":"reply","reply":{"id":"yes","title":"Yes"}},
            {"type":"reply","reply":{"id":"no","title":"No"}}]}}),
        ),
        base(
            "interactive",
            json!({"type":"list","header":{"type":"text","text":"Menu"},"body":{"text":"Choose"},
            "footer":{"text":"f"},"action":{"button":"Options","sections":[
            {"title":"Shoes","rows":[{"id":"s1","title":"Sneakers","description":"d"},{"id":"s2","title":"Boots"}]}]}}),
        ),
        base("image", json!({"id":uploaded[0],"caption":"by id"})),
        base(
            "image",
            json!({"link":"https://example.com/a.png","caption":"by link"}),
        ),
        base(
            "document",
            json!({"link":"https://example.com/a.pdf","caption":"doc","filename":"a.pdf"}),
        ),
        base("audio", json!({"id":uploaded[1]})),
        base("video", json!({"link":"https://example.com/v.mp4"})),
        base("sticker", json!({"id":uploaded[2]})),
        base(
            "reaction",
            json!({"message_id": first, "emoji":"\u{1F600}"}),
        ),
        base(
            "contacts",
            json!([{"name":{"formatted_name":"Ayu Lestari","first_name":"Ayu"},
            "phones":[{"phone":"+62 813 0000 0002","type":"CELL","wa_id":"6281300000002"}]}]),
        ),
        base(
            "location",
            json!({"latitude":-6.9175,"longitude":107.6191,"name":"Braga","address":"Bandung"}),
        ),
        base("location", json!({"latitude":"-6.9","longitude":"107.6"})),
    ];
    let mut ids = HashSet::new();
    ids.insert(first);
    for b in &bodies {
        let r = s.send(b).await;
        assert_eq!(r.status, 200, "{b}: {}", r.text());
        let v = r.json();
        assert_eq!(v["contacts"][0]["wa_id"], USER);
        assert!(ids.insert(wamid_of(&v)), "duplicate message id");
    }
    // Mark as read: `{"success": true}`.
    let v = s
        .send(&json!({"messaging_product":"whatsapp","status":"read","message_id":inbound_id}))
        .await
        .ok();
    assert_eq!(v, json!({"success": true}));
    let r = s
        .send(&json!({"messaging_product":"whatsapp","status":"read","message_id":"nope"}))
        .await;
    let e = assert_graph_error(&r, 400, 131009);
    assert!(details(&e).starts_with("message_id"), "{e}");
}

#[tokio::test]
async fn invalid_message_bodies_name_the_field() {
    let s = start_default().await;
    s.inbound(USER, "halo").await;
    let cases: Vec<(Value, u64, &str)> = vec![
        (
            json!({"to":USER,"type":"text","text":{"body":"x"}}),
            100,
            "messaging_product",
        ),
        (
            json!({"messaging_product":"sms","to":USER,"type":"text","text":{"body":"x"}}),
            131009,
            "messaging_product",
        ),
        (
            json!({"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}),
            100,
            "to",
        ),
        (
            json!({"messaging_product":"whatsapp","to":"abc","type":"text","text":{"body":"x"}}),
            131009,
            "to",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"text","text":{"body":5}}),
            100,
            "text.body",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"text","text":{"body":""}}),
            131009,
            "text.body",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"text","text":"hi"}),
            100,
            "text",
        ),
        (
            json!({"messaging_product":"whatsapp","to":true,"type":"text","text":{"body":"x"}}),
            100,
            "to",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"teleport"}),
            100,
            "type",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"image","image":{}}),
            100,
            "image.id or image.link",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"image","image":{"link":"ftp://x/y.png"}}),
            131009,
            "image.link",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"image","image":{"id":"1","link":"https://x/y"}}),
            131009,
            "image",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"location","location":{"latitude":91,"longitude":0}}),
            131009,
            "location.latitude",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"contacts","contacts":[{"name":{}}]}),
            100,
            "contacts[0].name.formatted_name",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"reaction","reaction":{"message_id":"x","emoji":"a"}}),
            131009,
            "reaction.message_id",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"interactive","interactive":{"type":"button","body":{"text":"b"},"action":{"buttons":[
            {"type":"reply","reply":{"id":"a","title":"A"}},{"type":"reply","reply":{"id":"b","title":"B"}},
            {"type":"reply","reply":{"id":"c","title":"C"}},{"type":"reply","reply":{"id":"d","title":"D"}}]}}}),
            131009,
            "interactive.action.buttons",
        ),
        (
            json!({"messaging_product":"whatsapp","to":USER,"type":"template","template":{"name":"hello_world"}}),
            100,
            "template.language",
        ),
        (
            json!({"messaging_product":"whatsapp","recipient_type":"group","to":USER,"type":"text","text":{"body":"x"}}),
            131009,
            "recipient_type",
        ),
    ];
    for (body, code, field) in cases {
        let r = s.send(&body).await;
        let e = assert_graph_error(&r, 400, code);
        let d = details(&e);
        assert!(
            d.contains(field),
            "details {d:?} should name {field:?} for {body}"
        );
    }
    // Malformed JSON.
    let r = s
        .request(
            Method::POST,
            &format!("/v23.0/{PHONE}/messages"),
            Some(TOKEN),
            Some(b"{\"messaging_product\": \"whatsapp\", ".to_vec()),
        )
        .await;
    let e = assert_graph_error(&r, 400, 100);
    assert!(details(&e).contains("not valid JSON"), "{e}");
    // Nothing of this was sent.
    let st = s.sim_get("state").await.ok();
    assert_eq!(st["sends_accepted"], 0);
}

#[tokio::test]
async fn templates_positional_named_and_parameter_errors() {
    let s = start_default().await;
    let ok = |v: Value| v;
    let sends = [
        ok(hello_world(USER)),
        template_msg(USER, "promo_diskon", "id", body_params(&["Ayu"])),
        template_msg(USER, "promo_diskon", "en_US", body_params(&["Ayu"])),
        template_msg(
            USER,
            "order_shipped",
            "id",
            body_params(&["ORD-1", "Senin"]),
        ),
        template_msg(USER, "otp_login", "en_US", body_params(&["123456"])),
        template_msg(
            USER,
            "delivery_update",
            "en_US",
            json!([{"type":"body","parameters":[
                {"type":"text","parameter_name":"first_name","text":"Ayu"},
                {"type":"text","parameter_name":"order_id","text":"ORD-9"}]}]),
        ),
        // Currency and date_time parameters count through their fallback values.
        template_msg(
            USER,
            "order_shipped",
            "id",
            json!([{"type":"body","parameters":[
                {"type":"currency","currency":{"fallback_value":"Rp10.000","code":"IDR","amount_1000":10000000}},
                {"type":"date_time","date_time":{"fallback_value":"Senin"}}]},
                {"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"x"}]}]),
        ),
    ];
    for b in &sends {
        let r = s.send(b).await;
        assert_eq!(r.status, 200, "{b}: {}", r.text());
        wamid_of(&r.json());
    }
    // Wrong parameter count → 132000.
    let r = s
        .send(&template_msg(
            USER,
            "order_shipped",
            "id",
            body_params(&["ORD-1"]),
        ))
        .await;
    let e = assert_graph_error(&r, 400, 132000);
    assert!(e["message"].as_str().unwrap().starts_with("(#132000)"));
    let r = s
        .send(&template_msg(
            USER,
            "hello_world",
            "en_US",
            body_params(&["x"]),
        ))
        .await;
    assert_graph_error(&r, 400, 132000);
    // Named template with a wrong parameter_name → 132012.
    let r = s
        .send(&template_msg(
            USER,
            "delivery_update",
            "en_US",
            json!([{"type":"body","parameters":[
                {"type":"text","parameter_name":"first_name","text":"Ayu"},
                {"type":"text","parameter_name":"order","text":"ORD-9"}]}]),
        ))
        .await;
    let e = assert_graph_error(&r, 400, 132012);
    assert!(details(&e).contains("order_id"), "{e}");
    // Unknown name, and a known name in a language it does not have → 132001.
    let r = s
        .send(&template_msg(USER, "no_such", "en_US", json!([])))
        .await;
    assert_graph_error(&r, 400, 132001);
    let r = s
        .send(&template_msg(USER, "hello_world", "id", json!([])))
        .await;
    let e = assert_graph_error(&r, 400, 132001);
    assert!(details(&e).contains("hello_world"), "{e}");
}

// ----- Versions and routing ------------------------------------------------------------------

#[tokio::test]
async fn any_version_prefix_and_none() {
    let s = start_default().await;
    for (prefix, version) in [
        ("/v23.0", "v23.0"),
        ("/v19.0", "v19.0"),
        ("/v25.0", "v25.0"),
        ("", "v23.0"),
    ] {
        let r = s.get(&format!("{prefix}/{PHONE}")).await;
        assert_eq!(r.ok()["id"], PHONE, "{prefix}");
        assert_eq!(r.headers["facebook-api-version"], version);
        let r = s
            .post(&format!("{prefix}/{PHONE}/messages"), &hello_world(USER))
            .await;
        wamid_of(&r.ok());
        let r = s
            .get(&format!("{prefix}/{WABA}/message_templates?limit=1"))
            .await;
        assert_eq!(r.ok()["data"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_graph_errors() {
    let s = start_default().await;
    let r = s.get(&format!("/v23.0/{PHONE}/nonexistent_edge")).await;
    let e = assert_graph_error(&r, 400, 2500);
    assert!(details(&e).contains("nonexistent_edge"));
    let r = s.get("/v23.0/a/b/c").await;
    assert_graph_error(&r, 400, 2500);
    let r = s.get("/").await;
    assert_graph_error(&r, 400, 2500);
    // Unsupported method on a known object: code 100, subcode 33, naming the method.
    let r = s.delete(&format!("/v23.0/{PHONE}")).await;
    let e = assert_graph_error(&r, 400, 100);
    assert_eq!(e["error_subcode"], 33);
    assert!(details(&e).contains("Unsupported delete request"), "{e}");
    let r = s.get(&format!("/v23.0/{PHONE}/messages")).await;
    let e = assert_graph_error(&r, 400, 100);
    assert_eq!(e["error_subcode"], 33);
    // Unknown control route: 404 with the same envelope.
    let r = s.sim_get("nope").await;
    assert_graph_error(&r, 404, 2500);
}

#[tokio::test]
async fn unknown_ids_are_code_100_subcode_33() {
    let s = start_default().await;
    for path in [
        "/v23.0/999999999999999".to_string(),
        "/v23.0/not-a-number".to_string(),
        "/v23.0/999999999999999/phone_numbers".to_string(),
        "/v23.0/999999999999999/message_templates".to_string(),
        "/v23.0/999999999999999/whatsapp_business_profile".to_string(),
    ] {
        let r = s.get(&path).await;
        let e = assert_graph_error(&r, 400, 100);
        assert_eq!(e["error_subcode"], 33, "{path}: {e}");
        assert_eq!(e["type"], "GraphMethodException");
        let id = path.split('/').nth(2).unwrap();
        let wording = format!("Unsupported get request. Object with ID '{id}' does not exist");
        assert!(e["message"].as_str().unwrap().starts_with(&wording), "{e}");
        assert!(
            e.get("error_data").is_none(),
            "Graph's 100/33 has none: {e}"
        );
    }
    // Graph names the request's method (cloud-api-2026.md: "Unsupported get request. …").
    let r = s
        .post("/v23.0/999999999999999/messages", &hello_world(USER))
        .await;
    let e = assert_graph_error(&r, 400, 100);
    assert_eq!(e["error_subcode"], 33);
    let m = e["message"].as_str().unwrap();
    assert!(
        m.starts_with("Unsupported post request. Object with ID '999999999999999'"),
        "{e}"
    );
}

// ----- Phone numbers, WABA -------------------------------------------------------------------

#[tokio::test]
async fn get_phone_number_default_and_each_field() {
    let s = start_default().await;
    let v = s.get(&format!("/v23.0/{PHONE}")).await.ok();
    let keys: HashSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from([
            "id",
            "display_phone_number",
            "verified_name",
            "quality_rating"
        ])
    );
    assert_eq!(v["display_phone_number"], "+62 812-0000-0001");
    assert_eq!(v["verified_name"], "Toko Sepatu Nusantara");
    assert_eq!(v["quality_rating"], "GREEN");
    let expected = [
        ("quality_rating", json!("GREEN")),
        ("status", json!("CONNECTED")),
        ("throughput", json!({"level": "STANDARD"})),
        ("messaging_limit_tier", json!("TIER_250")),
        (
            "whatsapp_business_manager_messaging_limit",
            json!("TIER_250"),
        ),
        ("display_phone_number", json!("+62 812-0000-0001")),
        ("verified_name", json!("Toko Sepatu Nusantara")),
        ("name_status", json!("APPROVED")),
        ("is_official_business_account", json!(false)),
    ];
    for (f, want) in &expected {
        let v = s.get(&format!("/v23.0/{PHONE}?fields={f}")).await.ok();
        assert_eq!(&v[f], want, "field {f}: {v}");
        assert_eq!(v["id"], PHONE, "id is always present");
        assert_eq!(
            v.as_object().unwrap().len(),
            if *f == "id" { 1 } else { 2 },
            "{v}"
        );
    }
    let all: Vec<&str> = expected.iter().map(|(f, _)| *f).collect();
    let v = s
        .get(&format!("/v23.0/{PHONE}?fields={}", all.join("%2C")))
        .await
        .ok();
    for (f, want) in &expected {
        assert_eq!(&v[f], want, "{f}");
    }
    // The full field lists a real client (pywa 4.5) asks for: known fields without a
    // simulated value are left out, not refused.
    let pywa_fields = "id,verified_name,display_phone_number,conversational_automation,status,quality_rating,quality_score,webhook_configuration,name_status,new_name_status,code_verification_status,account_mode,is_on_biz_app,is_official_business_account,is_pin_enabled,is_preverified_number,search_visibility,platform_type,throughput,eligibility_for_api_business_global_search,health_status,certificate,new_certificate,last_onboarded_time,country_code,country_dial_code,whatsapp_business_manager_messaging_limit";
    let v = s
        .get(&format!("/v23.0/{PHONE}?fields={pywa_fields}"))
        .await
        .ok();
    assert_eq!(v["status"], "CONNECTED");
    assert_eq!(v["platform_type"], "CLOUD_API");
    assert_eq!(v["country_dial_code"], "62");
    assert!(v.get("certificate").is_none());
    let tpl_fields = "id,name,language,category,status,components,parameter_format,message_send_ttl_seconds,correct_category,previous_category,rejected_reason,library_template_name,quality_score,cta_url_link_tracking_opted_out,sub_category,degrees_of_freedom_spec";
    let v = s
        .get(&format!(
            "/v23.0/{WABA}/message_templates?fields={tpl_fields}"
        ))
        .await
        .ok();
    assert_eq!(v["data"].as_array().unwrap().len(), 6);
    assert_eq!(v["data"][0]["rejected_reason"], "NONE");
    assert_eq!(v["data"][0]["quality_score"]["score"], "UNKNOWN");
    assert!(v["data"][0]["quality_score"]["date"].is_u64());
    let r = s
        .get(&format!("/v23.0/{PHONE}?fields=id,bogus_field"))
        .await;
    let e = assert_graph_error(&r, 400, 100);
    assert!(details(&e).contains("bogus_field"), "{e}");
}

#[tokio::test]
async fn high_throughput_number_reports_high_level() {
    let s = start_scenario(&world("throughput_mps = 1000", "", "")).await;
    let v = s
        .get(&format!("/v23.0/{PHONE}?fields=throughput"))
        .await
        .ok();
    assert_eq!(v["throughput"]["level"], "HIGH");
}

#[tokio::test]
async fn get_waba_and_its_phone_numbers() {
    let s = start_default().await;
    let v = s.get(&format!("/v23.0/{WABA}/phone_numbers")).await.ok();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], PHONE);
    assert_eq!(data[0]["display_phone_number"], "+62 812-0000-0001");
    assert_eq!(data[0]["quality_rating"], "GREEN");
    assert!(v["paging"]["cursors"]["before"].is_string());
    assert!(v["paging"]["cursors"]["after"].is_string());
    assert!(v["paging"].get("next").is_none());
    let v = s
        .get(&format!("/v23.0/{WABA}/phone_numbers?fields=id,status"))
        .await
        .ok();
    assert_eq!(v["data"][0], json!({"id": PHONE, "status": "CONNECTED"}));
    let v = s.get(&format!("/v23.0/{WABA}")).await.ok();
    assert_eq!(v["id"], WABA);
    assert_eq!(v["currency"], "USD");
    assert_eq!(v["name"], "Toko Sepatu Nusantara");
}

// ----- Templates -----------------------------------------------------------------------------

fn names(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["name"].as_str().unwrap(),
                t["language"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn list_templates_filters() {
    let s = start_default().await;
    let all = s
        .get(&format!("/v23.0/{WABA}/message_templates"))
        .await
        .ok();
    let mut got = names(&all);
    got.sort();
    assert_eq!(
        got,
        vec![
            "delivery_update/en_US",
            "hello_world/en_US",
            "order_shipped/id",
            "otp_login/en_US",
            "promo_diskon/en_US",
            "promo_diskon/id"
        ]
    );
    for t in all["data"].as_array().unwrap() {
        for k in [
            "id",
            "name",
            "language",
            "status",
            "category",
            "components",
            "parameter_format",
        ] {
            assert!(t.get(k).is_some(), "{k} missing in {t}");
        }
        assert_eq!(t["status"], "APPROVED");
    }
    let dn = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "delivery_update")
        .unwrap();
    assert_eq!(dn["parameter_format"], "NAMED");
    assert_eq!(dn["category"], "UTILITY");

    let q = |query: &str| format!("/v23.0/{WABA}/message_templates?{query}");
    let mut v = names(&s.get(&q("name=promo_diskon")).await.ok());
    v.sort();
    assert_eq!(v, vec!["promo_diskon/en_US", "promo_diskon/id"]);
    assert_eq!(names(&s.get(&q("category=MARKETING")).await.ok()).len(), 2);
    assert_eq!(
        names(&s.get(&q("category=AUTHENTICATION")).await.ok()),
        vec!["otp_login/en_US"]
    );
    let mut v = names(&s.get(&q("language=id")).await.ok());
    v.sort();
    assert_eq!(v, vec!["order_shipped/id", "promo_diskon/id"]);
    assert_eq!(names(&s.get(&q("status=APPROVED")).await.ok()).len(), 6);
    assert_eq!(names(&s.get(&q("status=PENDING")).await.ok()).len(), 0);
    assert_eq!(
        names(
            &s.get(&q("name=promo_diskon&language=en_US&category=MARKETING"))
                .await
                .ok()
        ),
        vec!["promo_diskon/en_US"]
    );
    // Comma-separated filter values, and the summary aggregate (as pywa requests them).
    let v = s
        .get(&q("category=MARKETING,AUTHENTICATION&language=en_US,id&summary=total_count,message_template_count,message_template_limit,are_translations_complete&limit=1"))
        .await
        .ok();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["summary"],
        json!({"total_count": 3, "message_template_count": 6, "message_template_limit": 250, "are_translations_complete": true})
    );
    assert_eq!(
        names(&s.get(&q("status=APPROVED,PAUSED")).await.ok()).len(),
        6
    );
    let e = assert_graph_error(&s.get(&q("summary=bogus")).await, 400, 100);
    assert!(details(&e).contains("bogus"), "{e}");
    // Requested fields only (and id).
    let v = s.get(&q("name=hello_world&fields=name,status")).await.ok();
    let t = &v["data"][0];
    let keys: HashSet<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["id", "name", "status"]));
    // Bad filters name the parameter.
    let e = assert_graph_error(&s.get(&q("status=SLEEPING")).await, 400, 100);
    assert!(details(&e).starts_with("status"), "{e}");
    let e = assert_graph_error(&s.get(&q("category=SPAM")).await, 400, 100);
    assert!(details(&e).starts_with("category"), "{e}");
    let e = assert_graph_error(&s.get(&q("limit=0")).await, 400, 100);
    assert!(details(&e).starts_with("limit"), "{e}");
    let e = assert_graph_error(&s.get(&q("after=garbage!")).await, 400, 100);
    assert!(details(&e).starts_with("after"), "{e}");
}

#[tokio::test]
async fn list_templates_cursor_paging() {
    let s = start_default().await;
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut url = format!("/v23.0/{WABA}/message_templates?limit=4");
    let last_page;
    loop {
        let v = s.get(&url).await.ok();
        pages += 1;
        let n = names(&v);
        assert!(!n.is_empty() && n.len() <= 4);
        seen.extend(n);
        match v["paging"].get("next") {
            Some(_) => {
                let after = v["paging"]["cursors"]["after"].as_str().unwrap();
                url = format!("/v23.0/{WABA}/message_templates?limit=4&after={after}");
            }
            None => {
                last_page = v;
                break;
            }
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 2);
    assert_eq!(seen.len(), 6);
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        6,
        "pages overlap: {seen:?}"
    );
    // Back to the first page with `before`.
    assert!(last_page["paging"]["previous"].is_string());
    let before = last_page["paging"]["cursors"]["before"].as_str().unwrap();
    let v = s
        .get(&format!(
            "/v23.0/{WABA}/message_templates?limit=4&before={before}"
        ))
        .await
        .ok();
    assert_eq!(names(&v), seen[..4].to_vec());
    // Paging with limit=1 walks every template one by one.
    let mut after: Option<String> = None;
    let mut one_by_one = Vec::new();
    loop {
        let url = match &after {
            None => format!("/v23.0/{WABA}/message_templates?limit=1"),
            Some(a) => format!("/v23.0/{WABA}/message_templates?limit=1&after={a}"),
        };
        let v = s.get(&url).await.ok();
        one_by_one.extend(names(&v));
        if v["paging"].get("next").is_none() {
            break;
        }
        after = Some(
            v["paging"]["cursors"]["after"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(one_by_one, seen);
}

fn new_template(name: &str) -> Value {
    json!({
        "name": name,
        "language": "en_US",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order update"},
            {"type": "BODY", "text": "Your order {{1}} ships on {{2}}.",
             "example": {"body_text": [["ORD-1", "Monday"]]}},
            {"type": "FOOTER", "text": "Toko Sepatu"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]}
        ]
    })
}

#[tokio::test]
async fn template_lifecycle_create_review_duplicate_delete() {
    let s = start_default().await;
    let path = format!("/v23.0/{WABA}/message_templates");
    let created = s.post(&path, &new_template("order_ready")).await.ok();
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["category"], "UTILITY");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.parse::<u64>().is_ok(), "{id}");

    let listed = s.get(&format!("{path}?name=order_ready")).await.ok();
    assert_eq!(listed["data"][0]["status"], "PENDING");
    assert_eq!(listed["data"][0]["id"], id);
    let by_id = s.get(&format!("/v23.0/{id}?fields=status")).await.ok();
    assert_eq!(by_id, json!({"id": id, "status": "PENDING"}));

    let send = template_msg(
        USER,
        "order_ready",
        "en_US",
        body_params(&["ORD-7", "Friday"]),
    );
    let e = assert_graph_error(&s.send(&send).await, 400, 132001);
    assert!(details(&e).contains("PENDING"), "{e}");

    // Duplicate name+language while pending: refused.
    let r = s.post(&path, &new_template("order_ready")).await;
    let e = assert_graph_error(&r, 400, 100);
    assert_eq!(e["error_subcode"], 2388024, "{e}");

    // The review takes 60 simulated seconds.
    s.advance(59.0).await;
    let v = s.get(&format!("/v23.0/{id}?fields=status")).await.ok();
    assert_eq!(v["status"], "PENDING");
    s.advance(2.0).await;
    let v = s.get(&format!("/v23.0/{id}?fields=status")).await.ok();
    assert_eq!(v["status"], "APPROVED");
    let listed = s
        .get(&format!("{path}?name=order_ready&status=APPROVED"))
        .await
        .ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    wamid_of(&s.send(&send).await.ok());
    let r = s.post(&path, &new_template("order_ready")).await;
    assert_graph_error(&r, 400, 100);

    // Delete, then sending it is 132001; deleting again is an error naming the template.
    let v = s.delete(&format!("{path}?name=order_ready")).await.ok();
    assert_eq!(v, json!({"success": true}));
    assert_graph_error(&s.send(&send).await, 400, 132001);
    let e = assert_graph_error(
        &s.delete(&format!("{path}?name=order_ready")).await,
        400,
        100,
    );
    assert!(details(&e).contains("order_ready"), "{e}");
    let e = assert_graph_error(&s.delete(&path).await, 400, 100);
    assert!(details(&e).contains("name"), "{e}");
    // A seeded template deleted by name and hsm_id.
    let hw = s.get(&format!("{path}?name=hello_world")).await.ok();
    let hw_id = hw["data"][0]["id"].as_str().unwrap().to_string();
    let v = s
        .delete(&format!("{path}?name=hello_world&hsm_id={hw_id}"))
        .await
        .ok();
    assert_eq!(v["success"], true);
    assert_graph_error(&s.send(&hello_world(USER)).await, 400, 132001);
    let e = assert_graph_error(&s.get(&format!("/v23.0/{hw_id}")).await, 400, 100);
    assert_eq!(e["error_subcode"], 33);
}

#[tokio::test]
async fn template_creation_errors_name_the_field() {
    let s = start_default().await;
    let path = format!("/v23.0/{WABA}/message_templates");
    let mut no_name = new_template("x");
    no_name.as_object_mut().unwrap().remove("name");
    let cases = [
        (no_name, "name"),
        (new_template("Bad Name"), "name"),
        (
            json!({"name":"a","language":"en_US","category":"SPAM","components":[]}),
            "category",
        ),
        (
            json!({"name":"a","language":"en_US","category":"UTILITY"}),
            "components",
        ),
        (
            json!({"name":"a","language":"en_US","category":"UTILITY","components":[{"type":"FOOTER","text":"f"}]}),
            "BODY",
        ),
        (
            json!({"name":"a","language":"en_US","category":"UTILITY","parameter_format":"weird","components":[]}),
            "parameter_format",
        ),
        (
            json!({"name":"a","language":"en_US","category":"UTILITY","components":[{"type":"BODY","text":"Hi {{first_name}}"}]}),
            "parameter_format",
        ),
    ];
    for (body, field) in cases {
        let r = s.post(&path, &body).await;
        let e = assert_graph_error(&r, 400, 100);
        assert!(details(&e).contains(field), "{field}: {e}");
    }
    let r = s
        .request(Method::POST, &path, Some(TOKEN), Some(b"not json".to_vec()))
        .await;
    assert_graph_error(&r, 400, 100);
    // Named parameters are accepted with parameter_format=named.
    let v = s
        .post(
            &path,
            &json!({"name":"named_one","language":"en_US","category":"MARKETING","parameter_format":"named",
                    "components":[{"type":"BODY","text":"Hi {{first_name}}"}]}),
        )
        .await
        .ok();
    assert_eq!(v["status"], "PENDING");
    assert_eq!(v["category"], "MARKETING");
}

// ----- Business profile ----------------------------------------------------------------------

#[tokio::test]
async fn business_profile_read_update_read_back() {
    let s = start_default().await;
    let path = format!("/v23.0/{PHONE}/whatsapp_business_profile");
    let v = s.get(&path).await.ok();
    let p = &v["data"][0];
    assert_eq!(p["messaging_product"], "whatsapp");
    assert_eq!(p["about"], "Sepatu lokal berkualitas");
    assert_eq!(p["email"], "halo@tokosepatu.example");
    assert_eq!(p["vertical"], "APPAREL");
    assert_eq!(p["websites"], json!(["https://tokosepatu.example"]));

    let upd = json!({"messaging_product":"whatsapp","about":"Sepatu terbaik","email":"cs@toko.example",
        "websites":["https://toko.example","https://shop.toko.example"],"vertical":"RETAIL",
        "description":"Baru","address":"Jl. Asia Afrika 8"});
    assert_eq!(s.post(&path, &upd).await.ok(), json!({"success": true}));
    let v = s.get(&path).await.ok();
    let p = &v["data"][0];
    for k in [
        "about",
        "email",
        "websites",
        "vertical",
        "description",
        "address",
    ] {
        assert_eq!(p[k], upd[k], "{k}");
    }
    // A partial update keeps the other fields.
    s.post(&path, &json!({"about":"Hanya about"})).await.ok();
    let p = s.get(&path).await.ok()["data"][0].clone();
    assert_eq!(p["about"], "Hanya about");
    assert_eq!(p["email"], "cs@toko.example");
    // fields= narrows the answer.
    let v = s.get(&format!("{path}?fields=about,email")).await.ok();
    let keys: HashSet<&str> = v["data"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, HashSet::from(["about", "email", "messaging_product"]));
    let e = assert_graph_error(&s.get(&format!("{path}?fields=shoe_size")).await, 400, 100);
    assert!(details(&e).contains("shoe_size"));
}

#[tokio::test]
async fn business_profile_invalid_updates_name_the_field() {
    let s = start_default().await;
    let path = format!("/v23.0/{PHONE}/whatsapp_business_profile");
    let long_about = "a".repeat(140);
    let cases = [
        (json!({"vertical":"SHOES"}), "vertical"),
        (json!({"email":"not-an-email"}), "email"),
        (json!({"email":"@example.com"}), "email"),
        (json!({"websites":["ftp://x.example"]}), "websites[0]"),
        (
            json!({"websites":["https://a.example","https://b.example","https://c.example"]}),
            "websites",
        ),
        (json!({"websites":"https://a.example"}), "websites"),
        (json!({"about": long_about}), "about"),
        (json!({"about": ""}), "about"),
        (json!({"about": 5}), "about"),
    ];
    for (body, field) in cases {
        let r = s.post(&path, &body).await;
        let e = assert_graph_error(&r, 400, 131009);
        assert!(details(&e).starts_with(field), "{field}: {e}");
    }
    // The body must be an object.
    for body in ["null", "[]", "\"about\""] {
        let r = s
            .request(
                Method::POST,
                &path,
                Some(TOKEN),
                Some(body.as_bytes().to_vec()),
            )
            .await;
        assert_graph_error(&r, 400, 100);
    }
    // Nothing changed.
    let p = s.get(&path).await.ok()["data"][0].clone();
    assert_eq!(p["vertical"], "APPAREL");
    assert_eq!(p["about"], "Sepatu lokal berkualitas");
}

// ----- Auth and permissions ------------------------------------------------------------------

#[tokio::test]
async fn missing_and_unknown_tokens_are_401_code_190() {
    let s = start_default().await;
    let path = format!("/v23.0/{PHONE}");
    let r = s.request(Method::GET, &path, None, None).await;
    let e = assert_graph_error(&r, 401, 190);
    // Graph's own 190: its title as the message, no `(#190)` prefix, no `error_data`.
    assert_eq!(
        e["message"],
        "Invalid OAuth access token - Cannot parse access token"
    );
    assert!(e.get("error_data").is_none());
    assert!(r.headers.contains_key("www-authenticate"));
    let r = s
        .request(Method::GET, &path, Some("EAAGm0PX4ZCpsBA-wrong"), None)
        .await;
    assert_graph_error(&r, 401, 190);
    let r = s
        .request(
            Method::POST,
            &format!("{path}/messages"),
            Some("nope"),
            Some(serde_json::to_vec(&hello_world(USER)).unwrap()),
        )
        .await;
    assert_graph_error(&r, 401, 190);
    // The token as a query parameter works, as on Graph.
    let r = s
        .request(
            Method::GET,
            &format!("{path}?access_token={TOKEN}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.ok()["id"], PHONE);
    // The token check comes before the object check.
    let r = s
        .request(Method::GET, "/v23.0/999999999999999", None, None)
        .await;
    assert_graph_error(&r, 401, 190);
}

const TWO_BUSINESSES: &str = r#"
[[businesses]]
id = "200000000000001"
name = "Alpha"
tokens = ["token-alpha"]
[[businesses.wabas]]
id = "200000000000011"
name = "Alpha WABA"
[[businesses.wabas.phone_numbers]]
id = "200000000000111"
display_phone_number = "+62 812-1111-0001"
verified_name = "Alpha"
[[businesses.wabas.templates]]
name = "hello_world"
language = "en_US"
category = "UTILITY"
body = "Hello"

[[businesses]]
id = "200000000000002"
name = "Beta"
tokens = ["token-beta"]
[[businesses.wabas]]
id = "200000000000022"
name = "Beta WABA"
[[businesses.wabas.phone_numbers]]
id = "200000000000222"
display_phone_number = "+62 812-2222-0001"
verified_name = "Beta"
"#;

#[tokio::test]
async fn other_business_objects_are_403_code_200() {
    let s = start_scenario(TWO_BUSINESSES).await;
    let alpha_phone = "200000000000111";
    let alpha_waba = "200000000000011";
    let beta = Some("token-beta");
    let send_body = serde_json::to_vec(&hello_world(USER)).unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/v23.0/{alpha_phone}"), None),
        (
            Method::POST,
            format!("/v23.0/{alpha_phone}/messages"),
            Some(send_body.clone()),
        ),
        (
            Method::GET,
            format!("/v23.0/{alpha_phone}/whatsapp_business_profile"),
            None,
        ),
        (Method::GET, format!("/v23.0/{alpha_waba}"), None),
        (
            Method::GET,
            format!("/v23.0/{alpha_waba}/phone_numbers"),
            None,
        ),
        (
            Method::GET,
            format!("/v23.0/{alpha_waba}/message_templates"),
            None,
        ),
    ] {
        let r = s.request(method.clone(), &path, beta, body).await;
        let e = assert_graph_error(&r, 403, 200);
        assert!(e["message"].as_str().unwrap().starts_with("(#200)"), "{e}");
    }
    // The owner may.
    let r = s
        .request(
            Method::POST,
            &format!("/v23.0/{alpha_phone}/messages"),
            Some("token-alpha"),
            Some(send_body),
        )
        .await;
    wamid_of(&r.ok());
    let r = s
        .request(Method::GET, "/v23.0/200000000000222", beta, None)
        .await;
    assert_eq!(r.ok()["verified_name"], "Beta");
}

// ----- Send-path rules -----------------------------------------------------------------------

#[tokio::test]
async fn throughput_130429_is_deterministic_on_a_manual_clock() {
    let s = start_scenario(&world("throughput_mps = 2", "", "")).await;
    for i in 0..2 {
        let r = s.send(&hello_world(&format!("628130000000{i}"))).await;
        wamid_of(&r.ok());
    }
    let r = s.send(&hello_world("6281300000005")).await;
    let e = assert_graph_error(&r, 429, 130429);
    assert_eq!(e["is_transient"], true);
    assert!(e["message"].as_str().unwrap().starts_with("(#130429)"));
    // Still refused at the same instant; half a second later one more goes through.
    assert_graph_error(&s.send(&hello_world("6281300000006")).await, 429, 130429);
    s.advance(0.5).await;
    wamid_of(&s.send(&hello_world("6281300000007")).await.ok());
    assert_graph_error(&s.send(&hello_world("6281300000008")).await, 429, 130429);
}

#[tokio::test]
async fn pair_rate_131056_after_45_sends_to_one_user() {
    let s = start_scenario(&world("", "", "[rules]\nthroughput_mps = 1000\n")).await;
    for i in 0..45 {
        let r = s.send(&hello_world(USER)).await;
        assert_eq!(r.status, 200, "send {i}: {}", r.text());
    }
    let r = s.send(&hello_world(USER)).await;
    let e = assert_graph_error(&r, 429, 131056);
    assert_eq!(e["is_transient"], true);
    // Another user is not affected; the same user can send again 6 s later.
    wamid_of(&s.send(&hello_world("6281300000002")).await.ok());
    s.advance(6.0).await;
    wamid_of(&s.send(&hello_world(USER)).await.ok());
    assert_graph_error(&s.send(&hello_world(USER)).await, 429, 131056);
}

/// Users who never react on their own (a drawn reply would reopen the service window).
const QUIET_AUDIENCE: &str = "[audience.profiles.utility]\n[audience.profiles.service]\n";

#[tokio::test]
async fn free_form_outside_window_131047_then_ok_after_inbound() {
    let s = start_scenario(&world("", "", QUIET_AUDIENCE)).await;
    let r = s.send(&text_msg(USER, "hi")).await;
    let e = assert_graph_error(&r, 400, 131047);
    assert!(details(&e).contains("24 hours"), "{e}");
    // Templates are fine outside the window.
    wamid_of(&s.send(&hello_world(USER)).await.ok());
    let v = s.inbound(USER, "halo").await;
    assert!(v["window_open_until"].as_u64().is_some());
    wamid_of(&s.send(&text_msg(USER, "hi")).await.ok());
    // Only for that user.
    assert_graph_error(&s.send(&text_msg("6281300000002", "hi")).await, 400, 131047);
    // The window closes 24 h after the user's message.
    s.advance(24.0 * 3600.0 - 1.0).await;
    wamid_of(&s.send(&text_msg(USER, "still open")).await.ok());
    s.advance(2.0).await;
    assert_graph_error(&s.send(&text_msg(USER, "closed")).await, 400, 131047);
    // The decision log names the rule.
    let ev = s.all_events().await;
    assert!(ev
        .iter()
        .any(|e| e["rule"] == "service_window" && e["code"] == 131047));
}

const TEMPLATE_STATES: &str = r#"
[[businesses.wabas.templates]]
name = "paused_promo"
language = "en_US"
category = "MARKETING"
status = "PAUSED"
body = "Paused {{1}}"

[[businesses.wabas.templates]]
name = "disabled_promo"
language = "en_US"
category = "MARKETING"
status = "DISABLED"
body = "Disabled {{1}}"

[[businesses.wabas.templates]]
name = "pending_note"
language = "en_US"
category = "UTILITY"
status = "PENDING"
body = "Pending"

[[businesses.wabas.templates]]
name = "rejected_note"
language = "en_US"
category = "UTILITY"
status = "REJECTED"
body = "Rejected"
"#;

#[tokio::test]
async fn paused_disabled_and_unapproved_templates() {
    let s = start_scenario(&world("", "", TEMPLATE_STATES)).await;
    let r = s
        .send(&template_msg(
            USER,
            "paused_promo",
            "en_US",
            body_params(&["x"]),
        ))
        .await;
    let e = assert_graph_error(&r, 400, 132015);
    assert!(e["message"].as_str().unwrap().contains("Paused"), "{e}");
    let r = s
        .send(&template_msg(
            USER,
            "disabled_promo",
            "en_US",
            body_params(&["x"]),
        ))
        .await;
    assert_graph_error(&r, 400, 132016);
    let r = s
        .send(&template_msg(USER, "pending_note", "en_US", json!([])))
        .await;
    assert_graph_error(&r, 400, 132001);
    let r = s
        .send(&template_msg(USER, "rejected_note", "en_US", json!([])))
        .await;
    assert_graph_error(&r, 400, 132001);
    let v = s
        .get(&format!("/v23.0/{WABA}/message_templates?status=PAUSED"))
        .await
        .ok();
    assert_eq!(names(&v), vec!["paused_promo/en_US"]);
    let ev = s.all_events().await;
    for (rule, code) in [
        ("template_paused", 132015),
        ("template_disabled", 132016),
        ("template_approved", 132001),
    ] {
        assert!(
            ev.iter().any(|e| e["rule"] == rule && e["code"] == code),
            "{rule} missing from {ev:?}"
        );
    }
}

#[tokio::test]
async fn not_on_whatsapp_131026_shows_in_events_after_the_clock_moves() {
    // Only the listed number is off WhatsApp (the default 2% ratio is switched off).
    let text = world("", "not_on_whatsapp = [\"6281300000042\"]", "").replace(
        "not_on_whatsapp_ratio = 0.02",
        "not_on_whatsapp_ratio = 0.0",
    );
    assert!(text.contains("not_on_whatsapp_ratio = 0.0\n"));
    let s = start_scenario(&text).await;
    let v = s.send(&hello_world("6281300000042")).await.ok();
    let wamid = wamid_of(&v);
    assert_eq!(v["contacts"][0]["wa_id"], "6281300000042");
    let ok = wamid_of(&s.send(&hello_world(USER)).await.ok());
    let ev = s.all_events().await;
    assert!(
        ev.iter().all(|e| e["code"].is_null()),
        "no failure before the clock moves: {ev:?}"
    );
    // Delivery verdicts come 0.1–1.5 s after sending.
    s.advance(5.0).await;
    let ev = s.all_events().await;
    let failed: Vec<&Value> = ev.iter().filter(|e| e["code"] == 131026).collect();
    assert_eq!(failed.len(), 1, "{ev:?}");
    assert_eq!(failed[0]["wamid"], wamid);
    assert_eq!(failed[0]["rule"], "recipient_on_whatsapp");
    assert!(!ev.iter().any(|e| e["wamid"] == ok && !e["code"].is_null()));
    let st = s.sim_get("state").await.ok();
    assert_eq!(
        st["numbers"][0]["counters"]["failed"]["131026"], 1,
        "{}",
        st["numbers"][0]
    );
}

#[tokio::test]
async fn disconnected_number_is_133010() {
    let s = start_scenario(&world("status = \"DISCONNECTED\"", "", "")).await;
    let r = s.send(&hello_world(USER)).await;
    let e = assert_graph_error(&r, 400, 133010);
    assert!(details(&e).contains("DISCONNECTED"), "{e}");
    let v = s.get(&format!("/v23.0/{PHONE}?fields=status")).await.ok();
    assert_eq!(v["status"], "DISCONNECTED");
}

#[tokio::test]
async fn http_status_override_from_scenario_and_flag() {
    let text = world(
        "throughput_mps = 1",
        "",
        "[server.http_status]\n\"130429\" = 400\n",
    );
    let s = start_server(Some(&text), &["--http-status", "131047=403"]).await;
    wamid_of(&s.send(&hello_world(USER)).await.ok());
    let e = assert_graph_error(&s.send(&hello_world(USER)).await, 400, 130429);
    assert_eq!(e["is_transient"], true);
    s.advance(1.0).await;
    assert_graph_error(&s.send(&text_msg(USER, "x")).await, 403, 131047);
    let table = s.sim_get("status_table").await.ok();
    let row = table
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == 130429)
        .unwrap()
        .clone();
    assert_eq!(row["http_status"], 400);
}

// ----- Bodies --------------------------------------------------------------------------------

#[tokio::test]
async fn oversized_bodies_are_413_with_graph_envelope() {
    let s = start_default().await;
    // Declared too large: refused before reading.
    let head = format!(
        "POST /v23.0/{PHONE}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        (1 << 20) + 1
    );
    let (status, v) = s.raw(head.as_bytes(), vec![]).await;
    assert_eq!(status, 413);
    let e = check_envelope(&v, 100);
    assert!(details(&e).contains("larger than"), "{e}");
    // Chunked (no length): refused once the limit is crossed.
    let head = format!(
        "POST /v23.0/{PHONE}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let chunk = vec![b' '; 64 * 1024];
    let mut chunks = Vec::new();
    for _ in 0..20 {
        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
        c.extend_from_slice(&chunk);
        c.extend_from_slice(b"\r\n");
        chunks.push(c);
    }
    chunks.push(b"0\r\n\r\n".to_vec());
    let (status, v) = s.raw(head.as_bytes(), chunks).await;
    assert_eq!(status, 413);
    check_envelope(&v, 100);
    // Just under the limit is read (and then judged on its content).
    let mut body = serde_json::to_vec(&hello_world(USER)).unwrap();
    body.pop();
    body.extend(std::iter::repeat_n(b' ', (1 << 20) - body.len() - 1));
    body.push(b'}');
    assert_eq!(body.len(), 1 << 20);
    let r = s
        .request(
            Method::POST,
            &format!("/v23.0/{PHONE}/messages"),
            Some(TOKEN),
            Some(body),
        )
        .await;
    wamid_of(&r.ok());
    // The server is still fine.
    assert_eq!(s.sim_get("health").await.ok()["status"], "ok");
}

// ----- Control API and metrics ---------------------------------------------------------------

#[tokio::test]
async fn control_health_state_and_clock() {
    let s = start_default().await;
    let h = s.sim_get("health").await.ok();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["clock"], "manual");
    let t0 = h["now"].as_u64().unwrap();
    let v = s.advance(1.5).await;
    assert_eq!(v["now"].as_u64().unwrap(), t0 + 1_500_000);
    let h = s.sim_get("health").await.ok();
    assert_eq!(
        h["now"].as_u64().unwrap(),
        t0 + 1_500_000,
        "a manual clock does not move by itself"
    );
    let st = s.sim_get("state").await.ok();
    assert_eq!(st["clock"]["mode"], "manual");
    assert_eq!(st["numbers"][0]["id"], PHONE);
    assert_eq!(st["businesses"][0]["tokens"], json!([TOKEN]));
    assert_eq!(st["templates"].as_array().unwrap().len(), 6);
    assert_eq!(st["sends_accepted"], 0);
    wamid_of(&s.send(&hello_world(USER)).await.ok());
    let st = s.sim_get("state").await.ok();
    assert_eq!(st["sends_accepted"], 1);
    assert_eq!(st["numbers"][0]["counters"]["accepted"], 1);
    // Bad advances, and one past ten years (it would run the clock past what it counts).
    let before = s.sim_get("health").await.ok()["now"].as_u64().unwrap();
    for body in [
        json!({"seconds": -1}),
        json!({"secs": 1}),
        json!({"seconds": "1"}),
        json!({"seconds": 1e300}),
        json!({"seconds": 315_576_001.0}),
    ] {
        let r = s.sim_post("clock/advance", &body).await;
        assert_graph_error(&r, 400, 100);
    }
    assert_eq!(
        s.sim_get("health").await.ok()["now"],
        before,
        "refusals leave time alone"
    );
    let r = s
        .sim_post("clock/advance", &json!({"seconds": 315_576_000.0}))
        .await;
    assert!(
        r.ok()["now"].as_u64().unwrap() > before,
        "ten years is allowed"
    );
    let r = s
        .sim_post("inbound", &json!({"from":"abc","phone_number_id":PHONE}))
        .await;
    let e = assert_graph_error(&r, 400, 100);
    assert!(details(&e).starts_with("from"));
    let r = s
        .sim_post("inbound", &json!({"from":USER,"phone_number_id":"999"}))
        .await;
    assert_graph_error(&r, 400, 100);
}

#[test]
fn time_scale_is_bounded() {
    use wabasim::cmd::serve::{ServePlan, MAX_TIME_SCALE};
    use wabasim::cmd::{Cli, Command};
    let plan = |scale: &str| {
        let cli = <Cli as clap::Parser>::parse_from(["wabasim", "serve", "--time-scale", scale]);
        let Command::Serve(args) = cli.command else {
            panic!("not a serve command")
        };
        ServePlan::from_args(&args).map(|_| ())
    };
    assert!(plan(&MAX_TIME_SCALE.to_string()).is_ok());
    assert!(plan("3600").is_ok());
    for bad in ["1e15", "0", "NaN", "inf"] {
        let e = plan(bad).expect_err(bad);
        assert!(e.starts_with("--time-scale"), "{bad}: {e}");
    }
}

#[tokio::test]
async fn clock_advance_on_wall_clock_is_409() {
    let s = start_server(None, &["--clock", "wall"]).await;
    let r = s.sim_post("clock/advance", &json!({"seconds": 1})).await;
    let e = assert_graph_error(&r, 409, 100);
    assert!(details(&e).contains("manual"), "{e}");
    assert_eq!(s.sim_get("health").await.ok()["clock"], "wall");
}

#[tokio::test]
async fn events_paging() {
    let s = start_default().await;
    s.inbound(USER, "halo").await;
    for _ in 0..4 {
        wamid_of(&s.send(&text_msg(USER, "x")).await.ok());
    }
    assert_graph_error(&s.send(&text_msg("6281300000009", "x")).await, 400, 131047);
    // 1 inbound + 4 accepted + 1 rejected = 6 decisions.
    let p1 = s.sim_get("events?limit=4").await.ok();
    assert_eq!(p1["events"].as_array().unwrap().len(), 4);
    assert_eq!(p1["more"], true);
    assert_eq!(p1["events"][0]["rule"], "inbound_message");
    let next = p1["next"].as_u64().unwrap();
    let p2 = s
        .sim_get(&format!("events?since={next}&limit=4"))
        .await
        .ok();
    assert_eq!(p2["events"].as_array().unwrap().len(), 2);
    assert_eq!(p2["more"], false);
    assert_eq!(p2["events"][1]["code"], 131047);
    let all = s.all_events().await;
    assert_eq!(all.len(), 6);
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for e in &all[1..5] {
        assert_eq!(e["rule"], "accepted");
        assert!(e["wamid"].as_str().unwrap().starts_with("wamid."));
        assert_eq!(e["phone_number_id"], PHONE);
    }
}

#[tokio::test]
async fn faults_inject_errors_and_delete_clears_them() {
    let s = start_default().await;
    let v = s
        .sim_post(
            "faults",
            &json!({"route":"messages","error_ratio":1.0,"code":131016}),
        )
        .await
        .ok();
    assert_eq!(v["faults"].as_array().unwrap().len(), 1);
    for _ in 0..5 {
        let e = assert_graph_error(&s.send(&hello_world(USER)).await, 503, 131016);
        assert_eq!(e["is_transient"], true);
        assert!(details(&e).contains("Injected"), "{e}");
    }
    // Other routes are untouched.
    assert_eq!(s.get(&format!("/v23.0/{PHONE}")).await.ok()["id"], PHONE);
    // Default code is 131000 (HTTP 500); "*" hits every Graph route.
    s.sim_post("faults", &json!({"route":"*","error_ratio":1.0}))
        .await
        .ok();
    assert_graph_error(&s.get(&format!("/v23.0/{PHONE}")).await, 500, 131000);
    let listed = s.sim_get("faults").await.ok();
    assert_eq!(listed["faults"].as_array().unwrap().len(), 2);
    // Bad faults are refused, naming the field.
    for (body, field) in [
        (json!({"route":"nope","error_ratio":1.0}), "route"),
        (json!({"error_ratio":1.5}), "error_ratio"),
        (json!({"error_ratio":1.0,"code":42}), "code"),
        (json!({"error_ratio":1.0,"colour":"red"}), "colour"),
        (json!({"latency_ms":60_001}), "latency_ms"),
        (json!({"latency_ms":u64::MAX}), "latency_ms"),
    ] {
        let e = assert_graph_error(&s.sim_post("faults", &body).await, 400, 100);
        assert!(details(&e).contains(field), "{field}: {e}");
    }
    for body in ["[]", "[1.0]", "null"] {
        let r = s
            .request(
                Method::POST,
                "/_sim/faults",
                None,
                Some(body.as_bytes().to_vec()),
            )
            .await;
        assert_graph_error(&r, 400, 100);
    }
    assert_eq!(
        s.sim_get("faults").await.ok()["faults"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = s.request(Method::DELETE, "/_sim/faults", None, None).await;
    assert_eq!(r.ok()["faults"], json!([]));
    wamid_of(&s.send(&hello_world(USER)).await.ok());
    // Zero ratio never fails.
    s.sim_post("faults", &json!({"route":"messages","error_ratio":0.0}))
        .await
        .ok();
    for _ in 0..3 {
        wamid_of(
            &s.send(&hello_world(&format!("62813000001{}", 0)))
                .await
                .ok(),
        );
    }
    // The faulted sends are counted as rejected sends.
    let m = s.request(Method::GET, "/metrics", None, None).await;
    assert!(
        m.text()
            .contains("wabasim_sends_total{outcome=\"131016\"} 5"),
        "{}",
        m.text()
    );
}

#[tokio::test]
async fn metrics_count_requests_and_sends() {
    let s = start_default().await;
    for _ in 0..3 {
        wamid_of(&s.send(&hello_world(USER)).await.ok());
    }
    assert_graph_error(&s.send(&text_msg(USER, "x")).await, 400, 131047);
    assert_graph_error(&s.send(&text_msg(USER, "x")).await, 400, 131047);
    s.get(&format!("/v23.0/{PHONE}")).await.ok();
    assert_graph_error(
        &s.request(Method::GET, &format!("/v23.0/{PHONE}"), None, None)
            .await,
        401,
        190,
    );
    let m = s.request(Method::GET, "/metrics", None, None).await;
    assert_eq!(m.status, 200);
    assert!(m.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let t = m.text();
    for line in [
        "wabasim_http_requests_total{route=\"messages\",status=\"200\"} 3",
        "wabasim_http_requests_total{route=\"messages\",status=\"400\"} 2",
        "wabasim_http_requests_total{route=\"phone_number\",status=\"200\"} 1",
        "wabasim_http_requests_total{route=\"phone_number\",status=\"401\"} 1",
        "wabasim_sends_total{outcome=\"accepted\"} 3",
        "wabasim_sends_total{outcome=\"131047\"} 2",
        "# TYPE wabasim_http_requests_total counter",
        "wabasim_engine_timers_pending",
    ] {
        assert!(t.contains(line), "missing {line:?} in:\n{t}");
    }
}

#[tokio::test]
async fn garbage_requests_never_break_the_server() {
    let s = start_default().await;
    let garbage: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"str\"".to_vec(),
        b"{\"messaging_product\":\"whatsapp\",\"to\":\"\",\"type\":\"text\",\"text\":{\"body\":\"x\"}}".to_vec(),
        vec![0xff, 0xfe, 0x00],
        b"{\"messaging_product\":\"whatsapp\",\"to\":\"99999999999999999999999999\",\"text\":{\"body\":\"x\"}}".to_vec(),
        b"{\"messaging_product\":\"whatsapp\",\"to\":1e400,\"text\":{\"body\":\"x\"}}".to_vec(),
    ];
    for body in garbage {
        for path in [
            format!("/v23.0/{PHONE}/messages"),
            format!("/v23.0/{WABA}/message_templates"),
            format!("/v23.0/{PHONE}/whatsapp_business_profile"),
            "/_sim/inbound".to_string(),
            "/_sim/faults".to_string(),
            "/_sim/clock/advance".to_string(),
        ] {
            let r = s
                .request(Method::POST, &path, Some(TOKEN), Some(body.clone()))
                .await;
            // Some bodies are acceptable somewhere (an object of unknown profile fields is
            // an empty update); none may crash the server or answer 5xx.
            if r.status == 200 {
                continue;
            }
            assert!(
                (400..500).contains(&r.status),
                "{path} {:?}: {} {}",
                String::from_utf8_lossy(&body),
                r.status,
                r.text()
            );
            let v = r.json();
            let code = v["error"]["code"].as_u64().unwrap();
            check_envelope(&v, code);
        }
    }
    for q in [
        "fields=",
        "fields=,,,",
        "limit=-1",
        "before=%%%",
        "name=%E2%82",
    ] {
        let r = s.get(&format!("/v23.0/{WABA}/message_templates?{q}")).await;
        assert!(r.status == 200 || r.status == 400, "{q}: {}", r.text());
    }
    assert_eq!(s.sim_get("health").await.ok()["status"], "ok");
}

#[tokio::test]
async fn faults_are_bounded_and_cleared_by_delete() {
    let s = start_server(None, &[]).await;
    for _ in 0..100 {
        let r = s
            .sim_post("faults", &json!({"route": "messages", "error_ratio": 0.0}))
            .await;
        assert_eq!(r.status, 200);
    }
    let e = assert_graph_error(
        &s.sim_post("faults", &json!({"route": "messages", "error_ratio": 0.0}))
            .await,
        400,
        100,
    );
    assert!(details(&e).contains("at most 100 faults"), "{e}");
    let r = s.request(Method::DELETE, "/_sim/faults", None, None).await;
    assert_eq!(r.status, 200);
    let r = s
        .sim_post("faults", &json!({"route": "messages", "error_ratio": 0.0}))
        .await;
    assert_eq!(r.status, 200, "room again after DELETE");
}

#[tokio::test]
async fn waba_management_calls_are_counted_in_the_usage_header_and_limited() {
    let s = start_server(None, &["--waba-calls-per-hour", "3"]).await;
    let waba = "/v23.0/102290129340398/message_templates";
    for pct in [33, 66, 100] {
        let r = s.request(Method::GET, waba, Some(TOKEN), None).await;
        assert_eq!(r.status, 200);
        let h: Value =
            serde_json::from_str(r.headers["x-business-use-case-usage"].to_str().unwrap()).unwrap();
        let u = &h["102290129340398"][0];
        assert_eq!(u["type"], "whatsapp_business_management");
        assert_eq!(u["call_count"], pct);
        assert_eq!(u["estimated_time_to_regain_access"], 0);
    }
    // The fourth call in the hour: 80007, with the minutes until there is room.
    let r = s
        .request(Method::GET, "/v23.0/102290129340398", Some(TOKEN), None)
        .await;
    assert_graph_error(&r, 429, 80007);
    let h: Value =
        serde_json::from_str(r.headers["x-business-use-case-usage"].to_str().unwrap()).unwrap();
    assert_eq!(
        h["102290129340398"][0]["estimated_time_to_regain_access"],
        60
    );
    // Sends are not management calls: no header, not refused.
    let r = s
        .request(Method::GET, "/v23.0/106540352242922", Some(TOKEN), None)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.headers.get("x-business-use-case-usage").is_none());
    // An hour of simulated time later there is room again.
    s.sim_post("clock/advance", &json!({"seconds": 3600})).await;
    let r = s.request(Method::GET, waba, Some(TOKEN), None).await;
    assert_eq!(r.status, 200);
}

/// `deploy/grafana/wabasim-serve.json` is a Grafana dashboard (valid JSON with panels) whose
/// queries read only metrics, and `kind` labels, that `/metrics` exposes.
#[tokio::test]
async fn grafana_dashboard_reads_only_metrics_the_server_exposes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/wabasim-serve.json"
    );
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
    let s = start_default().await;
    wamid_of(&s.send(&hello_world(USER)).await.ok());
    let metrics = s.request(Method::GET, "/metrics", None, None).await.text();
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 6);
    let mut queried = 0;
    for p in panels {
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"].as_str().expect("expr");
            let names: Vec<&str> = expr
                .match_indices("wabasim_")
                .map(|(i, _)| {
                    let rest = &expr[i..];
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    &rest[..end]
                })
                .collect();
            assert!(!names.is_empty(), "{expr}");
            for name in names {
                assert!(
                    metrics.contains(&format!("# TYPE {name} ")),
                    "{name} (panel {:?}) is not in /metrics:\n{metrics}",
                    p["title"]
                );
                queried += 1;
            }
            // Exact `kind` label values name webhook counters that exist.
            for (i, _) in expr.match_indices("kind=\"") {
                let value = &expr[i + 6..];
                let value = &value[..value.find('"').unwrap()];
                assert!(
                    metrics.contains(&format!("wabasim_webhooks{{kind=\"{value}\"}}")),
                    "kind {value:?} is not in /metrics"
                );
            }
        }
    }
    assert!(queried >= 10);
}
