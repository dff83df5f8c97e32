//! The scenario library (`scenarios/*.toml` named in docs/simulate.md "Scenario library"):
//! each scenario is simulated in-process, exactly as `wabasim simulate FILE` runs it, and its
//! documented ending (the header comment of the file) is asserted from the JSON report.

use crate::common::simulate_scenario;
use std::path::PathBuf;
use wabasim::scenario::Scenario;
use wabasim::simulate::SimReport;

fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// Simulates `scenarios/<name>` with its own seed; `days` as `--days`. Returns the report as
/// the JSON file holds it (serialised and read back, so the assertions read what a teacher
/// reads).
fn run(name: &str, days: Option<f64>) -> (SimReport, serde_json::Value) {
    let sc = Scenario::load(&scenario_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let r = simulate_scenario(&sc, days, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_fits_100_columns(name, &wabasim::simulate::report::render_summary(&r));
    let json = serde_json::to_value(&r).unwrap();
    (r, json)
}

/// Simulates library scenario `name` with its knob turned: `from` replaced by `to` in its text
/// (which must contain `from`).
fn run_with_knob(name: &str, from: &str, to: &str) -> SimReport {
    let text = std::fs::read_to_string(scenario_path(name)).unwrap();
    assert!(text.contains(from), "{name} has no {from:?}");
    let sc = Scenario::parse(&text.replace(from, to), name).unwrap();
    simulate_scenario(&sc, None, None).unwrap()
}

/// What the terminal shows for a lesson must read in a 100-column terminal (projected in class).
fn assert_fits_100_columns(name: &str, text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= 100,
            "{name}: a summary line is {} columns wide:\n{line}",
            line.chars().count()
        );
    }
}

fn code(r: &SimReport, c: &str) -> u64 {
    r.totals.codes.get(c).copied().unwrap_or(0)
}

fn failed_async(r: &SimReport, c: &str) -> u64 {
    r.totals.failed_async.get(c).copied().unwrap_or(0)
}

fn annotations<'a>(r: &'a SimReport, rule: &str) -> Vec<&'a wabasim::simulate::report::Annotation> {
    r.annotations.iter().filter(|a| a.rule == rule).collect()
}

#[test]
fn spam_without_opt_in_ends_red_paused_disabled_restricted() {
    let (r, _) = run("spam-without-opt-in.toml", None);
    // Blocks and reports, day after day.
    assert!(
        r.totals.blocks >= 80 && r.totals.reports >= 10,
        "{:?}",
        r.totals
    );
    assert!(
        r.feedback_daily.iter().take(4).all(|d| d.blocks >= 10),
        "{:?}",
        r.feedback_daily
    );
    // The number goes RED and FLAGGED.
    let n = &r.numbers[0].changes;
    assert!(n.iter().any(|c| c.quality_rating == "YELLOW"));
    let red = n
        .iter()
        .find(|c| c.quality_rating == "RED")
        .expect("the number goes RED");
    assert_eq!(red.status, "FLAGGED");
    // The main template: FIRST_PAUSE (3 h), SECOND_PAUSE (6 h), DISABLED.
    let promo = r
        .templates
        .iter()
        .find(|t| t.name == "promo_diskon")
        .unwrap();
    let path: Vec<(&str, Option<&str>)> = promo
        .changes
        .iter()
        .map(|c| (c.status.as_str(), c.reason.as_deref()))
        .collect();
    assert_eq!(
        path,
        vec![
            ("APPROVED", None),
            ("PAUSED", Some("FIRST_PAUSE")),
            ("APPROVED", Some("UNPAUSE")),
            ("PAUSED", Some("SECOND_PAUSE")),
            ("APPROVED", Some("UNPAUSE")),
            ("DISABLED", Some("DISABLED")),
        ]
    );
    let t = |i: usize| promo.changes[i].t;
    assert_eq!(t(2) - t(1), 3 * 3600, "first pause lasts exactly 3 h");
    assert_eq!(t(4) - t(3), 6 * 3600, "second pause lasts exactly 6 h");
    assert!(code(&r, "132015") > 0 && code(&r, "132016") > 0);
    // Sustained RED restricts business-initiated messaging, 72 h after the RED that stuck.
    let restr = annotations(&r, "account_update");
    assert_eq!(restr.len(), 1, "{restr:?}");
    assert!(restr[0].text.contains("ACCOUNT_RESTRICTION"));
    let last_red = n
        .iter()
        .filter(|c| c.quality_rating == "RED")
        .map(|c| c.t)
        .max()
        .unwrap();
    assert!(
        restr[0].t >= last_red + 71 * 3600,
        "{} vs {last_red}",
        restr[0].t
    );
    assert!(
        r.totals
            .refused_by_rule
            .get("account_restriction")
            .copied()
            .unwrap_or(0)
            > 0,
        "{:?}",
        r.totals.refused_by_rule
    );
    // And the 250-user messaging limit bit all along.
    assert!(failed_async(&r, "131048") > 1000);
    // The HTML shows the feedback per day.
    let html = wabasim::render::simulation_html(&r);
    assert!(html.contains(&format!(
        "Blocks, reports and marketing opt-outs per day (total {} blocks",
        r.totals.blocks
    )));
}

#[test]
fn opt_in_done_right_stays_green_and_scales() {
    let (r, _) = run("opt-in-done-right.toml", None);
    let n = &r.numbers[0].changes;
    assert!(n.iter().all(|c| c.quality_rating == "GREEN"), "{n:?}");
    let tiers: Vec<&str> = n.iter().map(|c| c.messaging_limit.as_str()).collect();
    let mut steps = tiers.clone();
    steps.dedup();
    assert_eq!(steps, vec!["TIER_250", "TIER_2K", "TIER_10K"]);
    assert_eq!(annotations(&r, "business_capability_update").len(), 2);
    assert!(r
        .templates
        .iter()
        .all(|t| t.changes.iter().all(|c| c.status == "APPROVED")));
    assert!(annotations(&r, "account_update").is_empty());
    // Same volume as the spam scenario, far fewer blocks.
    assert_eq!(r.totals.messages, 5000);
    assert!(r.totals.blocks < 40, "{:?}", r.totals);
}

#[test]
fn customer_service_window_free_inside_refused_outside() {
    let (r, _) = run("customer-service-window.toml", None);
    let phase = |n: &str| r.phases.iter().find(|p| p.name == n).unwrap();
    let w = phase("customers-write-in");
    assert_eq!((w.refused, w.ok), (0, w.messages));
    // Agents: only the free-form messages to people who never wrote in (a quarter of the mix)
    // are refused, all with 131047.
    let a = phase("agents");
    assert_eq!(a.codes.keys().collect::<Vec<_>>(), vec!["131047"]);
    let share = a.refused as f64 / a.messages as f64;
    assert!((0.18..0.32).contains(&share), "{share}");
    // Next day: every free-form reply (two thirds of the mix) is refused; templates pass.
    let d = phase("next-day");
    assert_eq!(d.codes.keys().collect::<Vec<_>>(), vec!["131047"]);
    let share = d.refused as f64 / d.messages as f64;
    assert!((0.6..0.73).contains(&share), "{share}");
    assert!(d.ok > 0);
    // Service replies are free; the templates are the only charge.
    let row = |cat: &str| {
        r.cost
            .totals
            .iter()
            .find(|t| wabasim::simulate::collect::enum_text(&t.category) == cat)
            .unwrap_or_else(|| panic!("no {cat} row"))
    };
    assert!(row("service").messages > 300);
    assert_eq!(row("service").amount.micros(), 0);
    assert!(row("utility").amount.micros() > 0);
    assert_eq!(
        r.cost.by_currency["USD"].amount.micros(),
        row("utility").amount.micros()
    );
}

#[test]
fn recycled_numbers_notify_fail_137000_and_hold() {
    let (r, _) = run("recycled-numbers.toml", None);
    assert!(r.totals.user_changed_number >= 10, "{:?}", r.totals);
    assert_eq!(
        annotations(&r, "user_changed_number").len() as u64,
        r.totals.user_changed_number
    );
    assert!(
        failed_async(&r, "137000") >= 10,
        "{:?}",
        r.totals.failed_async
    );
    assert!(r.totals.held_at_end >= 5, "{:?}", r.totals);
    // Nothing was refused synchronously: identity problems show up after acceptance.
    assert_eq!(r.totals.refused, 0);
}

#[test]
fn recycled_numbers_knob_check_off_means_no_137000_and_nothing_held() {
    let text = std::fs::read_to_string(scenario_path("recycled-numbers.toml"))
        .unwrap()
        .replace(
            "[rules.identity]\ncheck = true",
            "[rules.identity]\ncheck = false",
        );
    let sc = Scenario::parse(&text, "recycled-numbers.toml").unwrap();
    let r = simulate_scenario(&sc, None, None).unwrap();
    assert!(
        r.totals.user_changed_number > 0,
        "numbers are still recycled"
    );
    assert_eq!(failed_async(&r, "137000"), 0);
    assert_eq!(r.totals.held_at_end, 0);
}

#[test]
fn prohibited_businesses_are_refused_with_reasons() {
    let (r, json) = run("prohibited-business-indonesia.toml", None);
    let by = |v: &str| r.businesses.iter().find(|b| b.vertical == v).unwrap();
    assert_eq!(by("retail").onboarding, "APPROVED");
    assert!(by("retail").reason.is_none() && !by("retail").disabled);
    for (v, word) in [
        ("p2p_lending", "P2P lending"),
        ("herbal_medicine", "herbal"),
        ("leasing", "leasing"),
    ] {
        let b = by(v);
        assert_eq!(b.onboarding, "REJECTED", "{v}");
        assert!(
            b.reason.as_deref().unwrap().contains(word),
            "{:?}",
            b.reason
        );
        assert!(b.disabled);
    }
    assert_eq!(annotations(&r, "onboarding").len(), 3);
    assert_eq!(code(&r, "368"), 300);
    assert_eq!(r.totals.refused_by_rule["onboarding"], 300);
    assert_eq!(r.totals.ok, 100);
    assert_eq!(r.totals.delivered, 100);
    // The JSON carries the reasons as a teacher reads them.
    assert_eq!(json["businesses"][1]["onboarding"], "REJECTED");
}

#[test]
fn sensitive_data_is_rejected_flagged_then_banned() {
    let (r, _) = run("sensitive-data.toml", None);
    let t = r
        .templates
        .iter()
        .find(|t| t.name == "verifikasi_kartu")
        .unwrap();
    let last = t.changes.last().unwrap();
    assert_eq!(
        (last.status.as_str(), last.reason.as_deref()),
        ("REJECTED", Some("ABUSIVE_CONTENT"))
    );
    assert_eq!(last.t - r.start, 60, "rejected after the 60 s review");
    // Three content violations (one of them a template parameter: 132007), then the ban.
    assert_eq!(r.totals.refused_by_rule["content_policy"], 3);
    assert_eq!(code(&r, "132007"), 1);
    let ban = annotations(&r, "account_update");
    assert_eq!(ban.len(), 1);
    assert!(ban[0].text.contains("DISABLED_UPDATE"));
    assert!(r.businesses[0].disabled && r.businesses[0].strikes == 3);
    assert!(r.totals.refused_by_rule["account_disabled"] > 100);
    // Clean replies went through before the ban.
    let desk = r.phases.iter().find(|p| p.name == "support-desk").unwrap();
    assert!(desk.ok > 20);
}

#[test]
fn pricing_through_the_years_five_costs() {
    let (r, json) = run("pricing-through-the-years.toml", None);
    let models: Vec<&str> = r.cost_compare.iter().map(|c| c.model.as_str()).collect();
    assert_eq!(
        models,
        vec![
            "template-era",
            "cbp-2022",
            "cbp-2023",
            "pmp-2025-07",
            "pmp-2026-10"
        ]
    );
    // The same messages were delivered under every model.
    assert!(r
        .cost_compare
        .iter()
        .all(|c| c.delivered == r.totals.delivered && c.cost.lines_total == r.totals.delivered));
    let cost = |m: &str| {
        let c = &r.cost_compare.iter().find(|c| c.model == m).unwrap().cost;
        assert_eq!(c.by_currency.len(), 1, "{m}: one currency");
        let (cur, v) = c.by_currency.iter().next().unwrap();
        (cur.clone(), v.amount.micros())
    };
    let all: Vec<(String, i64)> = models.iter().map(|m| cost(m)).collect();
    for (i, a) in all.iter().enumerate() {
        assert!(a.1 > 0, "{a:?}");
        for b in &all[i + 1..] {
            assert_ne!(a, b, "five different costs");
        }
    }
    // CBP 2022 is billed on its only (EUR) card; the others in USD.
    assert_eq!(cost("cbp-2022").0, "EUR");
    // The main run (pmp-2026-10) and its comparison agree.
    assert_eq!(
        cost("pmp-2026-10").1,
        r.cost.by_currency["USD"].amount.micros()
    );
    // History, model by model, from the pricers' rows:
    let rows = |m: &str| {
        r.cost_compare
            .iter()
            .find(|c| c.model == m)
            .unwrap()
            .cost
            .totals
            .clone()
    };
    let cat = |t: &wabasim::pricing::TotalRow| wabasim::simulate::collect::enum_text(&t.category);
    // - only CBP 2022 charged user-initiated conversations;
    assert!(rows("cbp-2022")
        .iter()
        .any(|t| cat(t) == "user_initiated" && t.amount.micros() > 0));
    for m in ["template-era", "cbp-2023", "pmp-2025-07"] {
        assert!(
            rows(m)
                .iter()
                .filter(|t| cat(t) == "service")
                .all(|t| t.amount.micros() == 0),
            "{m}: free-form service messages are free"
        );
    }
    // - CBP 2023 charges conversations, not messages: fewer service units than messages;
    assert!(rows("cbp-2023")
        .iter()
        .any(|t| cat(t) == "service" && t.units < t.messages));
    // - October 2026 charges service messages: exactly what separates it from 2025-07.
    let service_2026: i64 = rows("pmp-2026-10")
        .iter()
        .filter(|t| cat(t) == "service")
        .map(|t| t.amount.micros())
        .sum();
    assert!(service_2026 > 0);
    assert_eq!(cost("pmp-2026-10").1 - cost("pmp-2025-07").1, service_2026);
    // - per-message pricing from 2025 costs more than the template era's example card here,
    //   and the conversation-based 2023 model lands in between.
    assert!(cost("template-era").1 < cost("cbp-2023").1);
    assert!(cost("cbp-2023").1 < cost("pmp-2025-07").1);
    assert_eq!(json["cost_compare"].as_array().unwrap().len(), 5);
    let html = wabasim::render::simulation_html(&r);
    assert!(html.contains("<td>cbp-2022</td><td>4238</td><td>EUR</td>"));
}

#[test]
fn throughput_upgrade_reaches_1000_mps() {
    // --days 0.02 (28.8 min): the traffic is over by then; no need for the settling day.
    let (r, _) = run("throughput-upgrade.toml", Some(0.02));
    let up = annotations(&r, "phone_number_quality_update");
    assert_eq!(up.len(), 1);
    assert!(up[0].text.contains("THROUGHPUT_UPGRADE"));
    // About a minute of 131057 at 80 msg/s, all before the webhook.
    let refused = code(&r, "131057");
    assert!((4_000..=4_900).contains(&refused), "{refused}");
    assert_eq!(r.totals.refused_by_rule["throughput_upgrade"], refused);
    let n = &r.numbers[0].changes;
    assert_eq!(n.first().unwrap().throughput_mps, 80);
    assert_eq!(n.last().unwrap().throughput_mps, 1000);
    assert_eq!(n.last().unwrap().messaging_limit, "TIER_UNLIMITED");
    // 500 msg/s afterwards, none throttled.
    let sale = r
        .phases
        .iter()
        .find(|p| p.name == "flash-sale-receipts")
        .unwrap();
    assert_eq!((sale.ok, sale.throttled, sale.refused), (15_000, 0, 0));
}

#[test]
fn every_library_scenario_is_deterministic_and_documents_its_command_and_ending() {
    for name in LIBRARY {
        let text = std::fs::read_to_string(scenario_path(name)).unwrap();
        assert!(
            text.contains(&format!("wabasim simulate scenarios/{name}")),
            "{name}: header names the command"
        );
        assert!(
            text.contains("# Policy shown:"),
            "{name}: header names the policy"
        );
        assert!(
            text.contains("# The ending"),
            "{name}: header names the ending"
        );
        assert!(
            text.contains("tests/it/library.rs"),
            "{name}: header names its test"
        );
    }
    // Byte-identical JSON for the same seed (one short scenario; tests/it/simulate.rs covers the
    // general case).
    let a = serde_json::to_vec_pretty(&run("prohibited-business-indonesia.toml", None).0).unwrap();
    let b = serde_json::to_vec_pretty(&run("prohibited-business-indonesia.toml", None).0).unwrap();
    assert_eq!(a, b);
}

const LIBRARY: [&str; 13] = [
    "blocking-users.toml",
    "usernames.toml",
    "marketing-messages-api.toml",
    "template-pacing.toml",
    "recategorised-template.toml",
    "spam-without-opt-in.toml",
    "opt-in-done-right.toml",
    "customer-service-window.toml",
    "recycled-numbers.toml",
    "prohibited-business-indonesia.toml",
    "sensitive-data.toml",
    "pricing-through-the-years.toml",
    "throughput-upgrade.toml",
];

#[test]
fn reports_written_before_the_feedback_fields_still_render() {
    let (_, mut json) = run("prohibited-business-indonesia.toml", None);
    let o = json.as_object_mut().unwrap();
    for k in ["feedback_daily", "businesses", "cost_compare"] {
        o.remove(k);
    }
    let t = o["totals"].as_object_mut().unwrap();
    for k in [
        "blocks",
        "reports",
        "opt_outs",
        "held_at_end",
        "refused_by_rule",
    ] {
        t.remove(k);
    }
    let html = wabasim::render::html_from_json(&serde_json::to_vec(&json).unwrap()).unwrap();
    assert!(html.contains("prohibited-business-indonesia"));
    assert!(!html.contains("User feedback"), "no empty feedback chart");
}

#[test]
fn bad_comparison_model_names_the_field() {
    let text = std::fs::read_to_string(scenario_path("pricing-through-the-years.toml"))
        .unwrap()
        .replace("\"cbp-2022\", \"cbp-2023\"", "\"cbp-2022\", \"cbp-2021\"");
    let err = Scenario::parse(&text, "pricing-through-the-years.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("pricing-through-the-years.toml"), "{err}");
    assert!(err.contains("pricing.compare[2]"), "{err}");
    assert!(err.contains("cbp-2021"), "{err}");
}

#[test]
fn recategorised_template_costs_marketing_from_day_5() {
    let (r, _) = run("recategorised-template.toml", None);
    let notes = annotations(&r, "template_category_update");
    assert_eq!(notes.len(), 2, "the notice and the change");
    let row = |cat: &str| {
        r.cost
            .totals
            .iter()
            .find(|t| wabasim::simulate::collect::enum_text(&t.category) == cat)
            .unwrap_or_else(|| panic!("no {cat} row"))
    };
    assert_eq!(row("utility").messages, 5000);
    assert_eq!(row("utility").amount.to_string(), "125.00");
    assert_eq!(row("marketing").messages, 5000);
    assert_eq!(row("marketing").amount.to_string(), "205.50");
    assert_eq!(r.cost.by_currency["USD"].amount.to_string(), "330.50");
    // The report records the change (day 5, hour 120) and the HTML draws it: a category lane
    // under the template's status lane, and a note under the cost by category.
    let tl = &r.templates[0];
    assert_eq!(tl.category, "UTILITY");
    let changes: Vec<_> = tl
        .category_changes
        .iter()
        .map(|c| (c.hour, c.from.as_str(), c.to.as_str()))
        .collect();
    assert_eq!(changes, [(120, "UTILITY", "MARKETING")]);
    let html = wabasim::render::simulation_html(&r);
    assert!(html.contains("order_update (id) category"), "category lane");
    assert!(html.contains("Day 5: Meta recategorised <b>order_update (id)</b> UTILITY → MARKETING"));
    // A template Meta never recategorised has no category lane.
    let (other, _) = run("customer-service-window.toml", None);
    assert!(other
        .templates
        .iter()
        .all(|t| t.category_changes.is_empty()));
    assert!(!wabasim::render::simulation_html(&other).contains(") category"));
}

#[test]
fn template_pacing_holds_then_releases() {
    let (r, json) = run("template-pacing.toml", None);
    let t = &r.totals;
    assert_eq!(
        (t.paced_held, t.paced_released, t.paced_dropped),
        (5300, 5300, 0)
    );
    assert_eq!(t.delivered, 7200);
    assert!(failed_async(&r, "132015") == 0);
    assert_eq!(annotations(&r, "template_pacing").len(), 1);
    let tl = &json["templates"][0];
    assert_eq!(tl["name"], "koleksi_baru");
    assert_eq!(tl["pacing"][0]["held"], 5300);
    // The knob: a bought list's block rate makes the assessment pause the template.
    let bad = run_with_knob("template-pacing.toml", "block = 0.002", "block = 0.1");
    let t = &bad.totals;
    assert_eq!(
        (t.paced_held, t.paced_released, t.paced_dropped),
        (5300, 0, 5300)
    );
    assert_eq!(failed_async(&bad, "132015"), 5300);
    assert_eq!(code(&bad, "132015"), 900, "the follow-up while paused");
    assert!(annotations(&bad, "template_pausing")
        .iter()
        .any(|a| a.text.contains("FIRST_PAUSE")));
}

#[test]
fn marketing_messages_api_prices_marketing_lite_like_marketing() {
    let (r, _) = run("marketing-messages-api.toml", None);
    let row = |cat: &str| {
        r.cost
            .totals
            .iter()
            .find(|t| wabasim::simulate::collect::enum_text(&t.category) == cat)
            .unwrap_or_else(|| panic!("no {cat} row"))
    };
    assert_eq!(row("marketing_lite").messages, 882);
    assert_eq!(row("marketing_lite").amount.to_string(), "36.2502");
    assert_eq!(row("marketing").messages, 933);
    assert_eq!(row("marketing").amount.to_string(), "38.3463");
    assert_eq!(r.cost.by_currency["USD"].amount.to_string(), "74.5965");
    assert_eq!(code(&r, "131055"), 185);
}

/// The knob: not onboarded, the `/marketing_messages` promotions fall back to the Cloud API.
#[test]
fn marketing_messages_api_knob_not_onboarded_falls_back_to_marketing() {
    let r = run_with_knob(
        "marketing-messages-api.toml",
        "marketing_messages_onboarded = true",
        "marketing_messages_onboarded = false",
    );
    let cats: Vec<_> = r
        .cost
        .totals
        .iter()
        .map(|t| wabasim::simulate::collect::enum_text(&t.category))
        .collect();
    assert_eq!(cats, ["marketing"]);
    assert_eq!(r.cost.totals[0].messages, 933 + 882);
    assert_eq!(r.cost.by_currency["USD"].amount.to_string(), "74.5965");
}

#[test]
fn usernames_hide_numbers_and_refuse_otps_by_bsuid() {
    let (r, json) = run("usernames.toml", None);
    let t = &r.totals;
    assert_eq!((t.inbound_phone_hidden, t.inbound), (223, 857));
    assert_eq!(t.sent_by_user_id, 374);
    let phase = |n: &str| r.phases.iter().find(|p| p.name == n).unwrap();
    let s = phase("support");
    assert_eq!((s.messages, s.ok, s.refused), (720, 720, 0));
    let l = phase("login-codes");
    assert_eq!((l.messages, l.ok, l.refused), (720, 535, 185));
    assert_eq!(l.codes.keys().collect::<Vec<_>>(), vec!["131062"]);
    assert_eq!(t.refused_by_rule.get("bsuid_recipient"), Some(&185));
    // The codes by BSUID are the ones refused: 374 = 189 replies + 185 codes.
    assert_eq!(t.sent_by_user_id - l.refused, 189);
    assert_eq!(r.cost.by_currency["USD"].amount.to_string(), "13.375");
    assert_eq!(json["totals"]["inbound_phone_hidden"], 223);
    let summary = wabasim::simulate::report::render_summary(&r);
    assert!(summary.contains(
        "usernames: 223 inbound messages hid the sender's phone number; 374 messages addressed by BSUID"
    ));
    let html = wabasim::render::simulation_html(&r);
    assert!(html.contains("Usernames: 223 user messages hid the sender's phone number"));
    assert!(!html.contains("Block Users:"));
    // The knob: nobody hides their number, every code goes by phone and is accepted.
    let shown = run_with_knob(
        "usernames.toml",
        "username_hides_phone = true",
        "username_hides_phone = false",
    );
    let t = &shown.totals;
    assert_eq!((t.inbound_phone_hidden, t.sent_by_user_id), (0, 0));
    assert_eq!(code(&shown, "131062"), 0);
    assert_eq!(shown.phases[2].ok, 720);
    assert_eq!(shown.cost.by_currency["USD"].amount.to_string(), "18.00");
    assert!(!wabasim::simulate::report::render_summary(&shown).contains("usernames:"));
    assert!(!wabasim::render::simulation_html(&shown).contains("<h2>Users</h2>"));
}

#[test]
fn blocking_users_drops_and_refuses_the_blocked() {
    let (r, _) = run("blocking-users.toml", None);
    let t = &r.totals;
    assert_eq!((t.users_blocked, t.inbound_blocked), (141, 79));
    let phase = |r: &SimReport, n: &str| r.phases.iter().find(|p| p.name == n).unwrap().clone();
    let m = phase(&r, "moderation");
    assert_eq!((m.messages, m.ok), (1440, 1440));
    let again = phase(&r, "customers-write-again");
    assert_eq!(again.codes.keys().collect::<Vec<_>>(), vec!["130403"]);
    assert_eq!(again.refused + phase(&r, "overnight").refused, 79);
    let next = phase(&r, "next-day");
    assert_eq!(next.codes.get("130403"), Some(&50));
    assert_eq!(next.codes.get("139100"), Some(&30));
    assert_eq!(t.refused_by_rule.get("blocked_user"), Some(&50));
    let summary = wabasim::simulate::report::render_summary(&r);
    assert!(summary.contains(
        "block users: 141 users blocked, 79 of their messages not delivered, 50 sends refused 130403"
    ));
    let html = wabasim::render::simulation_html(&r);
    assert!(html.contains("Block Users: the business numbers blocked 141 users; 79 of their messages were not delivered; 50 sends to them were refused with 130403."));
    assert!(!html.contains("Usernames:"));
    // The knob: no moderation blocks. Nothing is dropped or refused 130403; one late block
    // of a customer who wrote overnight succeeds, the others fail with 139100.
    let open = run_with_knob(
        "blocking-users.toml",
        "weight = 1\nblock = { to = \"window\" }",
        "weight = 0\nblock = { to = \"window\" }",
    );
    let t = &open.totals;
    assert_eq!((t.users_blocked, t.inbound_blocked), (1, 0));
    assert_eq!(code(&open, "130403"), 0);
    assert_eq!(phase(&open, "next-day").codes.get("139100"), Some(&32));
}
