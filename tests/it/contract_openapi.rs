//! Contract test: responses of the implemented routes, over real HTTP, validated against the
//! response schemas of the matching operations in Meta's official OpenAPI spec
//! (`business-messaging-api_v23.0.yaml`, github.com/facebook/openapi, MIT).
//!
//! The spec is read from `WABASIM_OPENAPI` if set, else from the copy in
//! `tests/data/openapi/` (so a clean clone needs nothing outside the repository).
//!
//! Two strengths of check:
//! - **as published**: the operation's schema exactly as the spec gives it;
//! - **closed**: the same schema with `additionalProperties: false` added to every object
//!   schema that lists `properties`, so a field the spec does not declare fails too.
//!
//! Where Meta's real responses (and client libraries such as pywa) differ from the spec, the
//! schema is patched before validation. Every patch is a named function below with the reason,
//! and is listed in `docs/contract.md`. Nothing else is relaxed.

use crate::common::*;
use jsonschema::{Draft, JSONSchema};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

// ----- Loading the spec ----------------------------------------------------------------------

fn spec_path() -> std::path::PathBuf {
    match std::env::var_os("WABASIM_OPENAPI") {
        Some(p) => p.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/openapi/business-messaging-api_v23.0.yaml"),
    }
}

/// YAML → JSON, with non-string map keys (e.g. unquoted response codes) turned into strings.
fn yaml_to_json(y: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => serde_yaml::to_string(&other).unwrap().trim().to_string(),
                };
                out.insert(key, yaml_to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = spec_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read the OpenAPI spec at {} ({e}); set WABASIM_OPENAPI",
                path.display()
            )
        });
        let y: serde_yaml::Value = serde_yaml::from_str(&text).expect("spec is YAML");
        let v = yaml_to_json(y);
        assert_eq!(v["openapi"], "3.1.0", "expected an OpenAPI 3.1 document");
        v
    })
}

/// The 200 (or `status`) JSON schema of `method path` in the spec.
fn response_schema(path: &str, method: &str, status: &str) -> Value {
    let op = &spec()["paths"][path][method];
    assert!(op.is_object(), "no operation {method} {path} in the spec");
    let s = op["responses"][status]["content"]["application/json"]["schema"].clone();
    assert!(s.is_object(), "no {status} JSON schema for {method} {path}");
    s
}

/// A component schema by name.
fn component(name: &str) -> Value {
    let s = spec()["components"]["schemas"][name].clone();
    assert!(s.is_object(), "no component schema {name}");
    s
}

/// Follows one `$ref` into `#/components/schemas/`.
fn deref(s: &Value) -> Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => component(r.trim_start_matches("#/components/schemas/")),
        None => s.clone(),
    }
}

/// Copies every component schema reachable from `root` (through `$ref`) into `out`.
fn collect_refs(root: &Value, out: &mut Map<String, Value>) {
    match root {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    if let Some(name) = v
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    {
                        if !out.contains_key(name) {
                            let c = component(name);
                            out.insert(name.to_string(), c.clone());
                            collect_refs(&c, out);
                        }
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Adds `additionalProperties: false` to every object schema that lists `properties`.
fn close(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let composite = ["allOf", "anyOf", "oneOf"]
                .iter()
                .any(|k| m.contains_key(*k));
            if m.contains_key("properties") && !m.contains_key("additionalProperties") && !composite
            {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (k, child) in m.iter_mut() {
                // `properties` maps names to schemas; recurse into each schema, not the map.
                if k == "properties" {
                    if let Value::Object(props) = child {
                        props.values_mut().for_each(close);
                    }
                } else {
                    close(child);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(close),
        _ => {}
    }
}

/// Compiles `schema` as a self-contained JSON Schema 2020-12 document: the components it
/// references are embedded under `components/schemas` so `#/components/schemas/X` resolves.
fn compile(schema: &Value, closed: bool) -> JSONSchema {
    let mut comps = Map::new();
    collect_refs(schema, &mut comps);
    let mut doc = schema.clone();
    let mut comps = Value::Object(comps);
    if closed {
        close(&mut doc);
        close(&mut comps);
    }
    doc.as_object_mut()
        .expect("object schema")
        .insert("components".into(), json!({ "schemas": comps }));
    JSONSchema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .compile(&doc)
        .unwrap_or_else(|e| panic!("schema does not compile: {e}"))
}

fn errors(schema: &JSONSchema, instance: &Value) -> Vec<String> {
    match schema.validate(instance) {
        Ok(()) => vec![],
        Err(errs) => errs
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect(),
    }
}

/// Asserts `instance` is valid against `schema`, as published and (if `closed`) closed.
#[track_caller]
fn assert_valid(what: &str, schema: &Value, instance: &Value, closed: bool) {
    let open_errs = errors(&compile(schema, false), instance);
    assert!(
        open_errs.is_empty(),
        "{what}: invalid against the spec:\n  {}\ninstance: {instance}",
        open_errs.join("\n  ")
    );
    if closed {
        let closed_errs = errors(&compile(schema, true), instance);
        assert!(
            closed_errs.is_empty(),
            "{what}: fields the spec does not declare:\n  {}\ninstance: {instance}",
            closed_errs.join("\n  ")
        );
    }
}

// ----- Documented deviations (see docs/contract.md) ------------------------------------------

/// D10. Send responses by BSUID carry `contacts[].user_id` (Meta's BSUID page, 2026); the v23
/// `MessageResponsePayload` declares only `input` and `wa_id`.
fn patch_send_user_id(mut s: Value) -> Value {
    let props = s
        .pointer_mut("/properties/contacts/items/properties")
        .expect("MessageResponsePayload declares contacts items");
    props["user_id"] = json!({"type": "string"});
    s
}

/// D1. Graph errors carry `error_data: {messaging_product, details}` (Meta's error-code page
/// and every real Cloud API error); `GraphAPIError` does not declare it.
fn patch_error_data(s: Value) -> Value {
    let mut s = deref(&s);
    s["properties"]["error"]["properties"]["error_data"] = json!({
        "type": "object",
        "required": ["details"],
        "properties": {
            "messaging_product": {"type": "string", "enum": ["whatsapp"]},
            "details": {"type": "string"}
        }
    });
    s
}

/// D2. `WhatsAppBusinessAccountPhoneNumber.status` lists linking states (PENDING, LINKED, …);
/// the phone-number `status` field Meta documents and pywa parses is CONNECTED, DISCONNECTED,
/// FLAGGED, … Also `status` is `required` although Meta's default field set
/// (`id, display_phone_number, verified_name, quality_rating`) does not include it.
fn patch_phone_number_status(s: Value) -> Value {
    let mut s = deref(&s);
    let item = &mut s["properties"]["data"]["items"];
    *item = deref(item);
    item["required"] = json!(["id", "display_phone_number"]);
    item["properties"]["status"] = json!({"type": "string", "enum": [
        "CONNECTED", "DISCONNECTED", "FLAGGED", "MIGRATED", "PENDING", "RESTRICTED",
        "UNVERIFIED", "DELETED", "BANNED", "LINKED", "UNLINKED", "RATE_LIMITED", "UNKNOWN"]});
    s
}

/// D3. Template objects: Meta returns `parameter_format` among the default fields (the
/// template API docs; pywa's `Template` reads it) and `example` inside components; the inline
/// template schemas of the spec declare neither.
fn patch_template(t: Value) -> Value {
    let mut t = deref(&t);
    t["properties"]["parameter_format"] =
        json!({"type": "string", "enum": ["POSITIONAL", "NAMED"]});
    t["properties"]["components"]["items"]["properties"]["example"] = json!({"type": "object"});
    t
}

fn patch_template_list(s: Value) -> Value {
    let mut s = deref(&s);
    let item = s["properties"]["data"]["items"].take();
    s["properties"]["data"]["items"] = patch_template(item);
    // D4. Paging: `next`/`previous` appear when there are more pages (as in `CursorPaging`);
    // the inline paging schema of this operation lists only `cursors`.
    s["properties"]["paging"] = json!({"$ref": "#/components/schemas/CursorPaging"});
    s
}

/// D5. The business profile: the spec wraps each profile in `{"business_profile": {...}}`
/// inside `data`; Meta's real responses (and pywa's `BusinessProfile.from_dict`) put the
/// profile fields directly in `data[0]`. Validate `data[i]` against `WhatsAppBusinessProfile`
/// itself. The spec's `vertical` enum lacks `UNDEFINED` (Meta's default) — added.
fn patch_profile(s: Value) -> Value {
    let mut s = deref(&s);
    let mut profile = component("WhatsAppBusinessProfile");
    let mut vertical = component("WhatsAppBusinessVertical");
    if let Some(e) = vertical["enum"].as_array_mut() {
        e.push(json!("UNDEFINED"));
    }
    profile["properties"]["vertical"] = vertical;
    s["properties"]["data"]["items"] = profile;
    s
}

// ----- The checks ----------------------------------------------------------------------------

const MESSAGES: &str = "/{Version}/{Phone-Number-ID}/messages";
const PHONE_NUMBER: &str = "/{Version}/{Phone-Number-ID}";
const PHONE_NUMBERS: &str = "/{Version}/{WABA-ID}/phone_numbers";
const TEMPLATES: &str = "/{Version}/{WABA-ID}/message_templates";
const TEMPLATE: &str = "/{Version}/{TEMPLATE_ID}";
const PROFILE: &str = "/{Version}/{Phone-Number-ID}/whatsapp_business_profile";

#[test]
fn the_validator_rejects_what_the_spec_forbids() {
    // Guards against a vacuous contract test: refs must resolve and types must be checked.
    let send = response_schema(MESSAGES, "post", "200");
    let c = compile(&send, false);
    assert!(!errors(&c, &json!({"messages": [{"id": 5}]})).is_empty());
    assert!(
        !errors(
            &c,
            &json!({"messages": [{"id": "wamid.x", "message_status": "nope"}]})
        )
        .is_empty(),
        "$ref into components/schemas must resolve"
    );
    let closed = compile(&send, true);
    assert!(!errors(
        &closed,
        &json!({"messaging_product": "whatsapp", "extra": 1})
    )
    .is_empty());
    let err = component("GraphAPIError");
    assert!(!errors(
        &compile(&err, false),
        &json!({"error": {"message": "m", "type": "t"}})
    )
    .is_empty());
    let info = component("PhoneNumberInfo");
    assert!(!errors(&compile(&info, false), &json!({"quality_rating": "PURPLE"})).is_empty());
    // Formats are checked (the profile email).
    let p = patch_profile(response_schema(PROFILE, "get", "200"));
    assert!(!errors(
        &compile(&p, false),
        &json!({"data": [{"messaging_product": "whatsapp", "email": "not an email"}]})
    )
    .is_empty());
}

#[tokio::test]
async fn send_responses_match_the_spec() {
    let s = start_default().await;
    let schema = response_schema(MESSAGES, "post", "200");
    let v = s.send(&hello_world(USER)).await.ok();
    assert_valid("template send", &schema, &v, true);
    let inbound = s.inbound(USER, "halo").await;
    let v = s.send(&text_msg("+62 813-0000-0001", "hi")).await.ok();
    assert_valid("text send", &schema, &v, true);
    let v = s
        .send(&json!({"messaging_product":"whatsapp","to":USER,"type":"interactive","interactive":{
            "type":"button","body":{"text":"b"},"action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"A"}}]}}}))
        .await
        .ok();
    assert_valid("interactive send", &schema, &v, true);
    // D10. A send by BSUID (`recipient`) answers `contacts[]{input, user_id}`, as Meta's
    // BSUID page shows; the v23 spec predates BSUIDs and declares only `input` and `wa_id`.
    let id = wabasim::engine::bsuid::user_id(
        s.state.engine.seed(),
        wabasim::engine::ids::BusinessId(100000000000001),
        wabasim::engine::ids::WaId(USER.parse().unwrap()),
        0,
    )
    .to_string();
    let v = s
        .send(
            &json!({"messaging_product":"whatsapp","recipient":id,"type":"template",
            "template":{"name":"hello_world","language":{"code":"en_US"}}}),
        )
        .await
        .ok();
    assert_eq!(v["contacts"][0]["user_id"], id.as_str(), "{v}");
    assert_valid("BSUID send", &schema, &v, false);
    let payload = component("MessageResponsePayload");
    assert_valid("BSUID send", &patch_send_user_id(payload.clone()), &v, true);
    assert!(
        !errors(&compile(&payload, true), &v).is_empty(),
        "the closed v23 schema refuses `user_id`: D10 is still needed"
    );
    // D6. Mark-as-read answers `{"success": true}` (Meta's docs; pywa reads `success`); the
    // spec gives sendMessage a single 200 schema, which allows it but does not declare it.
    let v = s
        .send(&json!({"messaging_product":"whatsapp","status":"read","message_id":inbound["message_id"]}))
        .await
        .ok();
    assert_valid("mark as read", &schema, &v, false);
    assert_valid("mark as read", &component("SuccessResponse"), &v, true);
}

/// `POST /{phone}/marketing_messages` (the Cloud API fallback of a WABA not onboarded, then an
/// onboarded send) against `sendMarketingMessage`'s `MarketingMessageResponsePayload`; the
/// request bodies as `MarketingMessageRequestPayload` (closed as published).
#[tokio::test]
async fn marketing_messages_match_the_spec() {
    let s = start_default().await;
    let path = "/{Version}/{Phone-Number-ID}/marketing_messages";
    let schema = response_schema(path, "post", "200");
    let request = component("MarketingMessageRequestPayload");
    let body = json!({"messaging_product":"whatsapp","recipient_type":"individual","to":USER,
        "type":"template","template":{"name":"promo_diskon","language":{"policy":"deterministic","code":"id"},
        "components":[{"type":"body","parameters":[{"type":"text","text":"Ayu"}]}]},
        "product_policy":"CLOUD_API_FALLBACK","message_activity_sharing":true});
    assert_valid("marketing request", &request, &body, false);
    let url = format!("/v23.0/{PHONE}/marketing_messages");
    let v = s.post(&url, &body).await.ok();
    assert_valid("marketing send (fallback)", &schema, &v, true);
    s.post(
        "/v23.0/100000000000001/onboard_partners_to_mm_lite",
        &json!({}),
    )
    .await
    .ok();
    let v = s.post(&url, &body).await.ok();
    assert_valid("marketing send (onboarded)", &schema, &v, true);
    assert_eq!(v["messages"][0]["message_status"], "accepted");
    let r = s.post(&url, &hello_world(USER)).await;
    assert_valid(
        "marketing error",
        &patch_error_data(component("GraphAPIError")),
        &r.json(),
        true,
    );
}

#[tokio::test]
async fn error_envelopes_match_graph_api_error() {
    let s = start_default().await;
    let schema = patch_error_data(component("GraphAPIError"));
    // Every operation we implement points its error responses at GraphAPIError.
    for (p, m) in [
        (PHONE_NUMBER, "get"),
        (PHONE_NUMBERS, "get"),
        (PROFILE, "get"),
        (PROFILE, "post"),
    ] {
        assert_eq!(
            spec()["paths"][p][m]["responses"]["400"]["content"]["application/json"]["schema"]
                ["$ref"],
            "#/components/schemas/GraphAPIError",
            "{m} {p}"
        );
    }
    let mut cases = vec![
        (
            "401",
            s.request(hyper::Method::GET, &format!("/v23.0/{PHONE}"), None, None)
                .await,
        ),
        ("100/33", s.get("/v23.0/999999999999999").await),
        ("2500", s.get(&format!("/v23.0/{PHONE}/nope")).await),
        ("131047", s.send(&text_msg(USER, "x")).await),
        (
            "132001",
            s.send(&template_msg(USER, "nope", "en_US", json!([])))
                .await,
        ),
        (
            "131009",
            s.post(
                &format!("/v23.0/{PHONE}/whatsapp_business_profile"),
                &json!({"vertical": "X"}),
            )
            .await,
        ),
        (
            "100 fields",
            s.get(&format!("/v23.0/{PHONE}?fields=nope")).await,
        ),
    ];
    // 130429 (and 429) from a one-message-per-second world.
    let slow = start_scenario(&format!(
        "{}\n[rules]\nthroughput_mps = 1\n",
        wabasim::scenario::DEFAULT_WORLD
    ))
    .await;
    slow.send(&hello_world(USER)).await.ok();
    cases.push(("130429", slow.send(&hello_world(USER)).await));
    // 413 (read with a raw socket: the server answers before the body is sent).
    let head = format!(
        "POST /v23.0/{PHONE}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 2000000\r\n\r\n"
    );
    let (status, big) = s.raw(head.as_bytes(), vec![]).await;
    assert_eq!(status, 413);
    assert_valid("413", &schema, &big, true);
    cases.push(("control 404", s.sim_get("nope").await));
    for (what, r) in &cases {
        assert!(r.status >= 400, "{what}: {}", r.text());
        assert_valid(what, &schema, &r.json(), true);
    }
    // The published schema (without D1) accepts them too when it is not closed.
    for (what, r) in &cases {
        assert_valid(what, &component("GraphAPIError"), &r.json(), false);
    }
}

#[tokio::test]
async fn phone_number_responses_match_the_spec() {
    let s = start_default().await;
    let schema = response_schema(PHONE_NUMBER, "get", "200");
    let v = s.get(&format!("/v23.0/{PHONE}")).await.ok();
    assert_valid("GET phone (default fields)", &schema, &v, true);
    let v = s
        .get(&format!(
            "/v23.0/{PHONE}?fields=id,display_phone_number,verified_name,quality_rating,code_verification_status,name_status"
        ))
        .await
        .ok();
    assert_valid("GET phone (declared fields)", &schema, &v, true);
    // Fields outside `PhoneNumberInfo` (status, throughput, limits, …): as published only.
    let v = s
        .get(&format!(
            "/v23.0/{PHONE}?fields=quality_rating,status,throughput,messaging_limit_tier,whatsapp_business_manager_messaging_limit,display_phone_number,verified_name,name_status,is_official_business_account"
        ))
        .await
        .ok();
    assert_valid("GET phone (all fields)", &schema, &v, false);
    // Where another schema of the spec types those fields, they match it.
    let wabanum = component("WhatsAppBusinessAccountPhoneNumber");
    for f in [
        "messaging_limit_tier",
        "is_official_business_account",
        "quality_rating",
    ] {
        let fs = deref(&wabanum["properties"][f]);
        assert_valid(f, &fs, &v[f], false);
    }
}

#[tokio::test]
async fn phone_numbers_listing_matches_the_spec() {
    let s = start_default().await;
    let published = response_schema(PHONE_NUMBERS, "get", "200");
    let schema = patch_phone_number_status(published.clone());
    let v = s.get(&format!("/v23.0/{WABA}/phone_numbers")).await.ok();
    assert_valid("phone_numbers (default fields)", &schema, &v, true);
    let v = s
        .get(&format!(
            "/v23.0/{WABA}/phone_numbers?fields=id,display_phone_number,verified_name,quality_rating,status,country_dial_code,code_verification_status,account_mode,messaging_limit_tier,is_official_business_account"
        ))
        .await
        .ok();
    assert_valid("phone_numbers (declared fields)", &schema, &v, true);
    // Without D2 the published schema refuses CONNECTED: the deviation is real, not assumed.
    assert!(!errors(&compile(&published, false), &v).is_empty());
}

#[tokio::test]
async fn template_routes_match_the_spec() {
    let s = start_default().await;
    let path = format!("/v23.0/{WABA}/message_templates");
    let list = patch_template_list(response_schema(TEMPLATES, "get", "200"));
    let v = s.get(&path).await.ok();
    assert_valid("GET message_templates", &list, &v, true);
    let v = s.get(&format!("{path}?limit=2")).await.ok();
    assert!(v["paging"]["next"].is_string());
    assert_valid("GET message_templates (paged)", &list, &v, true);
    let v = s
        .get(&format!("{path}?name=promo_diskon&fields=name,status"))
        .await
        .ok();
    assert_valid("GET message_templates (fields)", &list, &v, true);

    let created = s
        .post(
            &path,
            &json!({"name":"contract_check","language":"en_US","category":"UTILITY",
                    "components":[{"type":"BODY","text":"Order {{1}} is ready.",
                                   "example":{"body_text":[["A1"]]}}]}),
        )
        .await
        .ok();
    let create_schema = response_schema(TEMPLATES, "post", "200");
    assert_valid("POST message_templates", &create_schema, &created, true);
    let id = created["id"].as_str().unwrap().to_string();

    let one = patch_template(response_schema(TEMPLATE, "get", "200"));
    let v = s.get(&format!("/v23.0/{id}")).await.ok();
    assert_valid("GET template by id", &one, &v, true);
    s.advance(61.0).await;
    let v = s.get(&format!("/v23.0/{id}")).await.ok();
    assert_eq!(v["status"], "APPROVED");
    assert_valid("GET template by id (approved)", &one, &v, true);

    let del = s.delete(&format!("{path}?name=contract_check")).await.ok();
    assert_valid(
        "DELETE message_templates",
        &response_schema(TEMPLATES, "delete", "200"),
        &del,
        true,
    );
}

#[tokio::test]
async fn business_profile_routes_match_the_spec() {
    let s = start_default().await;
    let path = format!("/v23.0/{PHONE}/whatsapp_business_profile");
    let published = response_schema(PROFILE, "get", "200");
    let schema = patch_profile(published.clone());
    let v = s.get(&path).await.ok();
    assert_valid("GET profile", &schema, &v, true);
    // As published, the wrapper-less profile only passes because nothing is required there;
    // closed, it fails: D5 is a real difference.
    assert_valid("GET profile (published, open)", &published, &v, false);
    assert!(!errors(&compile(&published, true), &v).is_empty());

    let upd = json!({"messaging_product":"whatsapp","about":"Sepatu","email":"cs@toko.example",
        "websites":["https://toko.example"],"vertical":"RETAIL","address":"Bandung","description":"Baru"});
    let r = s.post(&path, &upd).await.ok();
    assert_valid(
        "POST profile",
        &response_schema(PROFILE, "post", "200"),
        &r,
        true,
    );
    let v = s.get(&path).await.ok();
    assert_valid("GET profile (updated)", &schema, &v, true);
    let v = s.get(&format!("{path}?fields=about,vertical")).await.ok();
    assert_valid("GET profile (fields)", &schema, &v, true);
}

const MEDIA_UPLOAD: &str = "/{Version}/{Phone-Number-ID}/media";
const MEDIA: &str = "/{Version}/{Media-ID}";

/// The Media API: upload, retrieve and delete answer exactly the spec's shapes (closed).
#[tokio::test]
async fn media_routes_match_the_spec() {
    let s = start_default().await;
    let v = s
        .upload(TOKEN, PHONE, "image/png", Some("image/png"), b"png")
        .await
        .ok();
    assert_valid(
        "POST media",
        &response_schema(MEDIA_UPLOAD, "post", "200"),
        &v,
        true,
    );
    let path = format!("/v23.0/{}", v["id"].as_str().unwrap());
    let v = s.get(&path).await.ok();
    assert_valid("GET media", &response_schema(MEDIA, "get", "200"), &v, true);
    let v = s.delete(&path).await.ok();
    assert_valid(
        "DELETE media",
        &response_schema(MEDIA, "delete", "200"),
        &v,
        true,
    );
    let r = s.get(&path).await;
    assert_eq!(r.status, 400);
    let schema = patch_error_data(component("GraphAPIError"));
    assert_valid("GET deleted media", &schema, &r.json(), true);
}

const SUBSCRIBED_APPS: &str = "/{Version}/{WABA-ID}/subscribed_apps";
const OWNED_WABAS: &str = "/{Version}/{Business-ID}/owned_whatsapp_business_accounts";
const CLIENT_WABAS: &str = "/{Version}/{Business-ID}/client_whatsapp_business_accounts";
/// The default world's business.
const BUSINESS: &str = "100000000000001";

/// D7. `GET subscribed_apps`: each app is wrapped in `whatsapp_business_api_data` (with
/// `link`), and `override_callback_uri` sits beside it when set: the spec's own examples for
/// this operation and Meta's webhook-override page, while its `SubscribedApp` schema is the
/// flat `{id, name}`. Lists also carry Graph's `paging` (the Graph API paging page);
/// `SubscribedAppsResponse` declares only `data`.
fn patch_subscribed_apps(s: Value) -> Value {
    let mut s = deref(&s);
    let mut app = component("SubscribedApp");
    app["properties"]["link"] = json!({"type": "string", "format": "uri"});
    s["properties"]["data"]["items"] = json!({
        "type": "object",
        "required": ["whatsapp_business_api_data"],
        "properties": {
            "whatsapp_business_api_data": app,
            "override_callback_uri": {"type": "string", "format": "uri"}
        }
    });
    s["properties"]["paging"] = json!({"$ref": "#/components/schemas/CursorPaging"});
    s
}

/// D8. The business's WABA lists: Meta's reference pages for
/// `owned_`/`client_whatsapp_business_accounts` show `message_template_namespace` among the
/// returned fields; the spec's `WhatsAppBusinessAccount` does not declare it.
fn patch_waba_list(s: Value) -> Value {
    let mut s = deref(&s);
    let mut item = deref(&s["properties"]["data"]["items"]);
    item["properties"]["message_template_namespace"] = json!({"type": "string"});
    s["properties"]["data"]["items"] = item;
    s
}

#[tokio::test]
async fn onboarding_routes_match_the_spec() {
    let s = start_default().await;
    let apps = format!("/v23.0/{WABA}/subscribed_apps");

    let v = s.get(&apps).await.ok();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
    let published = response_schema(SUBSCRIBED_APPS, "get", "200");
    assert_valid(
        "GET subscribed_apps",
        &patch_subscribed_apps(published.clone()),
        &v,
        true,
    );
    assert_valid("GET subscribed_apps (published)", &published, &v, false);
    // Without D7 the closed schema refuses the wrapper: the deviation is real.
    assert!(!errors(&compile(&published, true), &v).is_empty());
    let v = s.post(&apps, &json!({})).await.ok();
    assert_valid(
        "POST subscribed_apps",
        &response_schema(SUBSCRIBED_APPS, "post", "200"),
        &v,
        true,
    );
    let v = s.delete(&apps).await.ok();
    assert_valid(
        "DELETE subscribed_apps",
        &response_schema(SUBSCRIBED_APPS, "delete", "200"),
        &v,
        true,
    );

    for (path, edge) in [
        (OWNED_WABAS, "owned_whatsapp_business_accounts"),
        (CLIENT_WABAS, "client_whatsapp_business_accounts"),
    ] {
        let v = s.get(&format!("/v23.0/{BUSINESS}/{edge}")).await.ok();
        let published = response_schema(path, "get", "200");
        assert_valid(edge, &published, &v, false);
        assert_valid(edge, &patch_waba_list(published), &v, true);
    }

    let phone = |edge: &str| format!("/v23.0/{PHONE}/{edge}");
    let spec = |edge: &str| format!("/{{Version}}/{{Phone-Number-ID}}/{edge}");
    let v = s
        .post(
            &phone("request_code"),
            &json!({"code_method": "SMS", "language": "en_US"}),
        )
        .await
        .ok();
    assert_valid(
        "request_code",
        &response_schema(&spec("request_code"), "post", "200"),
        &v,
        true,
    );
    let v = s
        .post(&phone("verify_code"), &json!({"code": "123456"}))
        .await
        .ok();
    assert_valid(
        "verify_code",
        &response_schema(&spec("verify_code"), "post", "200"),
        &v,
        true,
    );
    let v = s
        .post(&format!("/v23.0/{PHONE}"), &json!({"pin": "123456"}))
        .await
        .ok();
    assert_valid(
        "POST phone (pin)",
        &response_schema(PHONE_NUMBER, "post", "200"),
        &v,
        true,
    );
    let v = s.post(&phone("deregister"), &json!({})).await.ok();
    assert_valid(
        "deregister",
        &response_schema(&spec("deregister"), "post", "200"),
        &v,
        true,
    );
    let v = s
        .post(
            &phone("register"),
            &json!({"messaging_product": "whatsapp", "pin": "123456"}),
        )
        .await
        .ok();
    assert_valid(
        "register",
        &response_schema(&spec("register"), "post", "200"),
        &v,
        true,
    );
    // The business node (and its X-App-Usage header, a string of JSON in the spec).
    let r = s
        .get(&format!("/v23.0/{BUSINESS}?fields=id,name,timezone_id"))
        .await;
    assert!(r.headers.contains_key("x-app-usage"));
    assert_valid(
        "GET business",
        &response_schema("/{Version}/{Business-ID}", "get", "200"),
        &r.ok(),
        true,
    );
    // Errors of these routes are Graph envelopes too.
    let e = s
        .post(
            &phone("register"),
            &json!({"messaging_product": "whatsapp", "pin": "999999"}),
        )
        .await;
    assert_eq!(e.status, 400);
    assert_valid(
        "register 133005",
        &patch_error_data(component("GraphAPIError")),
        &e.json(),
        true,
    );
}
