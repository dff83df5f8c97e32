//! Charging rules at the engine level, with a manual clock: each rule firing and not firing.

use crate::clock::{SimTime, MICROS_PER_HOUR, MICROS_PER_SEC};
use crate::engine::events::{Billing, DeliveryStatus, EventBody};
use crate::engine::ids::{BusinessId, PhoneNumberId, WaId};
use crate::engine::message::Outbound;
use crate::engine::templates::{TemplateParam, TemplateSend};
use crate::engine::{Effects, Portfolios};
use crate::pricing::{Amount, Category, PricingModelId, PricingType, RateBook, RateColumn};
use crate::scenario::Scenario;

const BIZ: BusinessId = BusinessId(1);
const PHONE: PhoneNumberId = PhoneNumberId(100);
const USER: WaId = WaId(6281300000001);
const OTHER_USER: WaId = WaId(6281300000002);
const NOT_ON_WA: WaId = WaId(6289999999999);
/// 2026-01-15 12:00 UTC.
const T0: SimTime = SimTime(1_768_478_400 * MICROS_PER_SEC);

const WORLD: &str = r#"
seed = 7
[[businesses]]
id = "1"
name = "Toko"
tokens = ["tok"]
[[businesses.wabas]]
id = "10"
currency = "USD"
[[businesses.wabas.phone_numbers]]
id = "100"
display_phone_number = "+62 812-0000-0001"
verified_name = "Toko"
[[businesses.wabas.templates]]
name = "promo"
language = "id"
category = "MARKETING"
body = "Halo {{1}}"
[[businesses.wabas.templates]]
name = "order_update"
language = "id"
category = "UTILITY"
body = "Pesanan {{1}}"
[audience]
not_on_whatsapp_ratio = 0.0
not_on_whatsapp = ["6289999999999"]
read_ratio = 0.0
# A quiet audience: nobody replies, blocks or opts out, so every message reaches a final status.
[audience.profiles.marketing]
opt_in_ratio = 1.0
[audience.profiles.utility]
opt_in_ratio = 1.0
[audience.profiles.authentication]
opt_in_ratio = 1.0
[audience.profiles.service]
opt_in_ratio = 1.0
"#;

/// A scenario's world (its rules, policy, pricing and seed), built at `now`.
fn scenario_world(sc: &Scenario, now: SimTime) -> Portfolios {
    Portfolios::new(
        &sc.valid_world("test.toml")
            .expect("the test's world is valid"),
        now,
    )
}

/// An engine for the test world with `pricing` as the scenario's `[pricing]` body.
fn engine(pricing: &str) -> Portfolios {
    let text = format!("{WORLD}\n[pricing]\n{pricing}\n");
    let sc = Scenario::parse(&text, "test.toml").expect("scenario parses");
    scenario_world(&sc, T0)
}

fn tpl(name: &str) -> TemplateSend {
    TemplateSend {
        name: name.into(),
        language: "id".into(),
        header: vec![],
        body: vec![TemplateParam {
            name: None,
            text: Some("Ayu".into()),
        }],
    }
}

/// Sends a template at `at` and fires every timer up to an hour later; returns the billing of
/// the `sent` and the `delivered`/`failed` statuses.
fn send_and_settle(e: &Portfolios, at: SimTime, to: WaId, template: &str) -> (Billing, Billing) {
    let mut fx = Effects::default();
    e.send(
        at,
        BIZ,
        PHONE,
        &Outbound::template(to, tpl(template)),
        &mut fx,
    )
    .expect("accepted");
    settle(e, at, &mut fx)
}

/// Fires every timer up to an hour after the send. The engine keeps each number's time
/// monotonic, so a send "at" an instant before the last settle happens at that settle: the
/// hour counts from the `sent` status's own time.
fn settle(e: &Portfolios, at: SimTime, fx: &mut Effects) -> (Billing, Billing) {
    let sent_at = fx.events.first().map_or(at, |ev| ev.at);
    e.handle_timeouts(sent_at.plus(MICROS_PER_HOUR), fx);
    statuses(fx)
}

fn send_text_and_settle(e: &Portfolios, at: SimTime, to: WaId) -> (Billing, Billing) {
    let mut fx = Effects::default();
    e.send(at, BIZ, PHONE, &Outbound::text(to, "hi"), &mut fx)
        .expect("accepted");
    settle(e, at, &mut fx)
}

fn statuses(fx: &Effects) -> (Billing, Billing) {
    let mut sent = None;
    let mut last = None;
    for ev in &fx.events {
        if let EventBody::Status { info, status, .. } = &ev.body {
            match status {
                DeliveryStatus::Sent => sent = Some(info.billing),
                DeliveryStatus::Delivered | DeliveryStatus::Failed => last = Some(info.billing),
                DeliveryStatus::Read => {}
            }
        }
    }
    (
        sent.expect("a sent status"),
        last.unwrap_or_else(|| panic!("a final status: {:#?}", fx.events)),
    )
}

fn user_writes(e: &Portfolios, at: SimTime, from: WaId, from_ad: bool) {
    let mut fx = Effects::default();
    if from_ad {
        e.inbound_from_ad(at, PHONE, from, "halo", &mut fx).unwrap();
    } else {
        e.inbound(at, PHONE, from, "halo", &mut fx).unwrap();
    }
}

fn rate(card: &str, number: &str, column: RateColumn) -> Amount {
    let book = RateBook::embedded().unwrap();
    let c = book.get(card).unwrap();
    c.market_for_number(number).unwrap().rate(column).unwrap()
}

#[test]
fn delivered_marketing_template_is_one_ledger_line_at_the_cards_rate() {
    let e = engine("model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"");
    let mut fx = Effects::default();
    e.send(
        T0,
        BIZ,
        PHONE,
        &Outbound::template(USER, tpl("promo")),
        &mut fx,
    )
    .unwrap();
    // Sent but not delivered: priced for the webhook, not charged.
    assert_eq!(e.cost_summary().lines_total, 0);
    e.handle_timeouts(T0.plus(MICROS_PER_HOUR), &mut fx);
    let (sent, delivered) = statuses(&fx);
    let page = e.ledger_page(0, 100);
    assert_eq!(page.lines.len(), 1);
    let line = &page.lines[0];
    let expected = rate("pmp-2026-01", "6281300000001", RateColumn::Marketing);
    assert_eq!(expected, "0.0411".parse().unwrap());
    assert_eq!(line.amount, expected);
    assert_eq!(&*line.market, "Indonesia");
    assert_eq!(&*line.card, "pmp-2026-01");
    assert_eq!(line.category, Category::Marketing);
    assert_eq!(line.pricing_type, PricingType::Regular);
    assert!(line.billable);
    // The delivered webhook carries exactly the ledger's charge; the sent one agrees.
    assert_eq!(delivered.model, Some(PricingModelId::Pmp2025_07));
    assert_eq!(
        (
            delivered.category,
            delivered.pricing_type,
            delivered.billable
        ),
        (line.category, line.pricing_type, line.billable)
    );
    assert_eq!(
        delivered.conversation.map(|c| c.id),
        line.conversation_id,
        "conversation id of the webhook is the ledger line's"
    );
    assert_eq!(sent.conversation.map(|c| c.id), line.conversation_id);
    assert_eq!(e.cost_summary().amount("USD"), expected);
}

#[test]
fn utility_in_an_open_window_is_free_until_october_2026_then_charged() {
    // pmp-2025-07: free inside the window, charged outside it.
    let e = engine("model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"");
    user_writes(&e, T0, USER, false);
    let (_, d) = send_and_settle(&e, T0.plus(60 * MICROS_PER_SEC), USER, "order_update");
    assert_eq!(d.pricing_type, PricingType::FreeCustomerService);
    assert!(!d.billable);
    let (_, d) = send_and_settle(&e, T0.plus(60 * MICROS_PER_SEC), OTHER_USER, "order_update");
    assert_eq!(d.pricing_type, PricingType::Regular);
    let s = e.cost_summary();
    assert_eq!(
        s.amount("USD"),
        rate("pmp-2026-01", "6281300000002", RateColumn::Utility)
    );
    assert_eq!(s.lines_total, 2);

    // pmp-2026-10: charged inside the window too, at the card's utility rate.
    let e = engine("model = \"pmp-2026-10\"\ncard = \"pmp-2026-10\"");
    user_writes(&e, T0, USER, false);
    let (_, d) = send_and_settle(&e, T0.plus(60 * MICROS_PER_SEC), USER, "order_update");
    assert_eq!(d.pricing_type, PricingType::Regular);
    assert!(d.billable);
    assert_eq!(
        e.cost_summary().amount("USD"),
        rate("pmp-2026-10", "6281300000001", RateColumn::Utility)
    );
    // ...and so is a free-form service reply (utility rate: the card has no service column).
    let (_, d) = send_text_and_settle(&e, T0.plus(120 * MICROS_PER_SEC), USER);
    assert_eq!(
        (d.category, d.pricing_type),
        (Category::Service, PricingType::Regular)
    );
    assert_eq!(e.cost_summary().lines_total, 2);
}

#[test]
fn failed_messages_are_not_charged() {
    let e = engine("model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"");
    let (sent, failed) = send_and_settle(&e, T0, NOT_ON_WA, "promo");
    assert_eq!(
        sent.pricing_type,
        PricingType::Regular,
        "sent shows the preview"
    );
    assert_eq!(
        failed.model, sent.model,
        "the failed status keeps the send-time billing, which the payload never writes"
    );
    let s = e.cost_summary();
    assert_eq!((s.lines_total, s.amount("USD")), (0, Amount::ZERO));
    // The same message to a reachable user is charged (the rule does not fire).
    send_and_settle(&e, T0, USER, "promo");
    assert_eq!(e.cost_summary().lines_total, 1);
}

#[test]
fn cbp_conversation_is_charged_once_for_several_messages_in_24_hours() {
    let e = engine("model = \"cbp-2023\"\ncard = \"cbp-2024-10\"");
    let mut ids = Vec::new();
    for k in 0..3 {
        let (sent, d) = send_and_settle(&e, T0.plus(k * 600 * MICROS_PER_SEC), USER, "promo");
        assert_eq!(d.model, Some(PricingModelId::Cbp2023));
        assert_eq!(
            sent.conversation.map(|c| c.id),
            d.conversation.map(|c| c.id)
        );
        ids.push(d.conversation.unwrap().id);
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one conversation");
    let page = e.ledger_page(0, 100);
    let amounts: Vec<Amount> = page.lines.iter().map(|l| l.amount).collect();
    let r = rate("cbp-2024-10", "6281300000001", RateColumn::Marketing);
    assert_eq!(amounts, vec![r, Amount::ZERO, Amount::ZERO]);
    assert_eq!(page.summary.totals.len(), 1);
    assert_eq!(
        (
            page.summary.totals[0].messages,
            page.summary.totals[0].units
        ),
        (3, 1)
    );
    // 25 h later the conversation has closed: the next template opens and pays a new one.
    let (_, d) = send_and_settle(&e, T0.plus(25 * MICROS_PER_HOUR), USER, "promo");
    assert_ne!(d.conversation.unwrap().id, ids[0]);
    assert_eq!(e.cost_summary().amount("USD"), r.plus(r));
}

#[test]
fn a_reply_to_an_ad_user_is_free_for_72_hours() {
    let e = engine("model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"");
    user_writes(&e, T0, USER, true);
    user_writes(&e, T0, OTHER_USER, false);
    let t1 = T0.plus(MICROS_PER_HOUR);
    let (_, d) = send_text_and_settle(&e, t1, USER);
    assert_eq!(
        (d.category, d.pricing_type, d.billable),
        (
            Category::ReferralConversion,
            PricingType::FreeEntryPoint,
            false
        )
    );
    assert!(
        d.conversation.is_some(),
        "a free entry point has its conversation"
    );
    // Not from an ad: the same kind of reply is an ordinary service message.
    let (_, d) = send_text_and_settle(&e, t1.plus(MICROS_PER_SEC), OTHER_USER);
    assert_eq!(d.pricing_type, PricingType::FreeCustomerService);
    // A marketing template two days later is still inside the window: free.
    let (_, d) = send_and_settle(&e, t1.plus(48 * MICROS_PER_HOUR), USER, "promo");
    assert_eq!(d.pricing_type, PricingType::FreeEntryPoint);
    // After 72 h the window is over.
    let (_, d) = send_and_settle(&e, t1.plus(73 * MICROS_PER_HOUR), USER, "promo");
    assert_eq!(d.pricing_type, PricingType::Regular);
}

#[test]
fn a_reply_after_24_hours_does_not_open_a_free_entry_point() {
    let e = engine("model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"");
    user_writes(&e, T0, USER, true);
    let (_, d) = send_and_settle(&e, T0.plus(25 * MICROS_PER_HOUR), USER, "promo");
    assert_eq!(d.pricing_type, PricingType::Regular);
}

#[test]
fn bounded_ledger_keeps_exact_totals_and_pages_by_line_number() {
    let e = engine("model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"\nledger_lines = 2");
    for k in 0..5u64 {
        send_and_settle(&e, T0.plus(k * MICROS_PER_SEC), WaId(USER.0 + k), "promo");
    }
    let s = e.cost_summary();
    assert_eq!((s.lines_total, s.lines_kept, s.lines_evicted), (5, 2, 3));
    let r = rate("pmp-2026-01", "6281300000001", RateColumn::Marketing);
    assert_eq!(s.amount("USD"), Amount(r.micros() * 5));
    let page = e.ledger_page(0, 1);
    assert_eq!(page.lines.len(), 1);
    assert_eq!(page.lines[0].seq, 4);
    assert!(page.more);
    let page = e.ledger_page(page.next, 10);
    assert_eq!(
        page.lines.iter().map(|l| l.seq).collect::<Vec<_>>(),
        vec![5]
    );
    assert!(!page.more);
}

/// With several WABAs each ledger numbers its own lines, and the page lists the WABAs one after
/// the other: following `next` from 0 returns every line once.
#[test]
fn ledger_pages_walk_the_wabas_in_id_order() {
    use super::{Charging, MessageRef, PriceFacts};
    use crate::engine::ids::WabaId;
    let sc = Scenario::parse(
        &format!("{WORLD}\n[pricing]\nmodel = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"\n"),
        "test.toml",
    )
    .expect("scenario parses");
    let book = super::embedded_book().expect("embedded cards");
    let mut c = Charging::new(
        book,
        &sc.pricing,
        [(WabaId(20), "USD"), (WabaId(10), "USD")],
    )
    .expect("charging");
    let facts = PriceFacts {
        category: Category::Marketing,
        csw_open: false,
        fep_open: false,
    };
    for k in 0..5u64 {
        let waba = WabaId(if k % 2 == 0 { 20 } else { 10 });
        let m = MessageRef {
            waba,
            phone: 100,
            recipient: WaId(USER.0 + k),
            key: k,
        };
        let now = T0.plus(k * MICROS_PER_SEC);
        c.price(now, m, facts, false, now);
        c.price(now.plus(MICROS_PER_SEC), m, facts, true, now);
    }
    let page_of = |since, limit| {
        let ledgers = c.ledgers().map(|(_, l)| l);
        super::ledger_page(ledgers, since, limit, Default::default())
    };
    let mut seen = Vec::new();
    let mut since = 0;
    loop {
        let page = page_of(since, 2);
        seen.extend(page.lines.iter().map(|l| (l.waba_id, l.message_key, l.seq)));
        since = page.next;
        if !page.more {
            break;
        }
    }
    let keys: Vec<(u64, u64)> = seen.iter().map(|&(w, k, _)| (w, k)).collect();
    assert_eq!(keys, vec![(10, 1), (10, 3), (20, 0), (20, 2), (20, 4)]);
    assert!(seen.windows(2).all(|w| w[0].2 < w[1].2), "{seen:?}");
    assert_eq!(
        (seen[0].2, seen[1].2),
        (1, 2),
        "the first WABA's own numbers"
    );
    assert_eq!(page_of(since, 10).lines.len(), 0);
    assert_eq!(page_of(0, 10).lines.len(), 5);
}

#[test]
fn markup_gives_bsp_price_and_margin() {
    let e = engine(
        "model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"\n[pricing.markup]\nfixed_per_message = \"0.001\"\n[pricing.markup.category.marketing]\npercent = 10",
    );
    send_and_settle(&e, T0, USER, "promo");
    let s = e.cost_summary();
    assert!(s.markup);
    let c = &s.by_currency["USD"];
    // 0.0411 + 0.001 + 10 % of 0.0411
    assert_eq!(c.bsp_price, "0.04621".parse().unwrap());
    assert_eq!(c.margin, "0.00511".parse().unwrap());
}

#[test]
fn default_pricing_follows_the_calendar_and_same_seed_gives_the_same_costs() {
    let run = || {
        let e = engine("");
        user_writes(&e, T0, USER, false);
        send_and_settle(&e, T0, USER, "order_update");
        send_and_settle(&e, T0.plus(MICROS_PER_SEC), OTHER_USER, "promo");
        serde_json::to_string(&e.ledger_page(0, 100)).unwrap()
    };
    let a = run();
    assert_eq!(a, run());
    // 2026-01-15 is under pmp-2025-07, priced with the complete January 2026 card.
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["lines"][0]["model"], "pmp-2025-07");
    assert_eq!(v["lines"][0]["card"], "pmp-2026-01");
    assert_eq!(v["lines"][0]["type"], "free_customer_service");
    assert_eq!(v["summary"]["by_currency"]["USD"]["amount"], "0.0411");
}

// ----- Template recategorisation (template_category_update) ---------------------------------

const DAY: u64 = 24 * MICROS_PER_HOUR;

/// The test world with `order_update` (UTILITY) recategorised as `recategorise` says (`None`:
/// not at all), `policy` as the scenario's `[policy]` body.
fn recategorised_engine(recategorise: Option<&str>, policy: &str) -> Portfolios {
    let line = "body = \"Pesanan {{1}}\"";
    let world = match recategorise {
        Some(r) => WORLD.replace(line, &format!("{line}\nrecategorise = {r}")),
        None => WORLD.to_string(),
    };
    let text = format!(
        "{world}\n[policy]\n{policy}\n[pricing]\nmodel = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"\n"
    );
    let sc = Scenario::parse(&text, "test.toml").expect("scenario parses");
    scenario_world(&sc, T0)
}

fn category_updates(fx: &Effects) -> Vec<(SimTime, crate::engine::events::CategoryChange)> {
    fx.events
        .iter()
        .filter_map(|ev| match &ev.body {
            EventBody::TemplateCategoryUpdate { change, .. } => Some((ev.at, *change)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_recategorised_utility_template_is_priced_as_marketing_from_the_day_it_changes() {
    use crate::engine::events::CategoryChange;
    use crate::engine::world::TemplateCategory;
    let e = recategorised_engine(Some("{ to = \"MARKETING\", on = \"day 2\" }"), "");
    let utility = rate("pmp-2026-01", "6281300000001", RateColumn::Utility);
    let marketing = rate("pmp-2026-01", "6281300000001", RateColumn::Marketing);
    assert_ne!(utility, marketing);
    // Day 0: utility.
    let (_, d) = send_and_settle(&e, T0, USER, "order_update");
    assert_eq!(d.category, Category::Utility);
    assert_eq!(e.cost_summary().amount("USD"), utility);
    // The notice goes out one day before the change (Meta's 24 h), the change on day 2.
    let mut fx = Effects::default();
    e.handle_timeouts(T0.plus(2 * DAY), &mut fx);
    assert_eq!(
        category_updates(&fx),
        vec![
            (
                T0.plus(DAY),
                CategoryChange::Notice {
                    correct: TemplateCategory::Marketing,
                    effective: T0.plus(2 * DAY)
                }
            ),
            (
                T0.plus(2 * DAY),
                CategoryChange::Done {
                    previous: TemplateCategory::Utility
                }
            ),
        ]
    );
    let (_, d) = send_and_settle(&e, T0.plus(2 * DAY), OTHER_USER, "order_update");
    assert_eq!(d.category, Category::Marketing);
    assert_eq!(e.cost_summary().amount("USD"), utility.plus(marketing));
    let views = e.templates(BIZ, crate::engine::ids::WabaId(10)).unwrap();
    let t = views.iter().find(|t| t.name == "order_update").unwrap();
    assert_eq!(t.category, TemplateCategory::Marketing);
    assert_eq!(t.previous_category, Some(TemplateCategory::Utility));
    assert_eq!(t.correct_category, None);
}

#[test]
fn without_a_recategorisation_the_template_stays_utility() {
    let e = recategorised_engine(None, "");
    let mut fx = Effects::default();
    e.handle_timeouts(T0.plus(3 * DAY), &mut fx);
    assert!(category_updates(&fx).is_empty());
    let (_, d) = send_and_settle(&e, T0.plus(3 * DAY), USER, "order_update");
    assert_eq!(d.category, Category::Utility);
    assert_eq!(
        e.cost_summary().amount("USD"),
        rate("pmp-2026-01", "6281300000001", RateColumn::Utility)
    );
}

#[test]
fn a_message_sent_before_the_change_keeps_its_category_when_delivered_after_it() {
    let e = recategorised_engine(
        Some("{ to = \"MARKETING\", on = \"day 1\", notice_hours = 0 }"),
        "",
    );
    let mut fx = Effects::default();
    e.send(
        T0.plus(DAY - MICROS_PER_SEC),
        BIZ,
        PHONE,
        &Outbound::template(USER, tpl("order_update")),
        &mut fx,
    )
    .unwrap();
    e.handle_timeouts(T0.plus(DAY + MICROS_PER_HOUR), &mut fx);
    let (_, d) = statuses(&fx);
    assert_eq!(
        d.category,
        Category::Utility,
        "priced at the category of use"
    );
    // No notice with notice_hours = 0: only the completed form.
    assert!(matches!(
        category_updates(&fx).as_slice(),
        [(_, crate::engine::events::CategoryChange::Done { .. })]
    ));
}

#[test]
fn a_recategorised_template_counts_towards_the_per_user_marketing_limit() {
    let policy = "per_user_marketing = [1, 1]";
    let failed = |fx: &Effects| {
        fx.events
            .iter()
            .filter(|ev| {
                matches!(
                    &ev.body,
                    EventBody::Status {
                        status: DeliveryStatus::Failed,
                        ..
                    }
                )
            })
            .count()
    };
    // Not recategorised: two utility templates to one user in a day both go.
    let e = recategorised_engine(None, policy);
    let mut fx = Effects::default();
    e.handle_timeouts(T0.plus(DAY), &mut fx);
    for i in 0..2 {
        e.send(
            T0.plus(DAY + i * MICROS_PER_SEC),
            BIZ,
            PHONE,
            &Outbound::template(USER, tpl("order_update")),
            &mut fx,
        )
        .unwrap();
    }
    e.handle_timeouts(T0.plus(DAY + MICROS_PER_HOUR), &mut fx);
    assert_eq!(failed(&fx), 0);
    // Recategorised as MARKETING on day 1: the second one to the same user that day is over
    // the per-user marketing limit (131049).
    let e = recategorised_engine(Some("{ to = \"MARKETING\", on = \"day 1\" }"), policy);
    let mut fx = Effects::default();
    e.handle_timeouts(T0.plus(DAY), &mut fx);
    for i in 0..2 {
        e.send(
            T0.plus(DAY + i * MICROS_PER_SEC),
            BIZ,
            PHONE,
            &Outbound::template(USER, tpl("order_update")),
            &mut fx,
        )
        .unwrap();
    }
    e.handle_timeouts(T0.plus(DAY + MICROS_PER_HOUR), &mut fx);
    assert_eq!(failed(&fx), 1);
}

#[test]
fn ordering_a_recategorisation_announces_it_and_refuses_what_meta_would_not_do() {
    use crate::engine::ids::TemplateId;
    use crate::engine::world::TemplateCategory;
    let e = recategorised_engine(None, "");
    let id = e
        .templates(BIZ, crate::engine::ids::WabaId(10))
        .unwrap()
        .iter()
        .find(|t| t.name == "order_update")
        .unwrap()
        .id;
    let mut fx = Effects::default();
    // Refused: already UTILITY; AUTHENTICATION; an unknown template.
    for (t, to) in [
        (id, TemplateCategory::Utility),
        (id, TemplateCategory::Authentication),
        (TemplateId(987654), TemplateCategory::Marketing),
    ] {
        assert!(e.order_recategorisation(T0, t, to, 24, &mut fx).is_err());
    }
    assert!(category_updates(&fx).is_empty());
    let at = e
        .order_recategorisation(T0, id, TemplateCategory::Marketing, 24, &mut fx)
        .unwrap();
    assert_eq!(at, T0.plus(DAY));
    assert_eq!(category_updates(&fx).len(), 1, "the notice at once");
    let (_, d) = send_and_settle(&e, T0.plus(DAY - MICROS_PER_HOUR * 2), USER, "order_update");
    assert_eq!(
        d.category,
        Category::Utility,
        "still utility before it takes effect"
    );
    let mut fx = Effects::default();
    e.handle_timeouts(T0.plus(DAY), &mut fx);
    assert_eq!(category_updates(&fx).len(), 1, "the completed change");
    let (_, d) = send_and_settle(&e, T0.plus(DAY), OTHER_USER, "order_update");
    assert_eq!(d.category, Category::Marketing);
}

#[test]
fn recategorisations_that_meta_would_not_make_are_refused_with_their_field() {
    let bad = |r: &str| {
        let line = "body = \"Pesanan {{1}}\"";
        let text = WORLD.replace(line, &format!("{line}\nrecategorise = {r}"));
        Scenario::parse(&text, "s.toml").unwrap_err().to_string()
    };
    let e = bad("{ to = \"UTILITY\", on = \"day 2\" }");
    assert!(
        e.contains("s.toml: businesses[0].wabas[0].templates[1].recategorise.to: the template is already UTILITY"),
        "{e}"
    );
    let e = bad("{ to = \"AUTHENTICATION\", on = \"day 2\" }");
    assert!(
        e.contains("recategorise.to: Meta recategorises only"),
        "{e}"
    );
    // A bad day is a parse error with the line.
    let e = bad("{ to = \"MARKETING\", on = \"tomorrow\" }");
    assert!(e.starts_with("s.toml:24:41: "), "{e}");
    assert!(e.contains("recategorise.on: `tomorrow`"), "{e}");
    // Accepted: a date, a day.
    let line = "body = \"Pesanan {{1}}\"";
    for r in [
        "{ to = \"MARKETING\", on = \"2026-01-20\" }",
        "{ to = \"MARKETING\", on = \"day 0\", notice_hours = 0 }",
    ] {
        let text = WORLD.replace(line, &format!("{line}\nrecategorise = {r}"));
        Scenario::parse(&text, "s.toml").unwrap_or_else(|e| panic!("{r}: {e}"));
    }
}

// ----- Volume tiers: portfolio-wide counting and the tier webhook ---------------------------

/// The test world plus a second WABA (its own number) in the same portfolio.
fn two_waba_engine(pricing: &str, now: SimTime) -> Portfolios {
    let second = r#"
[[businesses.wabas]]
id = "20"
currency = "USD"
[[businesses.wabas.phone_numbers]]
id = "200"
display_phone_number = "+62 812-0000-0002"
verified_name = "Toko"
[[businesses.wabas.templates]]
name = "order_update"
language = "id"
category = "UTILITY"
body = "Pesanan {{1}}"
"#;
    let world = WORLD.replace("[audience]", &format!("{second}\n[audience]"));
    let text = format!("{world}\n[pricing]\n{pricing}\n");
    let sc = Scenario::parse(&text, "test.toml").expect("scenario parses");
    scenario_world(&sc, now)
}

/// Sends `order_update` to `n` distinct users from each number in turn; returns the
/// `VOLUME_BASED_PRICING_TIER_UPDATE` events (WABA, band) and the utility amounts charged.
fn utility_from_both_wabas(e: &Portfolios, at: SimTime, n: u64) -> (Vec<(u64, String)>, Amount) {
    let mut fx = Effects::default();
    for i in 0..n {
        let phone = if i % 2 == 0 {
            PHONE
        } else {
            PhoneNumberId(200)
        };
        e.send(
            at.plus(i * MICROS_PER_SEC),
            BIZ,
            phone,
            &Outbound::template(WaId(6281300001000 + i), tpl("order_update")),
            &mut fx,
        )
        .expect("accepted");
    }
    e.handle_timeouts(at.plus(MICROS_PER_HOUR), &mut fx);
    let tiers = fx
        .events
        .iter()
        .filter_map(|ev| match &ev.body {
            EventBody::VolumeTier(t) => Some((ev.waba.0, t.tier.band())),
            _ => None,
        })
        .collect();
    (tiers, e.cost_summary().amount("USD"))
}

const TIERS: &str = "[[pricing.tiers.utility]]\nfrom = 1\ndiscount = 0\n[[pricing.tiers.utility]]\nfrom = 3\ndiscount = 10\n";

#[test]
fn volume_tiers_count_over_the_portfolios_wabas_and_announce_the_new_tier_to_each() {
    let e = two_waba_engine(
        &format!("model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"\n{TIERS}"),
        T0,
    );
    let (tiers, amount) = utility_from_both_wabas(&e, T0, 4);
    // The portfolio's 3rd utility message (from WABA 10) enters tier 2: one webhook per WABA.
    assert_eq!(tiers, vec![(10, "3:".to_string()), (20, "3:".to_string())]);
    // 2 × 0.025 + 2 × 0.0225.
    assert_eq!(amount, "0.095".parse().unwrap());
    let rows = e.cost_summary().totals;
    assert!(
        rows.iter()
            .any(|r| r.tier.is_some_and(|t| t.index == 2) && r.messages == 2),
        "{rows:?}"
    );
}

#[test]
fn no_tier_webhook_without_bands_or_before_october_2025() {
    // No bands: list rate, no event.
    let e = two_waba_engine("model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"", T0);
    let (tiers, amount) = utility_from_both_wabas(&e, T0, 4);
    assert!(tiers.is_empty());
    assert_eq!(amount, "0.1".parse().unwrap());
    // Bands in September 2025: the discount applies, but Meta's webhook started on
    // 2025-10-01.
    let september = "2025-09-15"
        .parse::<crate::pricing::Date>()
        .unwrap()
        .midnight(0);
    let e = two_waba_engine(
        &format!("model = \"pmp-2025-07\"\ncard = \"pmp-2026-01\"\n{TIERS}"),
        september,
    );
    let (tiers, amount) = utility_from_both_wabas(&e, september, 4);
    assert!(tiers.is_empty());
    assert_eq!(amount, "0.095".parse().unwrap());
}
