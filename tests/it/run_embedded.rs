//! `wabasim run` end to end: the scenario's world served in-process on loopback, driven over
//! real HTTP, with the client's counts reconciled against what the engine saw, and the exit
//! codes of the command line.

use crate::common;

use std::path::PathBuf;
use std::process::Command;
use wabasim::cmd::run::RunArgs;
use wabasim::load::report::{exit_code, PhaseReport, Report};

/// The default world (no `[[businesses]]`), one fast open phase that exceeds the number's
/// 80 msg/s and a closed phase of replies; retries without jitter so the run is short.
const SCENARIO: &str = r#"
seed = 7
[audience]
size = 500
delivered_delay_ms = [1, 5]
read_ratio = 0.5
read_delay_s = [0, 1]

[traffic]
connections = 8
grace = "5s"
[traffic.sender]
max_retries = 2
backoff_base = "20ms"
backoff_max = "100ms"
jitter = 0.0

[[traffic.phases]]
name = "burst"
messages = 300
open = { rate = 600 }
[[traffic.phases.mix]]
weight = 4
template = { name = "order_shipped", language = "id", params = ["A-{seq}", "besok"] }
[[traffic.phases.mix]]
weight = 2
inbound = { text = "halo" }
[[traffic.phases.mix]]
weight = 1
text = { body = "terima kasih" }
[[traffic.phases.mix]]
weight = 1
text = { body = "promo", to = "any" }

[[traffic.phases]]
name = "agents"
messages = 40
closed = { concurrency = 2, think = "5ms" }
[[traffic.phases.mix]]
template = { name = "hello_world" }
"#;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-embedded");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

fn args(path: PathBuf, out: Option<PathBuf>) -> RunArgs {
    RunArgs {
        scenario: path,
        target: None,
        token: None,
        tokens: None,
        api_version: "v23.0".into(),
        duration: None,
        seed: None,
        out,
        quiet: true,
        junit: None,
        summary_md: None,
        shard: None,
        start_at: None,
        dashboard: false,
        metrics_listen: None,
    }
}

fn reconcile(p: &PhaseReport) {
    let r = &p.requests;
    assert_eq!(
        r.total,
        r.ok + r.throttled + r.refused + r.failed,
        "{}",
        p.name
    );
    assert_eq!(r.total, p.messages + p.retries.total, "{}", p.name);
    assert_eq!(p.finals.total + p.abandoned, p.messages, "{}", p.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_run_reconciles_with_the_engine() {
    let out = write("report.json", "");
    let a = args(write("s.toml", SCENARIO), Some(out.clone()));
    let prepared = wabasim::cmd::run::prepare(&a).unwrap();
    assert!(
        prepared.plan.webhooks.is_some(),
        "embedded runs get a receiver"
    );
    let code = wabasim::cmd::run::execute(prepared, a, std::future::pending::<()>()).await;
    let report: Report = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(code, exit_code::OK);
    assert_eq!(report.seed, 7, "the scenario's seed when --seed is absent");
    for p in &report.phases {
        reconcile(p);
    }
    reconcile(&report.total);
    let t = &report.total.requests;
    // Every intended arrival is sent, counted unsent (a loaded machine can put the generator
    // more than the allowed slack behind the phase's end) or, for a window reply that found
    // nobody who wrote in yet, counted as no_window.
    let burst = &report.phases[0];
    assert_eq!(burst.intended, 300);
    assert_eq!(
        burst.messages + burst.unsent + burst.no_window,
        300,
        "sent {}, unsent {}, no window {}",
        burst.messages,
        burst.unsent,
        burst.no_window
    );
    assert!(burst.messages >= 250, "{}", burst.messages);
    assert_eq!(report.phases[1].messages, 40);
    assert_eq!(t.failed, 0);
    assert!(
        report
            .total
            .codes
            .throttled
            .get("130429")
            .copied()
            .unwrap_or(0)
            > 0,
        "600/s against 80 msg/s must be throttled: {:?}",
        report.total.codes
    );
    assert!(report.total.codes.refused.contains_key("131047"));
    // The server saw exactly what the client counted.
    let server = report.server.as_ref().expect("server side");
    assert_eq!(server.numbers.len(), 1);
    let n = &server.numbers[0];
    assert_eq!(
        n.accepted + n.inbound,
        t.ok,
        "every ok is an accepted send or an inbound"
    );
    assert!(report.total.inbound > 0);
    assert_eq!(
        t.ok - report.total.inbound,
        n.accepted,
        "the report's accepted sends are the server's"
    );
    let refused_by_server: u64 = n.rejected.values().sum();
    assert_eq!(refused_by_server, t.throttled + t.refused);
    assert_eq!(
        n.rejected.get("130429").copied().unwrap_or(0),
        report.total.codes.throttled["130429"]
    );
    // The engine priced what it delivered: the report carries its ledger totals.
    let cost = server.cost.as_ref().expect("cost section");
    assert_eq!(cost.lines_total, n.delivered);
    // Webhooks reached the receiver, signed.
    let w = report.webhooks.as_ref().expect("webhook section");
    assert_eq!(w.bad_signature, 0);
    assert!(w.statuses.get("sent").copied().unwrap_or(0) > 0, "{w:?}");
    assert_eq!(w.inbound_messages, n.inbound);
    // The desk heard of users writing in from the webhooks (those after the last pick were
    // never read), and answered only them.
    let desk = report
        .conversations
        .expect("window replies: the desk is reported");
    assert!(
        desk.opened > 0 && desk.opened <= w.inbound_messages,
        "{desk:?}"
    );
    assert_eq!(
        desk.answered + desk.expired + desk.waiting + desk.overflow,
        desk.opened
    );
    // The full summary (phases, codes, retries, webhooks, server, cost, per number, thresholds)
    // reads in a 100-column terminal.
    let summary = wabasim::load::report::render_summary(&report);
    for line in summary.lines() {
        assert!(
            line.chars().count() <= 100,
            "too wide:\n{line}\n\n{summary}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_threshold_gives_exit_code_1_and_target_drives_another_server() {
    // A separately started mock (as a BSP would run `wabasim serve`), driven with --target; the
    // token defaults to the scenario's world token, which that server accepts.
    let srv = common::start_server(None, &["--clock", "wall"]).await;
    let text = format!(
        "{SCENARIO}\n[thresholds]\nchecks = [\"failed < 1\", \"throttled_ratio < 0.0001\"]\n"
    );
    let mut a = args(write("t.toml", &text), None);
    a.target = Some(srv.base.clone());
    let prepared = wabasim::cmd::run::prepare(&a).unwrap();
    assert!(
        prepared.plan.webhooks.is_none(),
        "no receiver is added for --target"
    );
    let code = wabasim::cmd::run::execute(prepared, a, std::future::pending::<()>()).await;
    assert_eq!(code, exit_code::THRESHOLDS_FAILED);
    let snap = srv.state.engine.snapshot();
    assert!(snap.numbers[0].counters.accepted > 0);
}

fn wabasim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wabasim"))
        .args(args)
        .output()
        .expect("run the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scenario_errors_name_file_line_and_field_and_exit_2() {
    let bad = write(
        "bad.toml",
        "[traffic]\n[[traffic.phases]]\nname = \"a\"\nduration = \"1s\"\nopen = { rate = 5, burst = 3 }\n",
    );
    let (code, _, err) = wabasim(&["run", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.toml:5:"), "{err}");
    assert!(err.contains("burst"), "{err}");

    let bad = write(
        "bad2.toml",
        "[traffic]\n[[traffic.phases]]\nname = \"a\"\nduration = \"1s\"\nopen = { rate = -5 }\n[[traffic.phases.mix]]\ntemplate = { name = \"hello_world\" }\n",
    );
    let (code, _, err) = wabasim(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("traffic.phases[0]"), "{err}");
    assert!(err.contains("rate"), "{err}");

    let bad = write(
        "bad3.toml",
        "[traffic]\n[[traffic.phases]]\nname = \"a\"\nduration = \"1s\"\nopen = { rate = 5 }\n[[traffic.phases.mix]]\ntemplate = { name = \"no_such_template\" }\n",
    );
    let (code, _, err) = wabasim(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no_such_template"), "{err}");

    let quiet = write("none.toml", "seed = 3\n");
    let (code, _, err) = wabasim(&["run", quiet.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no [traffic] table"), "{err}");
}

#[test]
fn every_shipped_scenario_validates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let (code, out, err) = wabasim(&["validate", p.to_str().unwrap()]);
            assert_eq!(code, 0, "{}: {out}{err}", p.display());
            n += 1;
        }
    }
    assert!(
        n >= 5,
        "quickstart, throughput-ceiling, pair-rate, customer-service, default"
    );
}

#[test]
fn the_schema_accepts_every_shipped_scenario_and_flags_unknown_keys() {
    let (code, out, err) = wabasim(&["schema"]);
    assert_eq!(code, 0, "{err}");
    let schema: serde_json::Value = serde_json::from_str(&out).expect("schema is JSON");
    assert_eq!(schema["title"], "Scenario");
    let compiled = jsonschema::JSONSchema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .compile(&schema)
        .expect("a valid JSON Schema");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let v: toml::Value = toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let json = serde_json::to_value(v).unwrap();
            let msgs: Vec<String> = match compiled.validate(&json) {
                Ok(()) => Vec::new(),
                Err(errors) => errors
                    .map(|e| format!("{e} at {}", e.instance_path))
                    .collect(),
            };
            assert!(msgs.is_empty(), "{}: {msgs:?}", p.display());
        }
    }
    let bad = serde_json::json!({"traffic": {"phases": [], "bogus": 1}});
    assert!(compiled.validate(&bad).is_err(), "unknown keys are refused");
}

/// Two client businesses (an Indonesian shop with two numbers, a Brazilian shop with one), each
/// with its own token: every send carries the token of the business that owns its number.
const TWO_BUSINESSES: &str = r#"
seed = 3
[[businesses]]
id = "100000000000001"
name = "Toko"
country = "ID"
tokens = ["token-toko"]
[[businesses.wabas]]
id = "200000000000001"
[[businesses.wabas.phone_numbers]]
id = "300000000000001"
display_phone_number = "+62 812-0000-0001"
verified_name = "Toko"
[[businesses.wabas.phone_numbers]]
id = "300000000000002"
display_phone_number = "+62 812-0000-0002"
verified_name = "Toko"
[[businesses.wabas.templates]]
name = "order_update"
language = "en_US"
category = "UTILITY"
body = "Order {{1}} shipped"
[[businesses]]
id = "100000000000002"
name = "Loja"
country = "BR"
tokens = ["token-loja"]
[[businesses.wabas]]
id = "200000000000002"
[[businesses.wabas.phone_numbers]]
id = "300000000000003"
display_phone_number = "+55 11 90000-0001"
verified_name = "Loja"
[[businesses.wabas.templates]]
name = "order_update"
language = "en_US"
category = "UTILITY"
body = "Order {{1}} shipped"
[audience]
size = 1000
delivered_delay_ms = [1, 5]
[traffic]
connections = 4
[[traffic.phases]]
name = "both"
messages = 60
open = { rate = 200 }
[[traffic.phases.mix]]
template = { name = "order_update", params = ["{seq}"] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_business_sends_with_its_own_token() {
    let out = write("two-report.json", "");
    let a = args(write("two.toml", TWO_BUSINESSES), Some(out.clone()));
    let prepared = wabasim::cmd::run::prepare(&a).unwrap();
    assert_eq!(prepared.tokens["300000000000003"], "token-loja");
    let code = wabasim::cmd::run::execute(prepared, a, std::future::pending::<()>()).await;
    let report: Report = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(code, exit_code::OK);
    let t = &report.total.requests;
    assert_eq!(t.ok, 60, "no permission error: {:?}", report.total.codes);
    let server = report.server.as_ref().unwrap();
    let accepted: Vec<u64> = server.numbers.iter().map(|n| n.accepted).collect();
    assert_eq!(
        accepted,
        vec![20, 20, 20],
        "round robin over the three numbers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_without_a_token_is_an_error_before_the_run() {
    let text = TWO_BUSINESSES.replace("tokens = [\"token-loja\"]\n", "");
    let mut a = args(write("no-token.toml", &text), None);
    a.target = Some("http://127.0.0.1:9".into());
    let e = wabasim::cmd::run::prepare(&a).err().unwrap();
    assert!(
        e.contains("no access token for phone number(s) 300000000000003"),
        "{e}"
    );
    // A --tokens file supplies it (by business id).
    let file = write("tokens.toml", "100000000000002 = \"from-file\"\n");
    a.tokens = Some(file);
    let p = wabasim::cmd::run::prepare(&a).unwrap();
    assert_eq!(p.tokens["300000000000003"], "from-file");
    assert_eq!(p.tokens["300000000000001"], "token-toko");
    // --tokens without --target is refused: the embedded server knows the scenario's tokens.
    a.target = None;
    let e = wabasim::cmd::run::prepare(&a).err().unwrap();
    assert!(e.contains("--tokens needs --target"), "{e}");
}

/// Template pacing under `wabasim run`: 60 sends of a new marketing template, 10 go out, the
/// rest are held (the assessment is 30 minutes away). The client counts the held responses,
/// the engine the held messages, and the two agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_run_counts_sends_held_by_template_pacing() {
    let scenario = r#"
seed = 7
[audience]
size = 500
not_on_whatsapp_ratio = 0.0
[policy]
per_user_marketing = [0, 0]
[rules.pacing]
enabled = true
threshold = 10

[traffic]
connections = 4
grace = "2s"
[[traffic.phases]]
name = "launch"
messages = 60
closed = { concurrency = 2, think = "1ms" }
[[traffic.phases.mix]]
template = { name = "promo_diskon", language = "id", params = ["Ayu"] }
"#;
    let out = write("pacing-report.json", "");
    let a = args(write("pacing.toml", scenario), Some(out.clone()));
    let prepared = wabasim::cmd::run::prepare(&a).unwrap();
    let code = wabasim::cmd::run::execute(prepared, a, std::future::pending::<()>()).await;
    assert_eq!(code, exit_code::OK);
    let report: Report = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let ok = report.total.requests.ok;
    assert_eq!(ok, 60, "{:?}", report.total.codes);
    assert_eq!(report.total.held, 50);
    let n = &report.server.as_ref().expect("server side").numbers[0];
    assert_eq!((n.held, n.released, n.dropped), (50, 0, 0));
    let text = wabasim::load::report::render_summary(&report);
    assert!(
        text.contains("50 accepted sends held for quality assessment"),
        "{text}"
    );
    assert!(
        text.contains("template pacing: held 50, released 0, dropped (132015) 0, still held 50"),
        "{text}"
    );
}

/// `marketing_messages = …` mix entries go to `POST /{phone}/marketing_messages` with their
/// `product_policy`: in the default world (WABA not onboarded) STRICT is refused with 131055
/// and the fallback is accepted, and no body is refused as malformed (100).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketing_messages_mix_entries_reach_the_marketing_messages_api() {
    let out = write("mm-report.json", "");
    let scenario = r#"
seed = 7
[audience.profiles.marketing]
opt_in_ratio = 1.0
[policy]
per_user_marketing = [0, 0]
[traffic]
[[traffic.phases]]
name = "strict"
messages = 20
closed = { concurrency = 2 }
[[traffic.phases.mix]]
template = { name = "promo_diskon", language = "id", params = ["Ayu"], marketing_messages = "strict" }
[[traffic.phases]]
name = "fallback"
messages = 20
closed = { concurrency = 2 }
[[traffic.phases.mix]]
template = { name = "promo_diskon", language = "id", params = ["Ayu"], marketing_messages = "cloud_api_fallback" }
"#;
    let a = args(write("mm.toml", scenario), Some(out.clone()));
    let prepared = wabasim::cmd::run::prepare(&a).unwrap();
    wabasim::cmd::run::execute(prepared, a, std::future::pending::<()>()).await;
    let report: Report = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let strict = &report.phases[0];
    assert_eq!(strict.messages, 20);
    assert_eq!(
        strict.codes.refused.get("131055"),
        Some(&20),
        "{:?}",
        strict.codes
    );
    let fallback = &report.phases[1];
    assert_eq!(fallback.requests.ok, 20, "{:?}", fallback.codes);
}

/// Usernames and Block Users under `wabasim run`, over HTTP with the webhook receiver: every
/// user of the audience hides their number, so the inbound webhooks name them by BSUID only
/// (`from_user_id`). The agents' replies go by `recipient` and are accepted; the login codes
/// to the same users are refused with 131062; blocking them (by `user_id`) succeeds, and
/// blocking users who never wrote in fails with 139100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_numbers_are_answered_by_bsuid_and_blocked_by_user_id() {
    let scenario = r#"
seed = 7
[audience]
size = 500
not_on_whatsapp_ratio = 0.0
username_ratio = 1.0
[traffic]
connections = 4
grace = "2s"
[[traffic.phases]]
name = "write-in"
messages = 20
closed = { concurrency = 1, think = "5ms" }
[[traffic.phases.mix]]
inbound = { text = "halo" }
[[traffic.phases]]
name = "pause"
duration = "300ms"
open = { rate = 0.001 }
[[traffic.phases.mix]]
inbound = { text = "halo" }
[[traffic.phases]]
name = "replies"
messages = 10
closed = { concurrency = 1 }
[[traffic.phases.mix]]
text = { body = "baik", to = "wrote_in" }
[[traffic.phases]]
name = "codes"
messages = 10
closed = { concurrency = 1 }
[[traffic.phases.mix]]
template = { name = "otp_login", params = ["123456"], to = "wrote_in" }
[[traffic.phases]]
name = "block"
messages = 5
closed = { concurrency = 1 }
[[traffic.phases.mix]]
block = {}
[[traffic.phases]]
name = "block-strangers"
messages = 5
closed = { concurrency = 1 }
[[traffic.phases.mix]]
block = { to = "any" }
"#;
    let out = write("bsuid-report.json", "");
    let a = args(write("bsuid.toml", scenario), Some(out.clone()));
    let prepared = wabasim::cmd::run::prepare(&a).unwrap();
    wabasim::cmd::run::execute(prepared, a, std::future::pending::<()>()).await;
    let report: Report = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let phase = |n: &str| report.phases.iter().find(|p| p.name == n).unwrap();
    let replies = phase("replies");
    assert_eq!(replies.requests.ok, 10, "{:?}", replies.codes);
    assert_eq!(replies.by_user_id, 10, "the webhooks showed no number");
    let codes = phase("codes");
    assert_eq!(codes.by_user_id, 10);
    assert_eq!(
        codes.codes.refused.get("131062"),
        Some(&10),
        "{:?}",
        codes.codes
    );
    let block = phase("block");
    assert_eq!(
        (block.requests.ok, block.blocked),
        (5, 5),
        "{:?}",
        block.codes
    );
    assert_eq!(block.by_user_id, 0, "a block request is not a message");
    let strangers = phase("block-strangers");
    assert_eq!(strangers.blocked, 0);
    assert_eq!(
        strangers.codes.refused.get("139100"),
        Some(&5),
        "{:?}",
        strangers.codes
    );
    let text = wabasim::load::report::render_summary(&report);
    assert!(text.contains("5 users blocked"), "{text}");
    assert!(text.contains("10 messages addressed by BSUID"), "{text}");
}
