//! Scale-out end to end: a scenario's load sharded over two `wabasim run` processes
//! (`--shard` and the Kubernetes Indexed Job variables, started together with `--start-at`),
//! merged with `wabasim merge`, against a single run of the same scenario and seed on a server
//! of its own: the same counts on the client and on the server, the thresholds judged on the
//! merged report, and reports that do not belong together refused.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use wabasim::load::report::{exit_code, Report};

/// The default world (one number, 80 msg/s), everyone on WhatsApp, only new recipients: 100
/// template sends that are all accepted (25/s stays far under the number's 80 msg/s, even if a loaded machine bunches sends), then 20
/// free-form texts to users who never wrote, all refused (131047). Every outcome follows from
/// the message alone, so one run and two shards must count the same.
const SCENARIO: &str = r#"
seed = 5
[audience]
size = 1000
not_on_whatsapp_ratio = 0.0
delivered_delay_ms = [1, 5]
read_ratio = 0.0

[traffic]
connections = 4
grace = "5s"

[[traffic.phases]]
name = "templates"
messages = 100
open = { rate = 25 }
[[traffic.phases.mix]]
template = { name = "hello_world" }

[[traffic.phases]]
name = "outside-window"
messages = 20
open = { rate = 25 }
[[traffic.phases.mix]]
text = { body = "halo {seq}", to = "any" }

[thresholds]
checks = ["requests == 120", "refused == 20", "ok[templates] == 100"]
"#;

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("scale-out-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn wabasim(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wabasim"));
    cmd.args(args)
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("WABASIM_SHARDS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the binary");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn read(p: &Path) -> Report {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// (accepted, refused by code) of the server's only number.
fn server_counts(srv: &common::TestServer) -> (u64, Vec<(String, u64)>) {
    let snap = srv.state.engine.snapshot();
    assert_eq!(snap.numbers.len(), 1);
    let n = &snap.numbers[0];
    (
        n.counters.accepted,
        n.counters
            .rejected
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_merged_count_what_one_run_counts() {
    let d = dir();
    let scenario = d.join("s.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let sc = scenario.display().to_string();

    // One generator.
    let one = common::start_server(Some(SCENARIO), &["--clock", "wall"]).await;
    let single = d.join("single.json");
    let (base, sc2, out) = (one.base.clone(), sc.clone(), single.display().to_string());
    let ran = tokio::task::spawn_blocking(move || {
        wabasim(
            &["run", &sc2, "--target", &base, "--quiet", "--out", &out],
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(ran.code, exit_code::OK, "{}{}", ran.stdout, ran.stderr);

    // Two generators against a fresh server, started together: shard 0 by flag, shard 1 from
    // the Kubernetes Indexed Job variables.
    let two = common::start_server(Some(SCENARIO), &["--clock", "wall"]).await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let start_at = format!("{}.{:03}", (now_ms + 1500) / 1000, (now_ms + 1500) % 1000);
    let shard_out: Vec<PathBuf> = (0..2).map(|i| d.join(format!("shard-{i}.json"))).collect();
    let mut handles = Vec::new();
    for (i, out) in shard_out.iter().enumerate() {
        let (base, sc, out, start_at) = (
            two.base.clone(),
            sc.clone(),
            out.display().to_string(),
            start_at.clone(),
        );
        handles.push(tokio::task::spawn_blocking(move || {
            let mut args = vec![
                "run",
                &sc,
                "--target",
                &base,
                "--quiet",
                "--out",
                &out,
                "--start-at",
                &start_at,
            ];
            if i == 0 {
                args.extend(["--shard", "0/2"]);
                wabasim(&args, &[])
            } else {
                wabasim(
                    &args,
                    &[("JOB_COMPLETION_INDEX", "1"), ("WABASIM_SHARDS", "2")],
                )
            }
        }));
    }
    for h in handles {
        let ran = h.await.unwrap();
        // Alone, a shard sends half the load: "requests == 120" fails on each.
        assert_eq!(
            ran.code,
            exit_code::THRESHOLDS_FAILED,
            "{}{}",
            ran.stdout,
            ran.stderr
        );
        assert!(
            ran.stdout.contains("FAIL requests == 120"),
            "{}",
            ran.stdout
        );
    }
    let shards: Vec<Report> = shard_out.iter().map(|p| read(p)).collect();
    for (i, r) in shards.iter().enumerate() {
        let s = r.shard.expect("a shard says which");
        assert_eq!((s.index, s.count), (i as u32, 2));
        assert_eq!(r.total.messages, 60, "shard {i} sends half");
        // Started together: within a second of each other.
        assert!(r.started_unix_ms.abs_diff(shards[0].started_unix_ms) < 1000);
    }

    // Merged: the thresholds pass on the whole load.
    let merged_path = d.join("merged.json");
    let html = d.join("merged.html");
    let (a, b, m, h) = (
        shard_out[0].display().to_string(),
        shard_out[1].display().to_string(),
        merged_path.display().to_string(),
        html.display().to_string(),
    );
    let ran = wabasim(&["merge", &a, &b, "--out", &m, "--html", &h], &[]);
    assert_eq!(ran.code, exit_code::OK, "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("PASS requests == 120"),
        "{}",
        ran.stdout
    );
    assert!(std::fs::read_to_string(&html).unwrap().contains("<svg"));
    let merged = read(&merged_path);
    let single_path = single;
    let single = read(&single_path);
    assert_eq!(merged.sources, 2);
    assert_eq!(merged.shard, None);
    assert_eq!(
        merged.scenario, single.scenario,
        "same scenario fingerprint"
    );
    for (m, s) in merged
        .phases
        .iter()
        .chain([&merged.total])
        .zip(single.phases.iter().chain([&single.total]))
    {
        assert_eq!(m.name, s.name);
        assert_eq!(m.messages, s.messages, "{}", m.name);
        assert_eq!(m.intended, s.intended, "{}", m.name);
        assert_eq!(m.requests, s.requests, "{}", m.name);
        assert_eq!(m.finals, s.finals, "{}", m.name);
        assert_eq!(m.codes, s.codes, "{}", m.name);
        assert_eq!(m.recipients, s.recipients, "{}", m.name);
        assert_eq!(m.latency.ok.count, s.latency.ok.count, "{}", m.name);
        // Each shard had the whole window at half the rate: the rates add up.
        if let (Some(mt), Some(st)) = (m.target_rate, s.target_rate) {
            assert!((mt - st).abs() / st < 0.05, "{}: {mt} vs {st}", m.name);
        }
    }
    // The servers saw the same.
    assert_eq!(server_counts(&one), server_counts(&two));
    assert_eq!(server_counts(&two).0, 100);

    // Judged by the scenario file (thresholds may be revised, the traffic may not).
    let revised = d.join("revised.toml");
    std::fs::write(
        &revised,
        SCENARIO.replace("requests == 120", "requests < 120"),
    )
    .unwrap();
    let r = revised.display().to_string();
    let ran = wabasim(&["merge", &a, &b, "--scenario", &r], &[]);
    assert_eq!(
        ran.code,
        exit_code::THRESHOLDS_FAILED,
        "{}{}",
        ran.stdout,
        ran.stderr
    );
    assert!(ran.stdout.contains("FAIL requests < 120"), "{}", ran.stdout);
    let other = d.join("other.toml");
    std::fs::write(&other, SCENARIO.replace("messages = 20", "messages = 21")).unwrap();
    let o = other.display().to_string();
    let ran = wabasim(&["merge", &a, &b, "--scenario", &o], &[]);
    assert_eq!(ran.code, exit_code::USAGE);
    assert!(
        ran.stderr
            .contains("the scenario differs from the one the reports ran"),
        "{}",
        ran.stderr
    );

    // Refused: a shard missing, a whole run among shards, another schema version.
    let ran = wabasim(&["merge", &a], &[]);
    assert_eq!(ran.code, exit_code::USAGE);
    assert!(ran.stderr.contains("shard 1/2 missing"), "{}", ran.stderr);
    let s = single_path.display().to_string();
    let ran = wabasim(&["merge", &a, &s], &[]);
    assert_eq!(ran.code, exit_code::USAGE);
    assert!(
        ran.stderr.contains("single.json: a whole run"),
        "{}",
        ran.stderr
    );
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&shard_out[1]).unwrap()).unwrap();
    v["schema_version"] = 2.into();
    let future = d.join("future.json");
    std::fs::write(&future, serde_json::to_vec(&v).unwrap()).unwrap();
    let f = future.display().to_string();
    let ran = wabasim(&["merge", &a, &f], &[]);
    assert_eq!(ran.code, exit_code::USAGE);
    assert!(
        ran.stderr.contains("future.json: report schema_version 2"),
        "{}",
        ran.stderr
    );
}

#[test]
fn bad_shard_settings_are_usage_errors() {
    let d = dir();
    let scenario = d.join("bad.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let sc = scenario.display().to_string();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (
            &["--shard", "2/2", "--target", "http://127.0.0.1:9"],
            &[],
            "--shard: \"2/2\": index 2 is out of range",
        ),
        (
            &["--target", "http://127.0.0.1:9"],
            &[("JOB_COMPLETION_INDEX", "1")],
            "WABASIM_SHARDS is not",
        ),
        (
            &["--target", "http://127.0.0.1:9"],
            &[("JOB_COMPLETION_INDEX", "1"), ("WABASIM_SHARDS", "two")],
            "WABASIM_SHARDS=\"two\"",
        ),
        (&["--shard", "0/2"], &[], "shard 0/2 needs --target"),
        (
            &["--start-at", "noon", "--target", "http://127.0.0.1:9"],
            &[],
            "--start-at: \"noon\"",
        ),
    ];
    for (args, env, want) in cases {
        let mut all = vec!["run", sc.as_str(), "--quiet"];
        all.extend_from_slice(args);
        let ran = wabasim(&all, env);
        assert_eq!(ran.code, exit_code::USAGE, "{args:?}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(want),
            "{args:?}: want {want:?} in {}",
            ran.stderr
        );
    }
}
