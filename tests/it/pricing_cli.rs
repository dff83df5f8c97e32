//! `wabasim cost` end to end, through `run_cost_to`, with amounts computed by hand from the
//! embedded rate cards.

use std::path::PathBuf;
use wabasim::cmd::cost::{run_cost_to, CostArgs};

fn try_run(args: &CostArgs) -> Result<String, String> {
    let mut out = Vec::new();
    match run_cost_to(args, &mut out) {
        Ok(code) => {
            assert_eq!(code, 0);
            Ok(String::from_utf8(out).unwrap())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn run(args: &CostArgs) -> String {
    try_run(args).unwrap_or_else(|e| panic!("cost failed: {e}"))
}

fn quick(model: &str, market: &str, category: &str, messages: u64) -> CostArgs {
    CostArgs {
        model: Some(model.into()),
        market: Some(market.into()),
        category: Some(category.into()),
        messages: Some(messages),
        ..CostArgs::default()
    }
}

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Writes `text` to a fresh file under the target dir and returns its path.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pricing_cli");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn plan_args(path: PathBuf) -> CostArgs {
    CostArgs {
        plan: Some(path),
        ..CostArgs::default()
    }
}

#[test]
fn quick_form_prints_card_amount() {
    let mut a = quick("pmp-2025-07", "ID", "marketing", 10_000);
    a.card = vec!["pmp-2026-01".into()];
    let out = run(&a);
    // 10,000 × USD 0.0411 (Indonesia marketing, 2026-01 card) = 411.0000
    assert!(out.contains("Total platform cost: 411.0000 USD"), "{out}");
    assert!(out.contains("card pmp-2026-01"), "{out}");
    // Same by calling code, and by default card for the model (the newest in its period).
    let mut b = quick("pmp-2025-07", "", "marketing", 10_000);
    b.market = None;
    b.calling_code = Some("62".into());
    assert!(run(&b).contains("Total platform cost: 411.0000 USD"));
}

#[test]
fn quick_form_json() {
    let mut a = quick("pmp-2025-07", "ID", "marketing", 10_000);
    a.card = vec!["pmp-2026-01".into()];
    a.json = true;
    let v: serde_json::Value = serde_json::from_str(&run(&a)).unwrap();
    assert_eq!(v["model"], "pmp-2025-07");
    assert_eq!(v["card"], "pmp-2026-01");
    assert_eq!(v["currency"], "USD");
    assert_eq!(v["total"]["platform_cost"], "411.00");
    assert_eq!(v["total"]["charged_units"], 10_000);
    assert_eq!(v["by_market"][0]["key"], "Indonesia");
}

#[test]
fn quick_form_with_markup() {
    let mut a = quick("pmp-2025-07", "ID", "marketing", 10_000);
    a.markup_fixed = Some("0.001".into());
    a.markup_percent = Some("10".into());
    let out = run(&a);
    // BSP: 411 + 10,000 × 0.001 + 10% × 411 = 462.10; margin 51.10.
    assert!(out.contains("Total BSP price:     462.1000 USD"), "{out}");
    assert!(out.contains("Total BSP margin:    51.1000 USD"), "{out}");
}

#[test]
fn example_1_indonesia_brazil_under_three_models() {
    let out = run(&plan_args(repo_file(
        "scenarios/plans/indonesia-brazil.toml",
    )));
    // cbp-2023 (cbp-2024-10): 10,000 × 0.0411 + 5,000 × 0.008 = 411 + 40 = 451
    // pmp-2025-07 (pmp-2026-01): 411 + in-window utility free = 411
    // pmp-2026-10 (pmp-2026-10): 411 + 5,000 × 0.0068 = 445
    let total = out.lines().find(|l| l.starts_with("TOTAL")).unwrap();
    let cells: Vec<&str> = total.split_whitespace().collect();
    assert_eq!(
        cells,
        ["TOTAL", "451.0000", "411.0000", "445.0000"],
        "{out}"
    );
    assert!(out.contains("cbp-2023: card cbp-2024-10"), "{out}");
    assert!(out.contains("pmp-2025-07: card pmp-2026-01"), "{out}");
    assert!(out.contains("pmp-2026-10: card pmp-2026-10"), "{out}");
    let brazil = out.lines().find(|l| l.starts_with("order_update")).unwrap();
    assert_eq!(
        brazil.split_whitespace().collect::<Vec<_>>(),
        [
            "order_update",
            "utility",
            "Brazil",
            "40.0000",
            "0.0000",
            "34.0000"
        ]
    );
}

#[test]
fn example_1_under_each_model_alone() {
    let plan = repo_file("scenarios/plans/indonesia-brazil.toml");
    let total = |model: &str| {
        let mut a = plan_args(plan.clone());
        a.model = Some(model.into());
        a.json = true;
        let v: serde_json::Value = serde_json::from_str(&run(&a)).unwrap();
        (
            v["total"]["platform_cost"].as_str().unwrap().to_string(),
            v["currency"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(total("cbp-2023"), ("451.00".into(), "USD".into()));
    assert_eq!(total("pmp-2025-07"), ("411.00".into(), "USD".into()));
    // cbp-2022 (EUR card): marketing outside the window = business-initiated (0.0262), replies
    // inside = user-initiated (0.0248); the first 1,000 conversations of the month are free.
    // (10,000 − 1,000) × 0.0262 + 5,000 × 0.0248 = 235.80 + 124.00 = 359.80
    assert_eq!(total("cbp-2022"), ("359.80".into(), "EUR".into()));
    // template era (example card): every template charged, in the window too.
    // 10,000 × 0.0316 + 5,000 × 0.05 = 316 + 250 = 566
    assert_eq!(total("template-era"), ("566.00".into(), "USD".into()));
}

#[test]
fn example_2_retail_campaign_with_markup() {
    let mut a = plan_args(repo_file("scenarios/plans/retail-campaign.toml"));
    a.json = true;
    let v: serde_json::Value = serde_json::from_str(&run(&a)).unwrap();
    // India marketing: 5,000 of 50,000 from ads (free); 45,000 × 0.0118 = 531
    // Mexico utility: 8,000 in window (free); 12,000 × 0.0085 = 102
    // North America authentication: 30,000 × 0.0034 = 102
    // Brazil service: free.  Platform: 735.
    // BSP: 735 + 110,000 × 0.001 + 6% × 531 (31.86) = 876.86
    assert_eq!(v["total"]["platform_cost"], "735.00");
    assert_eq!(v["total"]["bsp_price"], "876.86");
    assert_eq!(v["total"]["margin"], "141.86");
    assert_eq!(v["total"]["messages"], 110_000);
    assert_eq!(v["total"]["free_messages"], 5_000 + 8_000 + 10_000);
    let by_template: Vec<(String, String)> = v["by_template"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().into(),
                g["platform_cost"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        by_template,
        [
            ("(free-form)", "0.00"),
            ("flash_sale", "531.00"),
            ("login_code", "102.00"),
            ("shipping_update", "102.00")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let markets: Vec<&str> = v["by_market"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(markets, ["Brazil", "India", "Mexico", "North America"]);

    // Under pmp-2026-10 (its own card): in-window utility and service are charged, and
    // authentication falls back to the utility rate (the card has none).
    // 531 + 20,000 × 0.0085 + 30,000 × 0.0034 + 10,000 × 0.0068 = 531 + 170 + 102 + 68 = 871
    let mut b = plan_args(repo_file("scenarios/plans/retail-campaign.toml"));
    b.compare = vec!["pmp-2025-07".into(), "pmp-2026-10".into()];
    let out = run(&b);
    let total = out.lines().find(|l| l.starts_with("TOTAL")).unwrap();
    assert_eq!(
        total.split_whitespace().collect::<Vec<_>>(),
        ["TOTAL", "735.0000", "876.8600", "871.0000", "1012.8600"],
        "{out}"
    );
    assert!(out.contains("utility rate used"), "{out}");
}

#[test]
fn table_breakdowns_for_plans() {
    let out = run(&plan_args(repo_file(
        "scenarios/plans/retail-campaign.toml",
    )));
    for needle in [
        "template         messages",
        "category        messages",
        "market         messages",
        "Total platform cost: 735.0000 USD",
        "Total BSP price:     876.8600 USD",
    ] {
        assert!(out.contains(needle), "missing `{needle}` in\n{out}");
    }
}

#[test]
fn cbp_recipients_share_conversations() {
    // 100 marketing messages to 10 users in one day: 10 conversations × 0.0411.
    let mut a = quick("cbp-2023", "ID", "marketing", 100);
    a.recipients = Some(10);
    a.json = true;
    let v: serde_json::Value = serde_json::from_str(&run(&a)).unwrap();
    assert_eq!(v["total"]["platform_cost"], "0.411");
    assert_eq!(v["total"]["conversations"], 10);
    assert_eq!(v["date"], "2024-10-01");
}

#[test]
fn cbp_2022_free_tier_and_switch() {
    // 2,000 marketing to Brazil: 1,000 free, 1,000 × EUR 0.0414.
    let out = run(&quick("cbp-2022", "BR", "marketing", 2_000));
    assert!(out.contains("Total platform cost: 41.4000 EUR"), "{out}");
    let mut a = quick("cbp-2022", "BR", "marketing", 2_000);
    a.no_free_tier = true;
    assert!(run(&a).contains("Total platform cost: 82.8000 EUR"));
}

#[test]
fn example_and_partial_cards_are_flagged() {
    let out = run(&quick("template-era", "IN", "utility", 1_000));
    // 1,000 × 0.0042
    assert!(out.contains("Total platform cost: 4.2000 USD"), "{out}");
    assert!(out.contains("EXAMPLE"), "{out}");
    let mut a = quick("pmp-2025-07", "AR", "marketing", 10);
    a.card = vec!["pmp-2025-07".into()];
    let out = run(&a);
    assert!(out.contains("PARTIAL"), "{out}");
    assert!(out.contains("0.6180"), "{out}");
    a.market = Some("IN".into());
    let e = try_run(&a).unwrap_err();
    assert!(e.contains("is partial and does not cover +91"), "{e}");
}

#[test]
fn date_picks_card_and_rules() {
    let mut a = quick("pmp-2025-07", "ID", "marketing", 1_000);
    a.date = Some("2026-07-15".into());
    a.currency = Some("EUR".into());
    // EUR card from 2026-07-01: 1,000 × 0.0341
    assert!(run(&a).contains("Total platform cost: 34.1000 EUR"));
    a.date = Some("2026-06-30".into());
    let e = try_run(&a).unwrap_err();
    assert!(
        e.contains("no rate card for pmp-2025-07 in effect on 2026-06-30 in EUR"),
        "{e}"
    );
}

#[test]
fn user_rate_file_replaces_embedded_card() {
    let f = temp_file(
        "pmp-2026-01.csv",
        "market,calling_codes,marketing,utility,authentication,currency,unit,effective_from,source\n\
         Indonesia,62,0.05,0.02,0.02,USD,per_message,2026-01-01,my contract\n\
         Other,,0.07,0.01,0.01,USD,per_message,2026-01-01,my contract\n",
    );
    let mut a = quick("pmp-2025-07", "ID", "marketing", 10_000);
    a.card = vec!["pmp-2026-01".into()];
    a.rate_files = vec![f];
    // The user card writes two decimals, so totals print with two.
    assert!(run(&a).contains("Total platform cost: 500.00 USD"));
    let bad = temp_file(
        "broken.csv",
        "market,calling_codes,marketing,currency,unit,effective_from\nX,1,0.1.2,USD,per_message,2026-01-01\n",
    );
    a.rate_files = vec![bad.clone()];
    let e = try_run(&a).unwrap_err();
    assert!(
        e.starts_with(&format!("{}:2: field `marketing`", bad.display())),
        "{e}"
    );
}

#[test]
fn plan_errors_name_file_line_and_field() {
    let cases = [
        (
            "unknown_key.toml",
            "model = \"pmp-2025-07\"\n[[send]]\ncategory = \"marketing\"\nmarket = \"ID\"\nmessages = 10\ncolour = \"red\"\n",
            ":6:1: unknown field `colour`",
        ),
        (
            "bad_category.toml",
            "model = \"pmp-2025-07\"\n[[send]]\ncategory = \"promo\"\nmarket = \"ID\"\nmessages = 10\n",
            ":3:12: field `category`: unknown category `promo`",
        ),
        (
            "bad_model.toml",
            "model = \"pmp-2024\"\n[[send]]\ncategory = \"marketing\"\nmarket = \"ID\"\nmessages = 10\n",
            ":1:9: field `model`: unknown pricing model",
        ),
        (
            "bad_market.toml",
            "model = \"pmp-2025-07\"\n[[send]]\ncategory = \"marketing\"\n\nmarket = \"Atlantis\"\nmessages = 10\n",
            ":5:10: field `market`: unknown market `Atlantis`",
        ),
        (
            "no_market.toml",
            "model = \"pmp-2025-07\"\n[[send]]\ncategory = \"marketing\"\nmessages = 10\n",
            "needs exactly one of `market` or `calling_code`",
        ),
        (
            "bad_share.toml",
            "model = \"pmp-2025-07\"\n[[send]]\ncategory = \"utility\"\nmarket = \"ID\"\nmessages = 10\nin_window = 1.5\n",
            ":6:13: share `1.5` must be between 0 and 1",
        ),
        (
            "too_many_recipients.toml",
            "model = \"pmp-2025-07\"\n[[send]]\ncategory = \"utility\"\nmarket = \"ID\"\nmessages = 10\nrecipients = 11\n",
            ":6:14: field `recipients`: must be between 1 and messages (10)",
        ),
        (
            "empty.toml",
            "model = \"pmp-2025-07\"\n",
            "the plan has no [[send]] lines",
        ),
    ];
    for (name, text, expected) in cases {
        let path = temp_file(name, text);
        let e = try_run(&plan_args(path.clone())).unwrap_err();
        assert!(
            e.contains(&path.display().to_string()) && e.contains(expected),
            "{name}: expected `{expected}` in `{e}`"
        );
    }
}

#[test]
fn plan_volume_tiers() {
    let path = temp_file(
        "tiers.toml",
        "model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"\n\
         [[tiers.utility]]\nfrom = 1\ndiscount = 0\n\
         [[tiers.utility]]\nfrom = 1001\ndiscount = 10\n\
         [[send]]\ncategory = \"utility\"\nmarket = \"ID\"\nmessages = 2000\n",
    );
    let mut a = plan_args(path);
    a.json = true;
    let v: serde_json::Value = serde_json::from_str(&run(&a)).unwrap();
    // 1,000 × 0.025 + 1,000 × 0.0225 = 47.50
    assert_eq!(v["total"]["platform_cost"], "47.50");
    assert!(v["notes"].to_string().contains("volume tiers"));
    // The breakdown by tier and band.
    let t = &v["by_tier"];
    assert_eq!(t[0]["key"], "Indonesia utility tier 1 (1:1000, 0% off)");
    assert_eq!(t[0]["messages"], 1000);
    assert_eq!(t[1]["key"], "Indonesia utility tier 2 (1001:, 10% off)");
    assert_eq!(t[1]["platform_cost"], "22.50");
    a.json = false;
    let out = run(&a);
    assert!(out.contains("volume tier"), "{out}");
    assert!(
        out.contains("Indonesia utility tier 2 (1001:, 10% off)"),
        "{out}"
    );
    // Without tiers there is no tier breakdown.
    let out = run(&quick("pmp-2025-07", "ID", "utility", 2000));
    assert!(!out.contains("volume tier"), "{out}");
}

#[test]
fn command_line_errors() {
    let e = try_run(&quick("pmp-2025-07", "ID", "promo", 1)).unwrap_err();
    assert!(e.contains("unknown category `promo`"), "{e}");
    let e = try_run(&quick("pmp-2099", "ID", "marketing", 1)).unwrap_err();
    assert!(e.contains("unknown pricing model"), "{e}");
    let mut a = quick("pmp-2025-07", "ID", "marketing", 1);
    a.card = vec!["cbp-2024-10".into()];
    let e = try_run(&a).unwrap_err();
    assert!(e.contains("cannot price model pmp-2025-07"), "{e}");
    let mut a = quick("pmp-2025-07", "ID", "marketing", 1);
    a.messages = None;
    assert!(try_run(&a).unwrap_err().contains("--messages is required"));
    let a = quick("pmp-2025-07", "ID", "referral_conversion", 1);
    assert!(try_run(&a).unwrap_err().contains("cannot be sent"));
}

/// Without `--model` (and no plan naming one), the model in force on the estimate date prices
/// the traffic; without `--date` either, the date is today (UTC).
#[test]
fn without_a_model_the_one_in_force_on_the_date_prices() {
    let mut a = quick("unused", "ID", "marketing", 1000);
    a.model = None;
    a.date = Some("2026-12-04".into());
    let out = run(&a);
    assert!(
        out.contains(
            "Model pmp-2026-10 | card pmp-2026-10 (USD per message, effective 2026-10-01) | date 2026-12-04"
        ),
        "{out}"
    );
    a.date = Some("2026-03-01".into());
    let out = run(&a);
    assert!(
        out.contains("Model pmp-2025-07 | card pmp-2026-01"),
        "{out}"
    );
    a.date = Some("2023-01-15".into());
    assert!(
        run(&a).contains("Model cbp-2022 |"),
        "the model of early 2023"
    );

    // No date: today's model and today's date (read before and after, across a midnight).
    a.date = None;
    let today = || {
        let d = wabasim::pricing::Date::of_instant(wabasim::clock::Clock::system_now(), 0);
        (wabasim::pricing::PricingModelId::in_force_on(d), d)
    };
    let before = today();
    let out = run(&a);
    let after = today();
    assert!(
        [before, after]
            .iter()
            .any(|(m, d)| out.contains(&format!("Model {m} |"))
                && out.contains(&format!("date {d}"))),
        "{out}"
    );

    // A currency without a card for that model: a clear refusal naming model, date, currency.
    a.date = Some("2026-12-04".into());
    a.currency = Some("IDR".into());
    let e = try_run(&a).unwrap_err();
    assert!(
        e.contains("no rate card for pmp-2026-10 in effect on 2026-12-04 in IDR"),
        "{e}"
    );
}

#[test]
fn list_cards_and_determinism() {
    let out = run(&CostArgs {
        list_cards: true,
        ..CostArgs::default()
    });
    for name in [
        "template-era-example",
        "cbp-2022-eur",
        "cbp-2024-10",
        "pmp-2025-07",
        "pmp-2025-10-inr",
        "pmp-2026-01",
        "pmp-2026-07-eur",
        "pmp-2026-10",
    ] {
        assert!(out.contains(name), "{name} missing:\n{out}");
    }
    let a = plan_args(repo_file("scenarios/plans/retail-campaign.toml"));
    assert_eq!(run(&a), run(&a));
}

// ----- "What if the utility template is recategorised on day N?" ------------------------------

#[test]
fn quick_form_prices_a_recategorised_template_at_the_category_of_each_day() {
    // 30,000 Indonesian utility templates over 30 days (1,000 a day), card pmp-2026-01.
    let mut a = quick("pmp-2025-07", "ID", "utility", 30_000);
    a.card = vec!["pmp-2026-01".into()];
    a.days = Some(30);
    a.template = Some("order_update".into());
    // Not recategorised: 30,000 × 0.025 = 750.
    let out = run(&a);
    assert!(out.contains("Total platform cost: 750.0000 USD"), "{out}");
    assert!(!out.contains("days 0-"), "{out}");
    // Recategorised as marketing on day 12: 12,000 × 0.025 + 18,000 × 0.0411 = 300 + 739.8.
    a.recategorise_on_day = Some(12);
    let out = run(&a);
    assert!(out.contains("Total platform cost: 1039.8000 USD"), "{out}");
    assert!(out.contains("order_update (days 0-11)"), "{out}");
    assert!(out.contains("order_update (days 12-29)"), "{out}");
    assert!(
        out.contains("recategorised utility → marketing on day 12"),
        "{out}"
    );
    // Day 0: everything at the marketing rate (30,000 × 0.0411).
    a.recategorise_on_day = Some(0);
    assert!(run(&a).contains("Total platform cost: 1233.0000 USD"));
    // Outside the plan's days, or without --days: refused, naming the field.
    a.recategorise_on_day = Some(30);
    let e = try_run(&a).unwrap_err();
    assert!(
        e.contains("recategorise.on_day: day 30 is not inside"),
        "{e}"
    );
    a.recategorise_on_day = Some(3);
    a.recategorise_to = Some("authentication".into());
    let e = try_run(&a).unwrap_err();
    assert!(e.contains("only to marketing or utility"), "{e}");
}

#[test]
fn plan_recategorisation_field_and_flag() {
    let plan = "model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"\n\n[[send]]\ntemplate = \"spring_sale\"\ncategory = \"marketing\"\nmarket = \"ID\"\nmessages = 3000\ndays = 30\n\n[[send]]\ntemplate = \"order_update\"\ncategory = \"utility\"\nmarket = \"ID\"\nmessages = 30000\ndays = 30\n";
    // The flag recategorises the utility line only: 3,000 × 0.0411 + 12,000 × 0.025 +
    // 18,000 × 0.0411 = 123.3 + 300 + 739.8.
    let p = temp_file("recat-flag.toml", plan);
    let mut a = plan_args(p.clone());
    let out = run(&a);
    assert!(out.contains("Total platform cost: 873.3000 USD"), "{out}");
    a.recategorise_on_day = Some(12);
    let out = run(&a);
    assert!(out.contains("Total platform cost: 1163.1000 USD"), "{out}");
    assert!(!out.contains("spring_sale (days"), "{out}");
    // --template names a line that is not utility: nothing to recategorise.
    a.template = Some("spring_sale".into());
    let e = try_run(&a).unwrap_err();
    assert!(
        e.contains("no utility line of template `spring_sale`"),
        "{e}"
    );

    // The same as a plan field.
    let with_field = format!("{plan}recategorise = {{ to = \"marketing\", on_day = 12 }}\n");
    let out = run(&plan_args(temp_file("recat-field.toml", &with_field)));
    assert!(out.contains("Total platform cost: 1163.1000 USD"), "{out}");
    // Errors name the file, the line, the column and the field.
    let bad = format!("{plan}recategorise = {{ to = \"marketing\", on_day = 30 }}\n");
    let f = temp_file("recat-bad.toml", &bad);
    let e = try_run(&plan_args(f.clone())).unwrap_err();
    assert!(
        e.contains(&format!(
            "{}:17:45: field `recategorise.on_day`",
            f.display()
        )),
        "{e}"
    );
    let bad = format!("{plan}recategorise = {{ to = \"utility\", on_day = 3 }}\n");
    let f = temp_file("recat-same.toml", &bad);
    let e = try_run(&plan_args(f.clone())).unwrap_err();
    assert!(
        e.contains(&format!(
            "{}:17:23: field `recategorise.to`: the line is already `utility`",
            f.display()
        )),
        "{e}"
    );
}
