//! Property tests over everything a client or a user can feed wabasim: Graph message bodies,
//! query strings, control bodies over HTTP, scenario files and their durations and offsets.
//! Each runs a bounded number of generated cases (proptest's shrinking gives the smallest
//! failing input) and asserts the contract: never a panic, and every refusal in the right shape
//! (Meta's error body on the server; `file:line:column` or a field path for scenarios).
//! Fixed seeds per run are not needed: a failure prints the case to reproduce.

use crate::common;

use proptest::prelude::*;
use wabasim::scenario::Scenario;
use wabasim::server::query::Query;
use wabasim::server::wire::parse_messages;

/// A valid template send, the seed of the mutations below.
const VALID: &str = r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"6281300000001","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}}"#;

/// JSON values of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("to".to_string()),
                    Just("type".to_string()),
                    Just("text".to_string()),
                    Just("template".to_string()),
                    Just("messaging_product".to_string()),
                    Just("recipient".to_string()),
                    Just("image".to_string()),
                    Just("components".to_string()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn message_bodies_never_panic_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_messages(&body);
    }

    #[test]
    fn message_bodies_never_panic_on_json(v in json_value()) {
        let _ = parse_messages(serde_json::to_string(&v).unwrap().as_bytes());
    }

    #[test]
    fn a_valid_body_with_one_field_replaced_is_parsed_or_refused(key in "[a-z_]{1,20}", v in json_value()) {
        let mut body: serde_json::Value = serde_json::from_str(VALID).unwrap();
        body[&key] = v;
        if let Err(rej) = parse_messages(body.to_string().as_bytes()) {
            // Refusals carry a Graph code and a message naming what is wrong.
            prop_assert!(rej.code.code() > 0);
        }
    }

    #[test]
    fn query_strings_never_panic(q in ".{0,200}") {
        let _ = Query::parse(Some(&q));
    }

    #[test]
    fn scenario_text_never_panics(text in ".{0,300}") {
        if let Err(e) = Scenario::parse(&text, "fuzz.toml") {
            prop_assert!(e.to_string().starts_with("fuzz.toml"), "{e}");
        }
    }

    #[test]
    fn durations_and_offsets_never_panic(text in ".{0,24}") {
        let _ = wabasim::traffic::spec::Dur::parse(&text);
        let _ = wabasim::traffic::rhythm::parse_utc_offset(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A shipped scenario with bytes changed: parsed, or refused with the file named.
    #[test]
    fn mutated_scenarios_are_parsed_or_refused_with_the_file_named(
        which in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let name = ["quickstart.toml", "customer-service-window.toml", "bsp-many-clients.toml", "spam-without-opt-in.toml"][which];
        let path = format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut bytes = std::fs::read(&path).unwrap();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let text = String::from_utf8_lossy(&bytes);
        match Scenario::parse(&text, name) {
            Ok(sc) => {
                // A scenario that parses also builds its traffic plan or names the field.
                if let Some(t) = &sc.traffic {
                    let _ = wabasim::traffic::LoadPlan::build(t, sc.thresholds.as_ref(), sc.plan_context());
                }
            }
            Err(e) => prop_assert!(e.to_string().starts_with(name), "{e}"),
        }
    }
}

/// Control and Graph bodies over real HTTP: whatever the body, the server answers every
/// refusal with Graph's error shape, and keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_and_graph_bodies_over_http_get_graph_answers() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let srv = common::start_server(None, &[]).await;
    let mut runner = TestRunner::deterministic();
    let routes = [
        ("POST", "/_sim/faults"),
        ("POST", "/_sim/clock/advance"),
        ("POST", "/_sim/inbound"),
        ("POST", "/_sim/recipients/6281300000001/actions"),
        ("POST", "/_sim/businesses"),
        ("POST", "/v23.0/106540352242922/messages"),
        ("POST", "/v23.0/102290129340398/message_templates"),
        ("POST", "/v23.0/106540352242922/whatsapp_business_profile"),
    ];
    for case in 0..400 {
        let v = json_value().new_tree(&mut runner).unwrap().current();
        let (method, path) = routes[case % routes.len()];
        let method: hyper::Method = method.parse().unwrap();
        let r = srv
            .request(
                method,
                path,
                Some("wabasim-dev-token"),
                Some(serde_json::to_vec(&v).unwrap()),
            )
            .await;
        // Every refusal (a fault the body injected included) is Graph's error shape.
        if r.status >= 400 {
            let e: serde_json::Value = serde_json::from_slice(&r.body)
                .unwrap_or_else(|_| panic!("{path} {v}: not JSON: {}", r.text()));
            assert!(e["error"]["code"].is_number(), "{path} {v}: {e}");
        }
    }
    assert_eq!(srv.sim_get("health").await.status, 200);
}
