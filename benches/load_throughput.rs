//! Load generator efficiency against a trivial loopback HTTP server (no criterion: a run is
//! seconds long and the figures are rates, not nanoseconds).
//!
//! `cargo bench --bench load_throughput` runs, against an in-process server on its own thread:
//! 1. closed model, C users on C keep-alive connections, think 0 (what wrk does), and the same
//!    against `wrk -t1 -cC` when wrk is installed (once with the same POST via a Lua script,
//!    once with wrk's bodiless GET), printing the ratios;
//! 2. an open-model phase at 20,000 req/s, printing achieved vs target;
//! 3. with `MEM=1`, a longer open run sampling the process RSS every few seconds.
//!
//! Environment: `CONNS` (default 16), `SECS` (default 5), `RATE` (default 20000),
//! `THREADS` (generator runtime worker threads, default 1; 0 = current-thread runtime), `MEM_SECS` (default 60).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use wabasim::load::{run, RunOptions, Target};
use wabasim::traffic::plan::{LoadPlan, PlanContext, RecipientPool, Segment};
use wabasim::traffic::spec::LoadScenario;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((sock, _)) = listener.accept().await else { continue };
                let _ = sock.set_nodelay(true);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            br#"{"messaging_product":"whatsapp","contacts":[{"input":"1","wa_id":"1"}],"messages":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI"}]}"#,
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

fn plan(text: &str) -> LoadPlan {
    let s = LoadScenario::from_toml_str(text, "bench.toml").unwrap();
    let ctx = PlanContext {
        phone_numbers: vec!["106540352242922".into()],
        owners: Vec::new(),
        segments: vec![Segment {
            name: "all".into(),
            pool: RecipientPool::Sequence {
                prefix: "49".into(),
                start: 0,
                count: 1_000_000,
                digits: 10,
            },
        }],
        templates: None,
        service_window: None,
    };
    LoadPlan::build(s.traffic.as_ref().unwrap(), None, ctx).unwrap()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The body the generator sends for the bench mix, reproduced for wrk.
const BODY: &str = r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"490000000000","type":"template","template":{"name":"order_update","language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"text","text":"0"}]}]}}"#;

/// wrk with the same request the generator sends (POST, JSON body, bearer token) when `post`,
/// so the server does the same work for both; otherwise wrk's default bodiless GET.
fn wrk(addr: SocketAddr, conns: u64, secs: u64, post: bool) -> Option<f64> {
    let mut args = vec![
        "-t1".to_string(),
        format!("-c{conns}"),
        format!("-d{secs}s"),
    ];
    if post {
        let script = std::env::temp_dir().join(format!("wabasim-wrk-{}.lua", std::process::id()));
        let lua = format!(
            "wrk.method = \"POST\"\nwrk.body = '{BODY}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer bench\"\n"
        );
        std::fs::write(&script, lua).ok()?;
        args.push("-s".into());
        args.push(script.display().to_string());
    }
    args.push(format!("http://{addr}/v23.0/106540352242922/messages"));
    let out = std::process::Command::new("wrk")
        .args(&args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Under `cargo test` (no `--bench` argument), as criterion does: one short run of each
    // part to show the bench still works, without wrk; `cargo bench` measures.
    let measuring = std::env::args().any(|a| a == "--bench");
    if !measuring {
        println!("test mode: one 1 s run per part at 2,000/s; `cargo bench --bench load_throughput` measures");
    }
    let conns = env("CONNS", 16);
    let secs = if measuring { env("SECS", 5) } else { 1 };
    let rate = if measuring {
        env("RATE", 20_000)
    } else {
        2_000
    };
    let threads = env("THREADS", 1) as usize;
    let addr = start_server();
    let target = Target {
        base_url: format!("http://{addr}"),
        token: "bench".into(),
        api_version: "v23.0".into(),
        tokens: Default::default(),
    };
    // THREADS=0: a current-thread runtime (the generator and its connections on one thread).
    let rt = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap()
    };
    let opts = RunOptions {
        quiet: true,
        seed: 1,
        ..RunOptions::default()
    };
    let mix =
        "[[traffic.phases.mix]]\ntemplate = { name = \"order_update\", params = [\"{seq}\"] }\n";

    // 1. Closed model vs wrk.
    let closed = plan(&format!(
        "[traffic]\nconnections = {conns}\n[traffic.sender]\nmax_in_flight = 100000\n\
         [[traffic.phases]]\nname = \"closed\"\nduration = \"{secs}s\"\nclosed = {{ concurrency = {conns} }}\n{mix}"
    ));
    let r = rt
        .block_on(run(&closed, &target, &opts, std::future::pending::<()>()))
        .unwrap();
    let ours = r.total.requests.total as f64 / (r.total.active_ms / 1000.0);
    println!(
        "closed  conns={conns} threads={threads}: {ours:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, ok {} of {}",
        r.total.latency.ok.p50_ms, r.total.latency.ok.p99_ms, r.total.requests.ok, r.total.requests.total
    );
    match measuring.then(|| wrk(addr, conns, secs, true)).flatten() {
        Some(w) => println!(
            "wrk     -t1 -c{conns}, same POST: {w:.0} req/s  → generator/wrk = {:.2}",
            ours / w
        ),
        None if measuring => println!("wrk not found: skipping the comparison"),
        None => {}
    }
    if let Some(w) = measuring.then(|| wrk(addr, conns, secs, false)).flatten() {
        println!(
            "wrk     -t1 -c{conns}, bodiless GET: {w:.0} req/s  → generator/wrk = {:.2}",
            ours / w
        );
    }

    // 2. Open model at RATE.
    let open = plan(&format!(
        "[traffic]\nconnections = {conns}\n[traffic.sender]\nmax_in_flight = 100000\n\
         [[traffic.phases]]\nname = \"open\"\nduration = \"{secs}s\"\nopen = {{ rate = {rate} }}\n{mix}"
    ));
    let r = rt
        .block_on(run(&open, &target, &opts, std::future::pending::<()>()))
        .unwrap();
    let p = &r.phases[0];
    println!(
        "open    target {:.0}/s: achieved {:.1}/s ({:+.2}%), sent {} of {} intended, unsent {}, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        p.target_rate.unwrap_or(0.0),
        p.achieved_rate,
        (p.achieved_rate / p.target_rate.unwrap_or(1.0) - 1.0) * 100.0,
        p.messages,
        p.intended,
        p.unsent,
        p.latency.ok.p50_ms,
        p.latency.ok.p99_ms,
        p.latency.ok.max_ms
    );

    // 3. Memory over a longer run.
    if env("MEM", 0) == 1 {
        let mem_secs = env("MEM_SECS", 60);
        let long = plan(&format!(
            "[traffic]\nconnections = {conns}\n[traffic.sender]\nmax_in_flight = 100000\n\
             [[traffic.phases]]\nname = \"long\"\nduration = \"{mem_secs}s\"\nopen = {{ rate = {rate} }}\n{mix}"
        ));
        let sampler = std::thread::spawn(move || {
            let mut v = Vec::new();
            for _ in 0..(mem_secs / 5) {
                std::thread::sleep(Duration::from_secs(5));
                v.push(rss_kib());
            }
            v
        });
        let r = rt
            .block_on(run(&long, &target, &opts, std::future::pending::<()>()))
            .unwrap();
        let samples = sampler.join().unwrap();
        println!(
            "memory  {mem_secs}s at {rate}/s ({} requests): RSS KiB every 5 s: {samples:?}",
            r.total.requests.total
        );
    }
}
