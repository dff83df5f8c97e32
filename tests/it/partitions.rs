//! The partitioned mock behind a real router: two `serve --partition I/N` instances (one
//! portfolio each) behind HAProxy with `deploy/haproxy.cfg` and the map of `wabasim
//! partition-map`, on loopback. Requests reach the partition owning their portfolio by the id
//! in the path, the token, or the body of `/_sim/inbound`; a partition answers Graph's errors
//! for what it does not own; control calls for every partition go through scripts/fanout.sh;
//! and two `run` shards through the router, merged, count what one run on one instance counts.
//!
//! HAProxy must be installed (Debian: `apt-get install -y haproxy`; `.ci/run` installs it):
//! without it this test fails, it does not skip.

use crate::common::{self, request_to, Resp, TestServer};

use hyper::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wabasim::load::report::{exit_code, Report};

/// Two businesses, one number each; their ids hash to different partitions of two
/// (`wabasim::scenario::partition_of`, checked below). 100 template sends round-robin over
/// both numbers at 25/s: all accepted, whichever instance serves them.
static SCENARIO: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    [
        r#"
seed = 5
[audience]
size = 1000
not_on_whatsapp_ratio = 0.0
delivered_delay_ms = [1, 5]
read_ratio = 0.0

"#,
        common::TWO_PORTFOLIOS,
        r#"
[traffic]
connections = 4
grace = "5s"

[[traffic.phases]]
name = "templates"
messages = 100
open = { rate = 25 }
[[traffic.phases.mix]]
template = { name = "hello_world" }

[thresholds]
checks = ["requests == 100", "ok == 100"]
"#,
    ]
    .concat()
});

const NUMBERS: [&str; 2] = ["202000000000001", "202000000000002"];
const WABAS: [&str; 2] = ["201000000000001", "201000000000002"];
const TOKENS: [&str; 2] = ["token-satu", "token-dua"];

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("partitions-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A HAProxy process, killed when dropped.
struct Router {
    child: Child,
    base: String,
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts HAProxy on `deploy/haproxy.cfg` in front of `partitions`.
fn start_router(map: &Path, partitions: &[&TestServer]) -> Router {
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy.cfg");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new("haproxy");
    cmd.args(["-db", "-f", cfg])
        .env("WABASIM_LISTEN", &listen)
        .env("WABASIM_MAP", map)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (i, p) in partitions.iter().enumerate() {
        cmd.env(format!("WABASIM_PARTITION_{i}"), p.addr.to_string());
    }
    let child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot start haproxy ({e}): this test needs a real HAProxy on PATH (Debian: apt-get install -y haproxy; .ci/run installs it)"
        )
    });
    let mut router = Router {
        child,
        base: format!("http://{listen}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&listen).is_err() {
        if let Ok(Some(status)) = router.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = router.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("haproxy exited ({status}) before listening: {err}");
        }
        assert!(
            Instant::now() < deadline,
            "haproxy did not listen on {listen} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    router
}

fn wabasim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wabasim"))
        .args(args)
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("WABASIM_SHARDS")
        .output()
        .expect("run the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn send(base: &str, number: &str, token: &str, to: &str) -> Resp {
    let body = serde_json::to_vec(&common::hello_world(to)).unwrap();
    request_to(
        base,
        Method::POST,
        &format!("/v23.0/{number}/messages"),
        Some(token),
        Some(body),
    )
    .await
}

/// Accepted sends and inbound messages of a partition's only number.
fn counters(p: &TestServer) -> (String, u64, u64) {
    let snap = p.state.engine.snapshot();
    assert_eq!(snap.numbers.len(), 1, "one portfolio per partition");
    let n = &snap.numbers[0];
    (n.id.to_string(), n.counters.accepted, n.counters.inbound)
}

async fn partitions(clock: &str) -> [TestServer; 2] {
    let p0 = common::start_server(
        Some(SCENARIO.as_str()),
        &["--clock", clock, "--partition", "0/2"],
    )
    .await;
    let p1 = common::start_server(
        Some(SCENARIO.as_str()),
        &["--clock", clock, "--partition", "1/2"],
    )
    .await;
    [p0, p1]
}

fn map_file(d: &Path) -> PathBuf {
    let scenario = d.join("two.toml");
    std::fs::write(&scenario, SCENARIO.as_str()).unwrap();
    let map = d.join("partitions.map");
    let (code, out, err) = wabasim(&[
        "partition-map",
        "--scenario",
        &scenario.display().to_string(),
        "--partitions",
        "2",
        "--out",
        &map.display().to_string(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_routes_each_request_to_the_partition_that_owns_it() {
    use wabasim::scenario::partition_of;
    assert_eq!(partition_of("200000000000001", 2), 0);
    assert_eq!(partition_of("200000000000002", 2), 1);
    let d = dir();
    let map = map_file(&d);
    let parts = partitions("manual").await;
    assert_eq!(counters(&parts[0]).0, NUMBERS[0]);
    assert_eq!(counters(&parts[1]).0, NUMBERS[1]);
    let router = start_router(&map, &[&parts[0], &parts[1]]);
    let r = &router.base;

    // By the id in the path: sends of both portfolios, each counted by its own instance.
    for i in 0..2 {
        let resp = send(r, NUMBERS[i], TOKENS[i], "6281300000001").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(counters(&parts[i]).1, 1, "partition {i} accepted it");
        let resp = request_to(
            r,
            Method::GET,
            &format!("/v23.0/{}", WABAS[i]),
            Some(TOKENS[i]),
            None,
        )
        .await;
        assert_eq!(resp.ok()["id"], WABAS[i]);
    }
    // By the token, where the path's id is not in the map (media, templates, or unknown): the
    // owner of the token answers, here Graph's 100 for an unknown object (the other partition
    // would answer 190, for a token it does not know).
    for token in TOKENS {
        let resp = request_to(r, Method::GET, "/v23.0/999999999999999", Some(token), None).await;
        common::assert_graph_error(&resp, 400, 100);
    }
    // /_sim/inbound by the body's phone_number_id.
    for i in 0..2 {
        let body = json!({"from": "6281300000002", "phone_number_id": NUMBERS[i], "text": "halo"});
        let resp = request_to(
            r,
            Method::POST,
            "/_sim/inbound",
            None,
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(counters(&parts[i]).2, 1, "partition {i} got the inbound");
    }
    // A partition answers Graph's errors for the portfolios it does not own.
    let direct = &parts[0].base;
    let resp = send(direct, NUMBERS[1], TOKENS[1], "6281300000001").await;
    common::assert_graph_error(&resp, 401, 190);
    let resp = send(direct, NUMBERS[1], TOKENS[0], "6281300000001").await;
    common::assert_graph_error(&resp, 400, 100);
    assert_eq!(
        counters(&parts[1]).1,
        1,
        "nothing reached partition 1 directly"
    );

    // Control calls for every partition: refused by the router, sent by the fan-out script.
    let body = serde_json::to_vec(&json!({"seconds": 60})).unwrap();
    let resp = request_to(r, Method::POST, "/_sim/clock/advance", None, Some(body)).await;
    assert_eq!(resp.status, 400);
    assert!(resp.text().contains("scripts/fanout.sh"), "{}", resp.text());
    let before: Vec<u64> = parts.iter().map(|p| p.state.clock.now().0).collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fanout.sh");
    let bases = format!("{} {}", parts[0].base, parts[1].base);
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args([script, "POST", "/_sim/clock/advance", r#"{"seconds": 60}"#])
            .env("WABASIM_PARTITIONS", bases)
            .output()
            .expect("run scripts/fanout.sh")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 2, "{text}");
    for (p, t0) in parts.iter().zip(before) {
        assert_eq!(
            p.state.clock.now().0 - t0,
            60_000_000,
            "every partition's clock moved"
        );
    }
    // The router's own health answer.
    let resp = request_to(r, Method::GET, "/_router/health", None, None).await;
    assert_eq!(resp.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_through_the_router_count_what_one_run_on_one_instance_counts() {
    let d = dir();
    let map = map_file(&d);
    let scenario = d.join("two.toml").display().to_string();

    // One instance, one generator.
    let one = common::start_server(Some(SCENARIO.as_str()), &["--clock", "wall"]).await;
    let single = d.join("single.json").display().to_string();
    let (base, sc, out) = (one.base.clone(), scenario.clone(), single.clone());
    let (code, so, se) = tokio::task::spawn_blocking(move || {
        wabasim(&["run", &sc, "--target", &base, "--quiet", "--out", &out])
    })
    .await
    .unwrap();
    assert_eq!(code, exit_code::OK, "{so}{se}");

    // Two partitions behind HAProxy, two generators.
    let parts = partitions("wall").await;
    let router = start_router(&map, &[&parts[0], &parts[1]]);
    let mut handles = Vec::new();
    let shard_out: Vec<String> = (0..2)
        .map(|i| d.join(format!("shard-{i}.json")).display().to_string())
        .collect();
    for (i, out) in shard_out.iter().enumerate() {
        let (base, sc, out) = (router.base.clone(), scenario.clone(), out.clone());
        handles.push(tokio::task::spawn_blocking(move || {
            let shard = format!("{i}/2");
            wabasim(&[
                "run", &sc, "--target", &base, "--quiet", "--out", &out, "--shard", &shard,
            ])
        }));
    }
    for h in handles {
        let (code, so, se) = h.await.unwrap();
        assert_eq!(
            code,
            exit_code::THRESHOLDS_FAILED,
            "half the load alone: {so}{se}"
        );
    }
    let merged = d.join("merged.json").display().to_string();
    let (code, so, se) = wabasim(&["merge", &shard_out[0], &shard_out[1], "--out", &merged]);
    assert_eq!(code, exit_code::OK, "{so}{se}");
    let read = |p: &str| -> Report { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let (m, s) = (read(&merged), read(&single));
    let shards: Vec<Report> = shard_out.iter().map(|p| read(p)).collect();
    assert_eq!(
        m.total.requests.total,
        shards.iter().map(|r| r.total.requests.total).sum::<u64>(),
        "the merged request count is the sum of the shards'"
    );
    assert_eq!(m.total.requests, s.total.requests);
    assert_eq!(m.total.codes, s.total.codes);
    assert_eq!(m.total.recipients, s.total.recipients);
    // Per portfolio and number: what the one instance saw, the two partitions saw.
    let snap = one.state.engine.snapshot();
    for (i, p) in parts.iter().enumerate() {
        let (id, accepted, _) = counters(p);
        let n = snap
            .numbers
            .iter()
            .find(|n| n.id.to_string() == id)
            .unwrap();
        assert_eq!(accepted, n.counters.accepted, "number {}", NUMBERS[i]);
        assert_eq!(accepted, 50, "round-robin over the two numbers");
    }
    // The ledgers: the partitions' totals add up to the one instance's.
    let total = |srv: &TestServer| {
        serde_json::to_value(srv.state.engine.cost_summary()).unwrap()["lines_total"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(total(&parts[0]) + total(&parts[1]), total(&one));
}

/// The partition file: the opposite of the hash (Dua on p0, Satu on p1).
const SWAPPED: &str =
    "# Dua alone on partition 0, Satu on 1\n0: 200000000000002\n1: 200000000000001\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_file_assigns_portfolios_for_the_instances_and_the_router_alike() {
    let d = dir().join("listed");
    std::fs::create_dir_all(&d).unwrap();
    let scenario = d.join("two.toml");
    std::fs::write(&scenario, SCENARIO.as_str()).unwrap();
    let file = d.join("partitions.txt");
    std::fs::write(&file, SWAPPED).unwrap();
    let (sc, pf) = (scenario.display().to_string(), file.display().to_string());
    let map = d.join("partitions.map");
    let (code, out, err) = wabasim(&[
        "partition-map",
        "--scenario",
        &sc,
        "--partition-file",
        &pf,
        "--out",
        &map.display().to_string(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&map).unwrap();
    for line in [
        "200000000000002 p0",
        "202000000000002 p0",
        "token-dua p0",
        "200000000000001 p1",
        "202000000000001 p1",
        "token-satu p1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    let p0 = common::start_server(
        Some(SCENARIO.as_str()),
        &["--partition", "0/2", "--partition-file", &pf],
    )
    .await;
    let p1 = common::start_server(
        Some(SCENARIO.as_str()),
        &["--partition", "1/2", "--partition-file", &pf],
    )
    .await;
    // Not the hash's assignment: the file's.
    assert_eq!(counters(&p0).0, NUMBERS[1]);
    assert_eq!(counters(&p1).0, NUMBERS[0]);
    let router = start_router(&map, &[&p0, &p1]);
    for (i, owner) in [(0, &p1), (1, &p0)] {
        let resp = send(&router.base, NUMBERS[i], TOKENS[i], "6281300000001").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(
            counters(owner).1,
            1,
            "number {} reached its owner",
            NUMBERS[i]
        );
    }
    // The hash's owner of Satu (partition 0) answers Graph's 190 for Satu's token.
    let resp = send(&p0.base, NUMBERS[0], TOKENS[0], "6281300000001").await;
    common::assert_graph_error(&resp, 401, 190);
}

#[test]
fn bad_partition_files_are_refused_naming_the_flag_the_file_and_the_line() {
    let d = dir().join("bad-files");
    std::fs::create_dir_all(&d).unwrap();
    let scenario = d.join("two.toml");
    std::fs::write(&scenario, SCENARIO.as_str()).unwrap();
    let sc = scenario.display().to_string();
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let overlap = write(
        "overlap.txt",
        "0: 200000000000001\n1: 200000000000002 200000000000001\n",
    );
    let missing = write("missing.txt", "0: 200000000000001\n");
    let good = write("good.txt", SWAPPED);
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--scenario", &sc, "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        wabasim(&args)
    };
    let map = |extra: &[&str]| {
        let mut args = vec!["partition-map", "--scenario", &sc];
        args.extend_from_slice(extra);
        wabasim(&args)
    };
    let cases: Vec<((i32, String, String), String)> = vec![
        (
            serve(&["--partition", "0/2", "--partition-file", &overlap]),
            format!("--partition-file {overlap}:2: business 200000000000001 is listed for partition 1 and already for partition 0 (line 1)"),
        ),
        (
            map(&["--partition-file", &overlap]),
            format!("--partition-file {overlap}:2: business 200000000000001"),
        ),
        (
            serve(&["--partition", "0/1", "--partition-file", &missing]),
            format!("--partition-file {missing}: business 200000000000002 of the scenario is in no partition"),
        ),
        (
            map(&["--partition-file", &missing]),
            format!("--partition-file {missing}: business 200000000000002"),
        ),
        (
            serve(&["--partition", "0/3", "--partition-file", &good]),
            format!("--partition 0/3: --partition-file {good} lists 2 partitions, not 3"),
        ),
        (
            map(&["--partitions", "3", "--partition-file", &good]),
            format!("--partitions 3: --partition-file {good} lists 2 partitions"),
        ),
        (
            serve(&["--partition-file", &good]),
            "--partition-file needs --partition I/N".to_string(),
        ),
    ];
    for ((code, out, err), want) in cases {
        assert_eq!(code, 2, "{want}: {out}{err}");
        assert!(err.contains(&want), "want {want:?} in: {err}");
    }
    // Not firing: the good file with the matching count.
    let (code, out, err) = map(&["--partitions", "2", "--partition-file", &good]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("as listed in the partition file"), "{out}");
}
