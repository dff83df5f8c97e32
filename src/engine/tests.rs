//! Engine rules with a manual clock: each rule firing and not firing.

use super::harness::*;
use super::number::{TimerKind, SWEEP_MIN_LEN};
use super::*;
use crate::clock::{MICROS_PER_HOUR, MICROS_PER_SEC};
use templates::{TemplateParam, TemplateSend};
use world::*;

const BIZ: BusinessId = BusinessId(1);
const OTHER_BIZ: BusinessId = BusinessId(2);
const PHONE: PhoneNumberId = PhoneNumberId(100);
const OTHER_PHONE: PhoneNumberId = PhoneNumberId(200);
const WABA: WabaId = WabaId(10);
const T0: SimTime = SimTime(1_760_000_000 * MICROS_PER_SEC);

fn tpl(
    name: &str,
    lang: &str,
    cat: TemplateCategory,
    status: TemplateStatus,
    body: &str,
) -> TemplateSpec {
    TemplateSpec {
        status,
        ..TemplateSpec::new(name, lang, cat, body)
    }
}

fn number(id: PhoneNumberId, status: NumberStatus, mps: Option<u32>) -> PhoneNumberSpec {
    PhoneNumberSpec {
        status,
        throughput_mps: mps,
        ..PhoneNumberSpec::new(id, &format!("+62 812-0000-{:04}", id.0), "Toko")
    }
}

/// Two retail businesses in Indonesia, one number each; the first has five templates.
pub(super) fn world_with(status: NumberStatus, mps: Option<u32>) -> WorldSpec {
    use TemplateCategory::*;
    use TemplateStatus::*;
    WorldSpec {
        businesses: vec![
            BusinessSpec {
                tokens: vec!["tok".into()],
                wabas: vec![WabaSpec {
                    name: "w".into(),
                    phone_numbers: vec![number(PHONE, status, mps)],
                    templates: vec![
                        tpl("hello_world", "en_US", Utility, Approved, "Hello World"),
                        tpl("promo", "id", Marketing, Approved, "Halo {{1}}"),
                        tpl("paused_one", "en_US", Marketing, Paused, "x"),
                        tpl("disabled_one", "en_US", Marketing, Disabled, "x"),
                        tpl("pending_one", "en_US", Utility, Pending, "x"),
                    ],
                    ..WabaSpec::new(WABA)
                }],
                ..BusinessSpec::new(BIZ, "Toko Sepatu")
            },
            BusinessSpec {
                tokens: vec!["other".into()],
                wabas: vec![WabaSpec {
                    name: "w2".into(),
                    phone_numbers: vec![number(OTHER_PHONE, NumberStatus::Connected, None)],
                    ..WabaSpec::new(WabaId(20))
                }],
                ..BusinessSpec::new(OTHER_BIZ, "Other")
            },
        ],
        audience: audience::AudienceSpec {
            not_on_whatsapp_ratio: 0.0,
            not_on_whatsapp: vec!["6289999999999".into()],
            read_ratio: 1.0,
            ..Default::default()
        },
    }
}

fn engine() -> Portfolios {
    build_world(
        &world_with(NumberStatus::Connected, None),
        RulesConfig::default(),
        42,
        T0,
    )
    .unwrap()
}

fn send_tpl(name: &str, lang: &str, params: &[&str]) -> TemplateSend {
    TemplateSend {
        name: name.into(),
        language: lang.into(),
        header: vec![],
        body: params
            .iter()
            .map(|p| TemplateParam {
                name: None,
                text: Some(p.to_string()),
            })
            .collect(),
    }
}

const USER: WaId = WaId(6281300000001);

fn code(r: Result<SendReceipt, Rejection>) -> Option<u32> {
    r.err().map(|e| e.code.code())
}

#[test]
fn template_send_accepted_emits_sent_then_delivered_then_read() {
    let e = engine();
    let mut out = Effects::default();
    let r = e
        .send(
            T0,
            BIZ,
            PHONE,
            &Outbound::template(USER, send_tpl("hello_world", "en_US", &[])),
            &mut out,
        )
        .unwrap();
    assert_eq!(r.wa_id, USER);
    assert_eq!(out.events.len(), 1);
    assert!(
        matches!(&out.events[0].body, EventBody::Status { status: DeliveryStatus::Sent, info, .. }
        if info.billing.category == crate::pricing::Category::Utility && info.billing.pricing_type == crate::pricing::PricingType::Regular)
    );
    let wake = out.wake_at.expect("a delivered timer");
    assert_eq!(e.poll_timeout(), Some(wake));
    out.clear();
    e.handle_timeouts(wake, &mut out);
    assert!(matches!(
        &out.events[0].body,
        EventBody::Status {
            status: DeliveryStatus::Delivered,
            ..
        }
    ));
    out.clear();
    e.handle_timeouts(T0.plus(3_600 * MICROS_PER_SEC), &mut out);
    // (The world's PENDING template gets its review verdict in the same hour: skip it.)
    assert!(matches!(
        &out.events
            .iter()
            .find(|ev| matches!(ev.body, EventBody::Status { .. }))
            .expect("a status")
            .body,
        EventBody::Status {
            status: DeliveryStatus::Read,
            ..
        }
    ));
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn unknown_number_is_100_33_and_foreign_number_is_permission_error() {
    let e = engine();
    let mut out = Effects::default();
    let msg = Outbound::template(USER, send_tpl("hello_world", "en_US", &[]));
    let err = e
        .send(T0, BIZ, PhoneNumberId(999), &msg, &mut out)
        .unwrap_err();
    assert_eq!(
        (err.code, err.subcode),
        (ErrorCode::InvalidParameter, Some(33))
    );
    let err = e.send(T0, BIZ, OTHER_PHONE, &msg, &mut out).unwrap_err();
    assert_eq!(err.code, ErrorCode::PermissionError);
    assert!(e.send(T0, OTHER_BIZ, OTHER_PHONE, &msg, &mut out).is_err()); // no such template there
    assert!(out.events.is_empty());
}

#[test]
fn number_must_be_connected() {
    let mut out = Effects::default();
    let msg = Outbound::template(USER, send_tpl("hello_world", "en_US", &[]));
    for (status, expect) in [
        (NumberStatus::Connected, None),
        (NumberStatus::Flagged, None),
        (NumberStatus::Disconnected, Some(133010)),
        (NumberStatus::Pending, Some(133010)),
        (NumberStatus::Restricted, Some(368)),
    ] {
        let e = build_world(&world_with(status, None), RulesConfig::default(), 1, T0).unwrap();
        assert_eq!(
            code(e.send(T0, BIZ, PHONE, &msg, &mut out)),
            expect,
            "{status:?}"
        );
    }
}

#[test]
fn throughput_limit_fires_at_the_configured_rate_only() {
    let e = build_world(
        &world_with(NumberStatus::Connected, Some(10)),
        RulesConfig::default(),
        1,
        T0,
    )
    .unwrap();
    let mut out = Effects::default();
    // 10 different users in the same instant: the 11th send is over 10 msg/s.
    for i in 0..10 {
        let m = Outbound::template(WaId(USER.0 + i), send_tpl("hello_world", "en_US", &[]));
        assert!(e.send(T0, BIZ, PHONE, &m, &mut out).is_ok(), "send {i}");
    }
    let m = Outbound::template(WaId(USER.0 + 10), send_tpl("hello_world", "en_US", &[]));
    let err = e.send(T0, BIZ, PHONE, &m, &mut out).unwrap_err();
    assert_eq!(err.code, ErrorCode::ThroughputLimit);
    assert_eq!(err.rule, Some(Rule::Throughput));
    // 100 ms later (1/10 s) one more fits.
    assert!(e.send(T0.plus(100_000), BIZ, PHONE, &m, &mut out).is_ok());
}

#[test]
fn pair_rate_limit_fires_after_45_to_one_user_and_recovers_after_6s() {
    let rules = RulesConfig {
        throughput_mps: 1000,
        ..Default::default()
    };
    let e = build_world(&world_with(NumberStatus::Connected, None), rules, 1, T0).unwrap();
    let mut out = Effects::default();
    let m = Outbound::template(USER, send_tpl("hello_world", "en_US", &[]));
    for i in 0..45 {
        let t = T0.plus(i * 20_000); // 50 msg/s, within throughput
        assert!(e.send(t, BIZ, PHONE, &m, &mut out).is_ok(), "send {i}");
    }
    let t = T0.plus(45 * 20_000);
    assert_eq!(code(e.send(t, BIZ, PHONE, &m, &mut out)), Some(131056));
    // Another user is not affected.
    let other = Outbound::template(WaId(USER.0 + 1), send_tpl("hello_world", "en_US", &[]));
    assert!(e.send(t, BIZ, PHONE, &other, &mut out).is_ok());
    assert!(e
        .send(T0.plus(6 * MICROS_PER_SEC), BIZ, PHONE, &m, &mut out)
        .is_ok());
}

#[test]
fn free_form_needs_an_open_window() {
    let e = engine();
    let mut out = Effects::default();
    let text = Outbound::text(USER, "hi");
    let err = e.send(T0, BIZ, PHONE, &text, &mut out).unwrap_err();
    assert_eq!(
        (err.code, err.rule),
        (ErrorCode::ReEngagement, Some(Rule::ServiceWindow))
    );
    e.inbound(T0, PHONE, USER, "halo", &mut out).unwrap();
    assert!(e.window_open(T0, PHONE, USER));
    let r = e.send(T0.plus(1), BIZ, PHONE, &text, &mut out);
    assert!(r.is_ok());
    // Still open just before 24 h, closed at 24 h.
    let day = 24 * MICROS_PER_HOUR;
    assert!(e
        .send(T0.plus(day - 1), BIZ, PHONE, &text, &mut out)
        .is_ok());
    assert_eq!(
        code(e.send(T0.plus(day), BIZ, PHONE, &text, &mut out)),
        Some(131047)
    );
}

#[test]
fn window_errors_can_be_asynchronous() {
    let rules = RulesConfig {
        window_errors: config::ErrorTiming::Async,
        ..Default::default()
    };
    let e = build_world(&world_with(NumberStatus::Connected, None), rules, 1, T0).unwrap();
    let mut out = Effects::default();
    assert!(e
        .send(T0, BIZ, PHONE, &Outbound::text(USER, "hi"), &mut out)
        .is_ok());
    assert!(matches!(
        &out.events[0].body,
        EventBody::Status {
            status: DeliveryStatus::Failed,
            error: Some((ErrorCode::ReEngagement, _)),
            ..
        }
    ));
}

#[test]
fn service_messages_and_utility_in_window_are_free_marketing_is_not() {
    let e = engine();
    let mut out = Effects::default();
    e.inbound(T0, PHONE, USER, "halo", &mut out).unwrap();
    out.clear();
    e.send(T0, BIZ, PHONE, &Outbound::text(USER, "hi"), &mut out)
        .unwrap();
    e.send(
        T0,
        BIZ,
        PHONE,
        &Outbound::template(USER, send_tpl("hello_world", "en_US", &[])),
        &mut out,
    )
    .unwrap();
    e.send(
        T0,
        BIZ,
        PHONE,
        &Outbound::template(USER, send_tpl("promo", "id", &["Ayu"])),
        &mut out,
    )
    .unwrap();
    let billing: Vec<_> = out
        .events
        .iter()
        .map(|ev| match &ev.body {
            EventBody::Status { info, .. } => (
                info.billing.category.wire(),
                info.billing.pricing_type.wire(),
            ),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        billing,
        vec![
            ("service", "free_customer_service"),
            ("utility", "free_customer_service"),
            ("marketing", "regular")
        ]
    );
}

#[test]
fn template_rules_exist_language_status_params() {
    let e = engine();
    let mut out = Effects::default();
    let cases: [(&str, &str, &[&str], Option<u32>); 8] = [
        ("hello_world", "en_US", &[], None),
        ("nope", "en_US", &[], Some(132001)),
        ("hello_world", "id", &[], Some(132001)),
        ("pending_one", "en_US", &[], Some(132001)),
        ("paused_one", "en_US", &[], Some(132015)),
        ("disabled_one", "en_US", &[], Some(132016)),
        ("promo", "id", &[], Some(132000)),
        ("promo", "id", &["Ayu"], None),
    ];
    for (i, (name, lang, params, expect)) in cases.into_iter().enumerate() {
        let m = Outbound::template(WaId(USER.0 + i as u64), send_tpl(name, lang, params));
        assert_eq!(
            code(e.send(T0, BIZ, PHONE, &m, &mut out)),
            expect,
            "{name}/{lang}"
        );
    }
}

#[test]
fn recipient_not_on_whatsapp_fails_asynchronously_with_131026() {
    let e = engine();
    let mut out = Effects::default();
    let m = Outbound::template(WaId(6289999999999), send_tpl("hello_world", "en_US", &[]));
    assert!(e.send(T0, BIZ, PHONE, &m, &mut out).is_ok());
    out.clear();
    e.handle_timeouts(T0.plus(10 * MICROS_PER_SEC), &mut out);
    assert!(matches!(
        &out.events[0].body,
        EventBody::Status {
            status: DeliveryStatus::Failed,
            error: Some((ErrorCode::Undeliverable, _)),
            ..
        }
    ));
    assert!(out
        .decisions
        .iter()
        .any(|l| l.rule == Rule::RecipientOnWhatsapp && l.code == Some(ErrorCode::Undeliverable)));
}

#[test]
fn every_rejection_is_logged_with_its_rule() {
    let e = engine();
    let mut out = Effects::default();
    let _ = e.send(T0, BIZ, PHONE, &Outbound::text(USER, "hi"), &mut out);
    let _ = e.send(
        T0,
        BIZ,
        PHONE,
        &Outbound::template(USER, send_tpl("nope", "en_US", &[])),
        &mut out,
    );
    let _ = e.send(
        T0,
        BIZ,
        PHONE,
        &Outbound::template(USER, send_tpl("hello_world", "en_US", &[])),
        &mut out,
    );
    let rules: Vec<_> = out.decisions.iter().map(|l| l.rule).collect();
    assert_eq!(
        rules,
        vec![Rule::ServiceWindow, Rule::TemplateExists, Rule::Accepted]
    );
}

#[test]
fn created_template_is_pending_then_approved_after_review_delay() {
    let e = engine();
    let mut out = Effects::default();
    let req = TemplateRequest {
        name: "order_update".into(),
        language: "en_US".into(),
        category: TemplateCategory::Utility,
        parameter_format: ParameterFormat::Positional,
        components: serde_json::json!([{"type": "BODY", "text": "Order {{1}} shipped"}]),
    };
    let t = e.create_template(T0, BIZ, WABA, &req, &mut out).unwrap();
    assert_eq!(t.status, TemplateStatus::Pending);
    let send = Outbound::template(USER, send_tpl("order_update", "en_US", &["A1"]));
    assert_eq!(code(e.send(T0, BIZ, PHONE, &send, &mut out)), Some(132001));
    // Duplicate name+language refused.
    assert!(e.create_template(T0, BIZ, WABA, &req, &mut out).is_err());
    let due = T0.plus(60 * MICROS_PER_SEC);
    // The review is the only pending timer: the driver is told to wake for it.
    assert_eq!(e.poll_timeout(), Some(due));
    out.clear();
    e.handle_timeouts(due.minus(1), &mut out);
    assert!(out.events.is_empty());
    assert_eq!(e.poll_timeout(), Some(due));
    e.handle_timeouts(due, &mut out);
    assert_eq!(e.poll_timeout(), None);
    assert!(matches!(
        &out.events[0].body,
        EventBody::TemplateStatus {
            status: TemplateStatus::Approved,
            ..
        }
    ));
    assert!(e.send(due, BIZ, PHONE, &send, &mut out).is_ok());
    // Deleting by name removes it; sending then fails.
    assert_eq!(
        e.delete_template(BIZ, WABA, "order_update", None).unwrap(),
        1
    );
    assert_eq!(
        code(e.send(
            due,
            BIZ,
            PHONE,
            &Outbound::template(WaId(USER.0 + 5), send_tpl("order_update", "en_US", &["A1"])),
            &mut out
        )),
        Some(132001)
    );
    assert!(e.delete_template(BIZ, WABA, "order_update", None).is_err());
}

#[test]
fn same_seed_same_status_timeline() {
    let run = || {
        let e = engine();
        let mut out = Effects::default();
        for i in 0..50 {
            let m = Outbound::template(WaId(USER.0 + i), send_tpl("hello_world", "en_US", &[]));
            e.send(T0.plus(i * 20_000), BIZ, PHONE, &m, &mut out)
                .unwrap();
        }
        e.handle_timeouts(T0.plus(3_600 * MICROS_PER_SEC), &mut out);
        out.events
            .iter()
            .map(|ev| match &ev.body {
                EventBody::Status { status, info, .. } => {
                    format!("{}:{}:{:?}", ev.at, info.wamid.render(), status)
                }
                // Reactions (replies) come in too; they are part of the timeline.
                other => format!("{}:{:?}", ev.at, other),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

/// The timer queue moves whole timers on every push and pop: keep the common ones at 32 bytes
/// (a status timer; reactions are boxed).
#[test]
fn timers_stay_small() {
    assert!(std::mem::size_of::<timers::Timed<TimerKind>>() <= 32);
}

/// A campaign to many distinct users: the conversation map is swept whenever it doubles, not
/// only hourly, so it stays near its live entries; entries that still hold something (an open
/// window, an unspent pair quota) survive every sweep.
#[test]
fn conversations_are_swept_when_the_map_doubles_and_live_ones_are_kept() {
    let mut w = world_with(NumberStatus::Connected, Some(1_000));
    w.businesses[0].messaging_limit = MessagingLimitTier::Unlimited;
    let e = build_world(&w, RulesConfig::default(), 42, T0).unwrap();
    let mut out = Effects::default();
    let writer = WaId(6281300000002);
    let burst = WaId(6281300000003);
    e.inbound(T0, PHONE, writer, "halo", &mut out).unwrap();
    let hello = Outbound::template(burst, send_tpl("hello_world", "en_US", &[]));
    for _ in 0..45 {
        e.send(T0, BIZ, PHONE, &hello, &mut out).unwrap();
    }
    let len = || with_number(&e, PHONE, |s| s.conversations.len());
    let mut most = 0;
    let mut now = T0;
    // 10,000 distinct users at 100 msg/s: 100 s, far less than the hourly sweep.
    for i in 0..10_000u64 {
        now = now.plus(10_000);
        let msg = Outbound::template(
            WaId(6282000000000 + i),
            send_tpl("hello_world", "en_US", &[]),
        );
        e.send(now, BIZ, PHONE, &msg, &mut out).unwrap();
        out.clear();
        e.handle_timeouts(now, &mut out);
        out.clear();
        most = most.max(len());
    }
    // Without the early sweep the map would hold all 10,000 (the hourly one never ran).
    assert!(most <= SWEEP_MIN_LEN, "swept on doubling: at most {most}");
    // Kept: the user who wrote (window open) and the user whose pair quota is still being
    // repaid (45 in a burst at one per 6 s: 270 s).
    assert!(e.window_open(now, PHONE, writer));
    with_number(&e, PHONE, |s| {
        assert!(s
            .conversations
            .get(&burst)
            .is_some_and(|c| !c.pair.is_idle(now)));
        // Swept: a recipient of the first second, idle since.
        assert!(!s.conversations.contains_key(&WaId(6282000000000)));
    });
}

#[test]
fn the_block_list_holds_64000_users_and_blocked_users_replies_are_not_delivered() {
    use super::blocking::MAX_BLOCKED;
    let e = engine();
    let mut fx = Effects::default();
    let users: Vec<WaId> = (0..=MAX_BLOCKED as u64)
        .map(|i| WaId(6281400000000 + i))
        .collect();
    for u in &users {
        e.inbound(T0, PHONE, *u, "halo", &mut fx).unwrap();
    }
    let mut blocked = 0;
    for chunk in users[..MAX_BLOCKED].chunks(1000) {
        let out = e.block_users(T0, BIZ, PHONE, chunk, &mut fx).unwrap();
        blocked += out.iter().filter(|o| o.is_ok()).count();
    }
    assert_eq!(blocked, MAX_BLOCKED);
    // The next one is refused with 139101; one already listed still succeeds.
    let out = e
        .block_users(T0, BIZ, PHONE, &[users[MAX_BLOCKED], users[0]], &mut fx)
        .unwrap();
    assert_eq!(out[0].as_ref().unwrap_err().1.code.code(), 139101);
    assert!(out[1].is_ok());
    // Unblocking frees a place.
    e.unblock_users(T0, BIZ, PHONE, &users[..1], &mut fx)
        .unwrap();
    let out = e
        .block_users(T0, BIZ, PHONE, &[users[MAX_BLOCKED]], &mut fx)
        .unwrap();
    assert!(out[0].is_ok());
    assert_eq!(e.blocked_users(BIZ, PHONE).unwrap().len(), MAX_BLOCKED);
    // A blocked user's message is not delivered: no event, refused with 130403.
    let mut fx = Effects::default();
    let r = e.inbound(T0, PHONE, users[1], "halo?", &mut fx);
    assert_eq!(r.unwrap_err().code.code(), 130403);
    assert!(fx.events.is_empty());
    // Another business cannot block on this number.
    assert!(e
        .block_users(T0, OTHER_BIZ, PHONE, &users[..1], &mut fx)
        .is_err());
}

#[test]
fn inbound_messages_use_the_numbers_throughput_up() {
    // 80 msg/s: 80 users writing in the same instant leave no room for a send then.
    let e = engine();
    let mut fx = Effects::default();
    for i in 0..80 {
        e.inbound(T0, PHONE, WaId(6281400000000 + i), "halo", &mut fx)
            .unwrap();
    }
    let reply = |to: WaId| Outbound::text(to, "hai");
    assert_eq!(
        code(e.send(T0, BIZ, PHONE, &reply(WaId(6281400000000)), &mut fx)),
        Some(130429)
    );
    // A second later the bucket has refilled.
    let later = T0.plus(MICROS_PER_SEC);
    assert_eq!(
        code(e.send(later, BIZ, PHONE, &reply(WaId(6281400000001)), &mut fx)),
        None
    );
    // Fewer users writing in leave room: 79 inbound, one send fits.
    let e = engine();
    for i in 0..79 {
        e.inbound(T0, PHONE, WaId(6281400000000 + i), "halo", &mut fx)
            .unwrap();
    }
    assert_eq!(
        code(e.send(T0, BIZ, PHONE, &reply(WaId(6281400000000)), &mut fx)),
        None
    );
}
