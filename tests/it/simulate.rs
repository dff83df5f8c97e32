//! `wabasim simulate`: determinism, counts that reconcile, the sender policy in virtual time,
//! and the HTML reports (self-contained; rendered by headless Chromium when it is installed).

use crate::common::simulate_scenario;
use std::path::PathBuf;
use std::process::Command;
use wabasim::scenario::Scenario;
use wabasim::simulate::SimReport;

const SCENARIO: &str = r#"
name = "sim-test"
seed = 9
[audience]
size = 5000
[traffic]
[[traffic.phases]]
name = "users"
duration = "1h"
open = { rate = 0.5 }
[[traffic.phases.mix]]
inbound = { text = "halo" }

[[traffic.phases]]
name = "campaign"
duration = "2h"
open = { rate = 2, arrivals = "poisson" }
recipients = { returning = 0.1 }
[[traffic.phases.mix]]
weight = 3
template = { name = "order_shipped", language = "id", params = ["A-{seq}", "besok"] }
[[traffic.phases.mix]]
weight = 1
text = { body = "terima kasih" }
[[traffic.phases.mix]]
weight = 1
text = { body = "promo", to = "any" }

[[traffic.phases]]
name = "burst"
messages = 2000
open = { rate = 200 }
sender = { max_retries = 6, backoff_base = "1s", backoff_max = "30s", jitter = 0.2 }
[[traffic.phases.mix]]
template = { name = "hello_world" }

[[traffic.phases]]
name = "agents"
duration = "10m"
closed = { concurrency = 4, think = "30s" }
[[traffic.phases.mix]]
template = { name = "hello_world" }
"#;

fn run(text: &str, seed: Option<u64>) -> SimReport {
    let sc = Scenario::parse(text, "sim.toml").unwrap();
    simulate_scenario(&sc, None, seed).unwrap()
}

#[test]
fn same_scenario_and_seed_give_identical_bytes() {
    let a = serde_json::to_vec_pretty(&run(SCENARIO, None)).unwrap();
    let b = serde_json::to_vec_pretty(&run(SCENARIO, None)).unwrap();
    assert_eq!(a, b, "two runs, same seed");
    let html_a = wabasim::render::simulation_html(&run(SCENARIO, None));
    let html_b = wabasim::render::simulation_html(&run(SCENARIO, None));
    assert_eq!(html_a, html_b);
    let c = serde_json::to_vec_pretty(&run(SCENARIO, Some(10))).unwrap();
    assert_ne!(a, c, "another seed draws other recipients and reactions");
}

#[test]
fn counts_reconcile_and_rules_fire_in_virtual_time() {
    let r = run(SCENARIO, None);
    let t = &r.totals;
    assert_eq!(t.requests, t.ok + t.throttled + t.refused + t.failed);
    assert_eq!(t.requests, t.messages + t.retries);
    let codes: u64 = t.codes.values().sum();
    assert_eq!(codes, t.throttled + t.refused + t.failed);
    // Every accepted send ends delivered, failed later (e.g. 131048 past the default world's
    // 250-user messaging limit, 131026 not on WhatsApp), or `sent` and then nothing (a user who
    // blocked the number); inbound events include the audience's own replies.
    let failed_later: u64 = t.failed_async.values().sum();
    let traffic_inbound = r.phases[0].ok;
    assert!(t.delivered + failed_later <= t.ok - traffic_inbound + t.inbound);
    assert!(t.delivered <= t.sent);
    assert!(t.inbound >= traffic_inbound);
    assert!(
        t.failed_async.get("131048").copied().unwrap_or(0) > 0,
        "the default world's 250-user limit bites a 16,000-message run: {:?}",
        t.failed_async
    );
    // Pricing (default model by date: per-message pricing in 2026): one ledger line per
    // delivered message, and the daily cumulative samples end at the final totals.
    assert_eq!(r.cost.lines_total, t.delivered);
    let usd = &r.cost.by_currency["USD"];
    assert!(
        usd.amount.micros() > 0,
        "marketing/utility templates to Indonesia cost money"
    );
    let last: f64 = r.cost_daily.last().unwrap().by_category.values().sum();
    assert!((last - usd.amount.micros() as f64 / 1e6).abs() < 1e-6);
    // Hourly series add up to the totals.
    let sum = |v: &[u64]| v.iter().sum::<u64>();
    assert_eq!(sum(&r.hourly.ok), t.ok);
    assert_eq!(sum(&r.hourly.throttled), t.throttled);
    assert_eq!(sum(&r.hourly.delivered), t.delivered);
    assert!(r.hourly.ok.len() as u64 == r.hours);
    // Phases: the users phase opened windows; replies inside them pass, "any" texts are refused.
    let by = |n: &str| r.phases.iter().find(|p| p.name == n).unwrap();
    assert_eq!(by("users").messages, 1800);
    assert_eq!(by("users").refused, 0);
    assert!(by("campaign").codes.get("131047").copied().unwrap_or(0) > 0);
    // 200 msg/s against 80 msg/s: throttled, then recovered by backoff in virtual time.
    let burst = by("burst");
    assert_eq!(burst.messages, 2000);
    assert!(burst.throttled > 0);
    assert_eq!(burst.ok, 2000, "every message got through after retries");
    assert!(burst.retries.get("throughput").copied().unwrap_or(0) >= burst.throttled);
    // Closed model: 4 users, 30 s think, 10 minutes → 4 × 20 sends.
    assert_eq!(by("agents").messages, 80);
    // Phases follow each other in virtual time.
    assert_eq!(by("campaign").start, by("users").end);
    assert_eq!(by("campaign").end - by("campaign").start, 7200);
    assert!(r
        .annotations
        .iter()
        .any(|a| a.rule == "refused 131047" && a.subject == "campaign"));
}

#[test]
fn days_cut_the_traffic_and_bad_scenarios_are_refused() {
    let sc = Scenario::parse(SCENARIO, "sim.toml").unwrap();
    let r = simulate_scenario(&sc, Some(1.0 / 48.0), Some(1)).unwrap(); // 30 minutes
    assert_eq!(r.end - r.start, 1800);
    assert_eq!(r.phases[0].messages, 900, "half of the 1-hour phase");
    assert_eq!(r.phases[1].messages, 0);

    let zero_think = SCENARIO.replace("think = \"30s\"", "think = \"0s\"");
    let sc = Scenario::parse(&zero_think, "z.toml").unwrap();
    let err = simulate_scenario(&sc, None, Some(1)).unwrap_err();
    assert!(
        err.contains("traffic.phases[3]") && err.contains("think"),
        "{err}"
    );
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

/// No external resource may be requested: no src/href/url() pointing anywhere, no script.
fn assert_self_contained(html: &str) {
    for bad in ["src=", "href=", "url(", "<script", "@import", "<link"] {
        assert!(!html.contains(bad), "found {bad:?} in the page");
    }
    assert!(html.contains("<svg"));
}

#[test]
fn the_cli_writes_json_and_html_and_report_renders_both_kinds() {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sc = dir.join("s.toml");
    std::fs::write(&sc, SCENARIO).unwrap();
    let out = dir.join("out");
    let (code, stdout, err) = wabasim(&[
        "simulate",
        sc.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("campaign"), "{stdout}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_self_contained(&html);
    assert!(html.contains("Requests per hour, by outcome"));
    assert!(html.contains("Template status over time"));
    // `wabasim report` re-renders the saved JSON to the same page.
    let again = dir.join("again.html");
    let (code, _, err) = wabasim(&[
        "report",
        out.join("report.json").to_str().unwrap(),
        "--html",
        again.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&again).unwrap(), html);
    // A run report renders with its own charts.
    let run_sc = dir.join("run.toml");
    std::fs::write(
        &run_sc,
        "[traffic]\n[[traffic.phases]]\nname = \"p\"\nmessages = 50\nopen = { rate = 100 }\n[[traffic.phases.mix]]\ntemplate = { name = \"hello_world\" }\n",
    )
    .unwrap();
    let run_json = dir.join("run.json");
    let (code, _, err) = wabasim(&[
        "run",
        run_sc.to_str().unwrap(),
        "--quiet",
        "--out",
        run_json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let run_html = dir.join("run.html");
    let (code, _, err) = wabasim(&[
        "report",
        run_json.to_str().unwrap(),
        "--html",
        run_html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(&run_html).unwrap();
    assert_self_contained(&page);
    assert!(page.contains("Target vs achieved rate"));
    // What the terminal shows is on the page too: retries, webhooks, the server, the cost.
    for section in [
        "Outcomes and retries",
        "Webhooks received",
        "What the embedded server saw",
        "Cost: ",
    ] {
        assert!(page.contains(section), "{section}");
    }
    assert!(
        !page.contains("Latency percentiles of ok requests, phase by phase"),
        "one phase: no one-point chart"
    );
    // The same run report as CI files: JUnit XML (the run's one check, target health, passed)
    // and a Markdown summary with the phase table.
    let (junit, md) = (dir.join("run.xml"), dir.join("run.md"));
    let (code, _, err) = wabasim(&[
        "report",
        run_json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--summary-md",
        md.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains(r#"<testcase name="target healthy""#), "{xml}");
    assert!(xml.contains(r#"failures="0""#), "{xml}");
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("## wabasim run: PASS"), "{md}");
    assert!(md.contains("| p | open |"), "{md}");
    // A simulation report has no thresholds: asking it for JUnit is a usage error.
    let (code, _, err) = wabasim(&[
        "report",
        out.join("report.json").to_str().unwrap(),
        "--junit",
        "/dev/null",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("simulation report"), "{err}");
    // Nothing to write: clap says which flags are wanted.
    let (code, _, err) = wabasim(&["report", run_json.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--html"), "{err}");
    // Bad input: a clear error, exit 2.
    let (code, _, err) = wabasim(&["report", sc.to_str().unwrap(), "--html", "/dev/null"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a JSON report"), "{err}");
    // The page renders headless in Debian's Chromium (which `.ci/run` installs; the test fails
    // without it rather than skip) to a non-empty screenshot.
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let bin = chromium.expect("chromium is needed (Debian: apt-get install -y chromium)");
    {
        let png = dir.join("shot.png");
        let status = Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                &format!("--screenshot={}", png.display()),
                "--window-size=1000,1800",
                &format!("file://{}", out.join("report.html").display()),
            ])
            .output()
            .expect("chromium runs");
        assert!(
            png.exists() && std::fs::metadata(&png).unwrap().len() > 10_000,
            "screenshot: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
}

/// A reader that went away (`wabasim simulate … | head`) is no crash: the command carries on,
/// writes its report files and exits 0, with nothing on stderr about a panic.
#[test]
fn a_closed_stdout_is_no_panic() {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sc = dir.join("s.toml");
    std::fs::write(&sc, SCENARIO).unwrap();
    let out = dir.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wabasim"))
        .args(["simulate", sc.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the binary");
    // Close the read end before the summary is printed.
    drop(child.stdout.take());
    let done = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(done.status.code(), Some(0), "{err}");
    assert!(out.join("report.json").is_file() && out.join("report.html").is_file());
}

/// Two streams at once: a campaign from 00:00 for 2 h, OTPs from 00:30 for 1 h, and a closed
/// support stream; they overlap in virtual time and each is reported with its phases summed.
const STREAMS: &str = r#"
name = "streams"
seed = 4
[audience]
size = 5000
[traffic]
[[traffic.streams]]
name = "campaign"
[[traffic.streams.phases]]
name = "blast"
duration = "1h"
open = { rate = 1 }
[[traffic.streams.phases.mix]]
template = { name = "order_shipped", language = "id", params = ["A-{seq}", "besok"] }
[[traffic.streams.phases]]
name = "tail"
duration = "1h"
open = { rate = 0.2 }
[[traffic.streams.phases.mix]]
template = { name = "order_shipped", language = "id", params = ["A-{seq}", "besok"] }
[[traffic.streams]]
name = "otp"
start = "30m"
[[traffic.streams.phases]]
name = "codes"
duration = "1h"
open = { rate = 0.5 }
[[traffic.streams.phases.mix]]
template = { name = "hello_world" }
[[traffic.streams]]
name = "support"
[[traffic.streams.phases]]
name = "agents"
duration = "90m"
closed = { concurrency = 2, think = "1m" }
[[traffic.streams.phases.mix]]
template = { name = "hello_world" }
"#;

#[test]
fn streams_run_at_the_same_time_and_are_reported_each() {
    let r = run(STREAMS, None);
    let phase = |n: &str| r.phases.iter().find(|p| p.name == n).unwrap().clone();
    let (blast, tail, codes, agents) = (
        phase("blast"),
        phase("tail"),
        phase("codes"),
        phase("agents"),
    );
    // The OTP stream starts 30 min in, inside the campaign's first phase: they overlap.
    assert_eq!(codes.start, blast.start + 1800);
    assert!(
        codes.start < blast.end && codes.end > tail.start,
        "{codes:?} {blast:?}"
    );
    assert_eq!(agents.start, blast.start);
    // Open phases issue what their schedules say whatever the other streams do.
    assert_eq!(blast.messages, 3600);
    assert_eq!(tail.messages, 720);
    assert_eq!(codes.messages, 1800);
    assert!(agents.messages > 100, "{agents:?}");
    // Streams: their phases summed, spanning them.
    let names: Vec<&str> = r.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["campaign", "otp", "support"]);
    let campaign = &r.streams[0];
    assert_eq!(campaign.messages, blast.messages + tail.messages);
    assert_eq!(campaign.ok, blast.ok + tail.ok);
    assert_eq!((campaign.start, campaign.end), (blast.start, tail.end));
    assert_eq!(r.streams[2].model, "closed");
    let total: u64 = r.streams.iter().map(|s| s.messages).sum();
    assert_eq!(total, r.phases.iter().map(|p| p.messages).sum::<u64>());
    assert!(wabasim::render::simulation_html(&r).contains("<td>[campaign]</td>"));
    // Same seed, same bytes.
    let a = serde_json::to_vec(&r).unwrap();
    let b = serde_json::to_vec(&run(STREAMS, None)).unwrap();
    assert_eq!(a, b);
}

/// A support desk fed only by the audience's replies to a campaign: users who answer a
/// template open a conversation on the number that sent it, and agents answer them there,
/// inside the window, after their delay; nothing is sent outside a window.
const DESK: &str = r#"
name = "desk"
seed = 5
[[businesses]]
id = "100000000000001"
name = "Toko"
tokens = ["t"]
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
name = "promo"
language = "id"
category = "MARKETING"
body = "Diskon!"
[audience]
size = 20000
not_on_whatsapp_ratio = 0.0
[audience.profiles.marketing]
reply = 0.2
[traffic.conversations]
agent_delay = ["2m", "10m"]
[[traffic.streams]]
name = "campaign"
[[traffic.streams.phases]]
name = "blast"
duration = "2h"
open = { rate = 0.5 }
[[traffic.streams.phases.mix]]
template = { name = "promo", language = "id" }
[[traffic.streams]]
name = "support"
[[traffic.streams.phases]]
name = "agents"
duration = "1d"
open = { rate = 0.05 }
[[traffic.streams.phases.mix]]
text = { body = "Halo Kak, ada yang bisa kami bantu?" }
"#;

#[test]
fn agents_answer_audience_replies_in_the_window_from_the_right_number() {
    let r = run(DESK, None);
    let desk = r
        .conversations
        .expect("window replies: the desk is reported");
    let agents = r.phases.iter().find(|p| p.name == "agents").unwrap();
    assert!(desk.opened > 50, "users replied to the campaign: {desk:?}");
    assert!(agents.ok > 50, "{agents:?}");
    // Every reply sent was inside a window: none refused.
    assert_eq!(agents.refused, 0, "{:?}", agents.codes);
    assert_eq!(agents.messages, desk.answered);
    assert_eq!(
        desk.answered + desk.expired + desk.waiting + desk.overflow,
        desk.opened
    );
    // Arrivals with nobody ready to answer were dropped and counted, not sent.
    assert!(agents.no_window > 0);
    assert_eq!(agents.messages + agents.no_window, 4320);
    // The knob: `no_window = "send"` sends those to ordinary recipients, refused with 131047.
    let send = DESK.replace(
        "agent_delay = [\"2m\", \"10m\"]",
        "agent_delay = [\"2m\", \"10m\"]\nno_window = \"send\"",
    );
    let r2 = run(&send, None);
    let a2 = r2.phases.iter().find(|p| p.name == "agents").unwrap();
    assert_eq!(a2.no_window, 0);
    assert!(
        a2.codes.get("131047").copied().unwrap_or(0) > 0,
        "{:?}",
        a2.codes
    );
}

/// Two days of OTPs to an Indonesian audience with a rhythm that sends nothing between 00:00
/// and 06:00 local time (UTC+7, from the audience's calling code 62 when `timezone` is not set).
const RHYTHM: &str = r#"
name = "rhythm"
seed = 2
start_unix = 1767225600   # 2026-01-01T00:00:00Z, 07:00 in Jakarta
[audience]
size = 50000
[[traffic.streams]]
name = "otp"
rhythm = { hours = [0,0,0,0,0,0, 1,1,1,1,1,1, 1,1,1,1,1,1, 1,1,1,1,1,1] }
[[traffic.streams.phases]]
name = "codes"
duration = "2d"
open = { rate = 0.1, arrivals = "poisson" }
[[traffic.streams.phases.mix]]
template = { name = "hello_world" }
"#;

#[test]
fn a_rhythm_follows_the_recipients_local_hours() {
    let r = run(RHYTHM, None);
    let ok = &r.hourly.ok;
    // Simulated hour h (UTC) is local hour (h + 7) % 24 in Jakarta.
    let local = |h: usize| (h + 7) % 24;
    let night: u64 = (0..48).filter(|&h| local(h) < 6).map(|h| ok[h]).sum();
    let day: u64 = (0..48).filter(|&h| local(h) >= 6).map(|h| ok[h]).sum();
    assert_eq!(night, 0, "{ok:?}");
    // 36 open hours a day-pair at 0.1/s: 12,960 expected.
    assert!((12_000..14_000).contains(&day), "{day}");
    let codes = r.phases.iter().find(|p| p.name == "codes").unwrap();
    assert_eq!(codes.messages, day);
    // An explicit time zone moves the quiet hours: UTC (hours 0–5 of each day quiet).
    let utc = RHYTHM.replace("1,1,1,1,1,1] }", "1,1,1,1,1,1], timezone = \"UTC\" }");
    let r = run(&utc, None);
    let night_utc: u64 = (0..48)
        .filter(|&h| h % 24 < 6)
        .map(|h| r.hourly.ok[h])
        .sum();
    assert_eq!(night_utc, 0, "{:?}", r.hourly.ok);
    // 20:00 UTC: 03:00 in Jakarta (quiet above), 20:00 in UTC (busy here).
    assert!(r.hourly.ok[20] > 0, "{:?}", r.hourly.ok);
}

/// A scenario that opts in to a recategorisation: the utility template of
/// `customer-service-window.toml` becomes MARKETING on day 1, so its next-day sends are priced
/// as marketing; without the key, everything stays utility.
#[test]
fn a_recategorised_template_is_priced_at_the_category_in_force_on_each_day() {
    let base = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/customer-service-window.toml"),
    )
    .unwrap();
    let body = "body = \"Pesanan {{1}} sudah dikirim dan tiba sekitar {{2}}.\"";
    assert!(base.contains(body));
    let opted = base.replace(
        body,
        &format!("{body}\nrecategorise = {{ to = \"MARKETING\", on = \"day 1\" }}"),
    );
    let categories = |r: &SimReport| -> Vec<String> {
        r.cost
            .totals
            .iter()
            .filter(|t| t.amount != wabasim::pricing::Amount::ZERO)
            .map(|t| t.category.to_string())
            .collect()
    };
    let plain = run(&base, None);
    assert_eq!(categories(&plain), vec!["utility"]);
    let r = run(&opted, None);
    assert_eq!(categories(&r), vec!["marketing", "utility"]);
    let text = serde_json::to_string(&r).unwrap();
    assert!(
        text.contains("Meta will change its category UTILITY"),
        "notice in the events"
    );
    assert!(
        text.contains("recategorised UTILITY"),
        "the change in the events"
    );
    // The same seed gives the same bytes.
    assert_eq!(text, serde_json::to_string(&run(&opted, None)).unwrap());
}
