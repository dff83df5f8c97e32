//! Policy rules (content, strikes and bans, template review, identity, contact checks,
//! onboarding) with a manual clock: each firing and not firing.

use super::harness::*;
use super::*;
use crate::clock::MICROS_PER_HOUR;
use crate::clock::MICROS_PER_SEC;
use templates::{TemplateParam, TemplateSend};
use violations::BanState;
use world::*;

const BIZ: BusinessId = BusinessId(1);
const OTHER_BIZ: BusinessId = BusinessId(2);
const PHONE: PhoneNumberId = PhoneNumberId(100);
const PHONE_B: PhoneNumberId = PhoneNumberId(101);
const OTHER_PHONE: PhoneNumberId = PhoneNumberId(200);
const WABA: WabaId = WabaId(10);
const WABA_B: WabaId = WabaId(11);
const OTHER_WABA: WabaId = WabaId(20);
const T0: SimTime = SimTime(1_760_000_000 * MICROS_PER_SEC);
const USER: WaId = WaId(6281300000001);
const NOT_ON_WA: &str = "6289999999999";

fn number(id: PhoneNumberId) -> PhoneNumberSpec {
    PhoneNumberSpec::new(id, &format!("+62 812-0000-{:04}", id.0), "Toko")
}

fn waba(id: WabaId, phone: PhoneNumberId) -> WabaSpec {
    WabaSpec {
        name: "w".into(),
        phone_numbers: vec![number(phone)],
        templates: vec![TemplateSpec::new(
            "order_update",
            "en_US",
            TemplateCategory::Utility,
            "Hi {{1}}, order {{2}} shipped.",
        )],
        ..WabaSpec::new(id)
    }
}

/// Business 1 (two WABAs, one number each) of `vertical`, through an official BSP or not;
/// business 2 an ordinary retailer.
fn world(vertical: &str, official: bool) -> WorldSpec {
    WorldSpec {
        businesses: vec![
            BusinessSpec {
                vertical: vertical.into(),
                tokens: vec!["tok".into()],
                bsp: BspSpec {
                    official,
                    name: None,
                },
                wabas: vec![waba(WABA, PHONE), waba(WABA_B, PHONE_B)],
                ..BusinessSpec::new(BIZ, "Toko")
            },
            BusinessSpec {
                tokens: vec!["other".into()],
                wabas: vec![waba(OTHER_WABA, OTHER_PHONE)],
                ..BusinessSpec::new(OTHER_BIZ, "Other")
            },
        ],
        audience: audience::AudienceSpec {
            not_on_whatsapp_ratio: 0.0,
            not_on_whatsapp: vec![NOT_ON_WA.into()],
            read_ratio: 1.0,
            ..Default::default()
        },
    }
}

fn engine_with(rules: RulesConfig) -> Portfolios {
    build_world(&world("retail", true), rules, 42, T0).unwrap()
}

fn engine() -> Portfolios {
    engine_with(RulesConfig::default())
}

fn order(to: WaId, name: &str, order: &str) -> Outbound {
    Outbound::template(
        to,
        TemplateSend {
            name: "order_update".into(),
            language: "en_US".into(),
            header: vec![],
            body: [name, order]
                .iter()
                .map(|t| TemplateParam {
                    name: None,
                    text: Some(t.to_string()),
                })
                .collect(),
        },
    )
}

/// Opens the service window of `phone` with `user`.
fn open_window(e: &Portfolios, phone: PhoneNumberId, user: WaId) {
    e.inbound(T0, phone, user, "halo", &mut Effects::default())
        .unwrap();
}

fn bans(out: &Effects) -> Vec<(WabaId, BanState)> {
    out.events
        .iter()
        .filter_map(|ev| match ev.body {
            EventBody::AccountDisabled { state } => Some((ev.waba, state)),
            _ => None,
        })
        .collect()
}

fn statuses(out: &Effects) -> Vec<(DeliveryStatus, Option<u32>)> {
    out.events
        .iter()
        .filter_map(|ev| match &ev.body {
            EventBody::Status { status, error, .. } => {
                Some((*status, error.as_ref().map(|(c, _)| c.code())))
            }
            _ => None,
        })
        .collect()
}

// ----- Content ---------------------------------------------------------------------------

#[test]
fn luhn_valid_card_in_a_template_parameter_is_a_violation_and_an_invalid_one_is_not() {
    let e = engine();
    let mut out = Effects::default();
    let err = e
        .send(
            T0,
            BIZ,
            PHONE,
            &order(USER, "Ayu", "4111 1111 1111 1111"),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::TemplatePolicy);
    assert_eq!(err.rule, Some(Rule::ContentPolicy));
    assert!(err.details.contains("payment card"), "{}", err.details);
    assert!(out.events.is_empty());
    e.send(
        T0,
        BIZ,
        PHONE,
        &order(USER, "Ayu", "1234567812345678"),
        &mut out,
    )
    .expect("a Luhn-invalid 16-digit order number is fine");
    assert_eq!(e.standings()[0].strikes, 1);
}

#[test]
fn card_numbers_and_niks_in_free_form_text_are_368() {
    let e = engine();
    open_window(&e, PHONE, USER);
    let mut out = Effects::default();
    for text in [
        "Your card 5555555555554444 is on file",
        "NIK anda 3273015205900001 sudah terdaftar",
    ] {
        let err = e
            .send(T0, BIZ, PHONE, &Outbound::text(USER, text), &mut out)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PolicyBlocked, "{text}");
        assert_eq!(err.rule, Some(Rule::ContentPolicy));
    }
    e.send(
        T0.plus(10 * MICROS_PER_SEC),
        BIZ,
        PHONE,
        &Outbound::text(USER, "Your order 1234567812345678 ships today"),
        &mut out,
    )
    .unwrap();
}

// ----- Strikes and bans ------------------------------------------------------------------

#[test]
fn third_content_violation_disables_every_waba_of_the_portfolio_and_then_every_send_fails() {
    let e = engine();
    let mut out = Effects::default();
    let card = order(USER, "Ayu", "4111111111111111");
    for i in 0..2 {
        e.send(T0, BIZ, PHONE, &card, &mut out).unwrap_err();
        assert!(bans(&out).is_empty(), "strike {i} does not disable");
    }
    // A clean send still works before the third strike.
    e.send(T0, BIZ, PHONE, &order(USER, "Ayu", "A-17"), &mut out)
        .unwrap();
    out.clear();
    e.send(T0, BIZ, PHONE_B, &card, &mut out).unwrap_err();
    assert_eq!(
        bans(&out),
        vec![(WABA, BanState::Disable), (WABA_B, BanState::Disable)]
    );
    // Every number of the portfolio is refused; the other business is not.
    for phone in [PHONE, PHONE_B] {
        let err = e
            .send(
                T0,
                BIZ,
                phone,
                &order(WaId(6281300000002), "B", "1"),
                &mut out,
            )
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PolicyBlocked);
        assert_eq!(err.rule, Some(Rule::AccountDisabled));
    }
    e.send(
        T0,
        OTHER_BIZ,
        OTHER_PHONE,
        &order(USER, "Ayu", "1"),
        &mut out,
    )
    .unwrap();
    assert!(e.standings()[0].disabled);
    assert!(!e.standings()[1].disabled);

    // Reinstated: REINSTATE for each WABA and sends work again.
    out.clear();
    assert!(e.reinstate(T0, BIZ, &mut out).unwrap());
    assert_eq!(
        bans(&out),
        vec![(WABA, BanState::Reinstate), (WABA_B, BanState::Reinstate)]
    );
    e.send(
        T0,
        BIZ,
        PHONE,
        &order(WaId(6281300000003), "C", "1"),
        &mut out,
    )
    .unwrap();
    assert!(!e.reinstate(T0, BIZ, &mut out).unwrap());
}

#[test]
fn disable_after_zero_never_disables() {
    let mut rules = RulesConfig::default();
    rules.violations.disable_after = 0;
    let e = engine_with(rules);
    let mut out = Effects::default();
    for _ in 0..10 {
        e.send(
            T0,
            BIZ,
            PHONE,
            &order(USER, "Ayu", "4111111111111111"),
            &mut out,
        )
        .unwrap_err();
    }
    assert!(bans(&out).is_empty());
    e.send(T0, BIZ, PHONE, &order(USER, "Ayu", "1"), &mut out)
        .unwrap();
}

fn detecting(rate: f64) -> RulesConfig {
    let mut rules = RulesConfig::default();
    rules.violations.detection_rate = rate;
    rules
}

fn send_n(e: &Portfolios, n: u64) -> Vec<Option<u32>> {
    send_n_into(e, n, &mut Effects::default())
}

fn send_n_into(e: &Portfolios, n: u64, out: &mut Effects) -> Vec<Option<u32>> {
    (0..n)
        .map(|k| {
            e.send(
                T0,
                BIZ,
                PHONE,
                &order(WaId(6281300000000 + k), "A", "1"),
                out,
            )
            .err()
            .map(|r| r.code.code())
        })
        .collect()
}

#[test]
fn prohibited_vertical_is_detected_while_sending_and_disables_the_portfolio() {
    let e = build_world(&world("p2p_lending", true), detecting(1.0), 42, T0).unwrap();
    assert_eq!(
        e.standings()[0].detected_risk,
        Some(violations::Violation::ProhibitedVertical)
    );
    // Every send detected: three go out (each a strike), then the ban.
    let mut out = Effects::default();
    assert_eq!(
        send_n_into(&e, 4, &mut out),
        vec![None, None, None, Some(368)]
    );
    let log = &out.decisions;
    assert_eq!(
        log.iter()
            .filter(|l| l.rule == Rule::PolicyViolation)
            .count(),
        3
    );
    // Not detected at rate 0; an allowed vertical never is.
    let e = build_world(&world("p2p_lending", true), detecting(0.0), 42, T0).unwrap();
    assert_eq!(send_n(&e, 10), vec![None; 10]);
    let e = build_world(&world("retail", true), detecting(1.0), 42, T0).unwrap();
    assert_eq!(send_n(&e, 10), vec![None; 10]);
    assert_eq!(e.standings()[0].strikes, 0);
    // P2P lending is refused in Indonesia only.
    let mut w = world("p2p_lending", true);
    w.businesses[0].country = "SG".into();
    let e = build_world(&w, detecting(1.0), 42, T0).unwrap();
    assert_eq!(send_n(&e, 10), vec![None; 10]);
}

#[test]
fn unofficial_bsp_is_detected_and_disables_the_portfolio() {
    let e = build_world(&world("retail", false), detecting(1.0), 42, T0).unwrap();
    assert_eq!(
        e.standings()[0].detected_risk,
        Some(violations::Violation::UnofficialBsp)
    );
    assert_eq!(send_n(&e, 4), vec![None, None, None, Some(368)]);
    let e = build_world(&world("retail", true), detecting(1.0), 42, T0).unwrap();
    assert_eq!(e.standings()[0].detected_risk, None);
}

#[test]
fn detection_at_a_partial_rate_is_deterministic_per_seed() {
    let run = || {
        let e = build_world(&world("gambling", true), detecting(0.05), 7, T0).unwrap();
        send_n(&e, 400)
    };
    let a = run();
    assert_eq!(a, run());
    let first_ban = a
        .iter()
        .position(Option::is_some)
        .expect("banned within 400");
    assert!(first_ban > 3, "{first_ban}");
}

// ----- Template review -------------------------------------------------------------------

fn request(name: &str, category: TemplateCategory, body: &str) -> templates::TemplateRequest {
    templates::TemplateRequest {
        name: name.into(),
        language: "en_US".into(),
        category,
        parameter_format: ParameterFormat::Positional,
        components: serde_json::json!([{"type": "BODY", "text": body}]),
    }
}

fn review_events(out: &Effects) -> Vec<(String, TemplateStatus, Option<&'static str>)> {
    out.events
        .iter()
        .filter_map(|ev| match &ev.body {
            EventBody::TemplateStatus {
                name,
                status,
                reason,
                ..
            } => Some((name.clone(), *status, *reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn template_review_rejects_with_reasons_after_the_delay_and_approves_clean_ones() {
    let e = engine();
    let mut out = Effects::default();
    use TemplateCategory::*;
    for (name, cat, body) in [
        ("shipped", Utility, "Order {{1}} shipped."),
        (
            "shipped_promo",
            Utility,
            "Order {{1}} shipped. Use coupon SHOE10!",
        ),
        (
            "card_please",
            Utility,
            "Reply with your card number to pay {{1}}",
        ),
        ("prize", Marketing, "You have won! Claim your prize {{1}}"),
        ("vapes", Marketing, "New vape stock {{1}}"),
    ] {
        e.create_template(T0, BIZ, WABA, &request(name, cat, body), &mut out)
            .unwrap();
    }
    let delay = e.rules().template_review_delay_s * MICROS_PER_SEC;
    out.clear();
    e.handle_timeouts(T0.plus(delay - 1), &mut out);
    assert!(review_events(&out).is_empty(), "not before the delay");
    e.handle_timeouts(T0.plus(delay), &mut out);
    assert_eq!(
        review_events(&out),
        vec![
            ("shipped".into(), TemplateStatus::Approved, None),
            (
                "shipped_promo".into(),
                TemplateStatus::Rejected,
                Some("INCORRECT_CATEGORY")
            ),
            (
                "card_please".into(),
                TemplateStatus::Rejected,
                Some("ABUSIVE_CONTENT")
            ),
            ("prize".into(), TemplateStatus::Rejected, Some("SCAM")),
            (
                "vapes".into(),
                TemplateStatus::Rejected,
                Some("ABUSIVE_CONTENT")
            ),
        ]
    );
    let list = e.templates(BIZ, WABA).unwrap();
    let promo = list.iter().find(|t| t.name == "shipped_promo").unwrap();
    assert_eq!(promo.status, TemplateStatus::Rejected);
    assert_eq!(promo.rejected_reason, Some("INCORRECT_CATEGORY"));
    // A rejected template cannot be sent; the approved one can.
    let send = |name: &str| {
        e.send(
            T0.plus(delay),
            BIZ,
            PHONE,
            &Outbound::template(
                USER,
                TemplateSend {
                    name: name.into(),
                    language: "en_US".into(),
                    header: vec![],
                    body: vec![TemplateParam {
                        name: None,
                        text: Some("A-1".into()),
                    }],
                },
            ),
            &mut Effects::default(),
        )
    };
    assert_eq!(
        send("shipped_promo").unwrap_err().code,
        ErrorCode::TemplateMissing
    );
    send("shipped").unwrap();
}

// ----- Identity --------------------------------------------------------------------------

fn with_identity_check() -> Portfolios {
    let mut rules = RulesConfig::default();
    rules.identity.check = true;
    engine_with(rules)
}

fn hash(e: &Portfolios, user: WaId) -> String {
    e.identity_of(user).1
}

fn with_hash(mut m: Outbound, h: &str) -> Outbound {
    m.recipient_identity_key_hash = Some(h.into());
    m
}

#[test]
fn reregistration_sends_user_changed_number_to_numbers_that_know_the_user() {
    let e = engine();
    open_window(&e, PHONE, USER);
    let mut out = Effects::default();
    let r = e.reregister(T0, USER, &mut out).unwrap();
    assert_eq!(r.generation, 1);
    assert_eq!(r.notified, vec![PHONE]);
    // `user_changed_number`, then `user_changed_user_id` and the `user_id_update` field (see
    // `bsuid_tests`).
    assert_eq!(out.events.len(), 3);
    match &out.events[0].body {
        EventBody::UserChangedNumber {
            old, new, phone, ..
        } => {
            assert_eq!(*old, USER);
            assert_eq!(new.to_string(), r.previous_owner_moved_to);
            assert_ne!(*new, USER);
            assert_eq!(phone.id, PHONE);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(out.events[0].waba, WABA);
    // The window was the previous owner's: it is closed now.
    assert!(!e.window_open(T0, PHONE, USER));
    // A user nobody talked to notifies nobody.
    out.clear();
    let r = e.reregister(T0, WaId(6281300000099), &mut out).unwrap();
    assert!(r.notified.is_empty() && out.events.is_empty());
}

#[test]
fn stale_identity_hash_fails_with_137000_when_the_check_is_on() {
    let e = with_identity_check();
    let mut out = Effects::default();
    let h0 = hash(&e, USER);
    // Current hash: delivered normally, and statuses carry the hash.
    e.send(
        T0,
        BIZ,
        PHONE,
        &with_hash(order(USER, "A", "1"), &h0),
        &mut out,
    )
    .unwrap();
    assert_eq!(statuses(&out), vec![(DeliveryStatus::Sent, None)]);
    match &out.events[0].body {
        EventBody::Status { info, .. } => assert_eq!(
            info.recipient_identity_key_hash
                .map(|h| identity::key_hash_string(&h)),
            Some(h0.clone())
        ),
        other => panic!("{other:?}"),
    }
    e.reregister(T0, USER, &mut Effects::default()).unwrap();
    out.clear();
    let receipt = e.send(
        T0.plus(60 * MICROS_PER_SEC),
        BIZ,
        PHONE,
        &with_hash(order(USER, "A", "2"), &h0),
        &mut out,
    );
    assert!(receipt.is_ok(), "accepted, then failed by webhook");
    assert_eq!(statuses(&out), vec![(DeliveryStatus::Failed, Some(137000))]);
    assert!(out
        .decisions
        .iter()
        .any(|l| l.rule == Rule::IdentityCheck && l.code == Some(ErrorCode::IdentityKeyMismatch)));
}

#[test]
fn stale_hash_is_ignored_when_the_check_is_off() {
    let e = engine();
    let h0 = hash(&e, USER);
    e.reregister(T0, USER, &mut Effects::default()).unwrap();
    let mut out = Effects::default();
    e.send(
        T0,
        BIZ,
        PHONE,
        &with_hash(order(USER, "A", "1"), &h0),
        &mut out,
    )
    .unwrap();
    assert_eq!(statuses(&out), vec![(DeliveryStatus::Sent, None)]);
    match &out.events[0].body {
        EventBody::Status { info, .. } => assert!(info.recipient_identity_key_hash.is_none()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sends_to_a_changed_user_are_held_until_the_business_acknowledges() {
    let e = with_identity_check();
    e.reregister(T0, USER, &mut Effects::default()).unwrap();
    let mut out = Effects::default();
    e.send(T0, BIZ, PHONE, &order(USER, "A", "1"), &mut out)
        .unwrap();
    e.send(T0, BIZ, PHONE_B, &order(USER, "A", "2"), &mut out)
        .unwrap();
    assert!(statuses(&out).is_empty(), "held: no status yet");
    assert_eq!(e.held_count(PHONE) + e.held_count(PHONE_B), 2);
    // Another business is not affected by this business's pending acknowledgement... but it
    // has not acknowledged either, so it holds too.
    e.send(T0, OTHER_BIZ, OTHER_PHONE, &order(USER, "A", "3"), &mut out)
        .unwrap();
    assert_eq!(e.held_count(OTHER_PHONE), 1);
    // A user who did not change is not held.
    e.send(
        T0,
        BIZ,
        PHONE,
        &order(WaId(6281300000002), "B", "1"),
        &mut out,
    )
    .unwrap();
    assert_eq!(statuses(&out), vec![(DeliveryStatus::Sent, None)]);

    // A wrong hash does not acknowledge.
    let err = e
        .acknowledge_identity(T0, BIZ, USER, "AAAAAAAAAAA=", &mut out)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::IdentityKeyMismatch);
    out.clear();
    let t1 = T0.plus(5 * MICROS_PER_SEC);
    let released = e
        .acknowledge_identity(t1, BIZ, USER, &hash(&e, USER), &mut out)
        .unwrap();
    assert_eq!(released, 2);
    assert_eq!(
        statuses(&out),
        vec![(DeliveryStatus::Sent, None), (DeliveryStatus::Sent, None)]
    );
    assert_eq!(
        e.held_count(OTHER_PHONE),
        1,
        "only the acknowledging business"
    );
    // Later sends go straight out.
    out.clear();
    e.send(
        t1.plus(10 * MICROS_PER_SEC),
        BIZ,
        PHONE,
        &order(USER, "A", "4"),
        &mut out,
    )
    .unwrap();
    assert_eq!(statuses(&out), vec![(DeliveryStatus::Sent, None)]);
}

#[test]
fn sending_with_the_new_hash_acknowledges_and_releases_other_numbers() {
    let e = with_identity_check();
    e.reregister(T0, USER, &mut Effects::default()).unwrap();
    let mut out = Effects::default();
    e.send(T0, BIZ, PHONE_B, &order(USER, "A", "1"), &mut out)
        .unwrap();
    assert_eq!(e.held_count(PHONE_B), 1);
    let h1 = hash(&e, USER);
    e.send(
        T0,
        BIZ,
        PHONE,
        &with_hash(order(USER, "A", "2"), &h1),
        &mut out,
    )
    .unwrap();
    assert_eq!(e.held_count(PHONE_B), 0);
    assert_eq!(
        statuses(&out),
        vec![(DeliveryStatus::Sent, None), (DeliveryStatus::Sent, None)]
    );
}

#[test]
fn holds_beyond_capacity_fail_with_137000() {
    let mut rules = RulesConfig::default();
    rules.identity.check = true;
    rules.identity.hold_capacity = 1;
    let e = engine_with(rules);
    e.reregister(T0, USER, &mut Effects::default()).unwrap();
    let mut out = Effects::default();
    e.send(T0, BIZ, PHONE, &order(USER, "A", "1"), &mut out)
        .unwrap();
    e.send(
        T0.plus(10 * MICROS_PER_SEC),
        BIZ,
        PHONE,
        &order(USER, "A", "2"),
        &mut out,
    )
    .unwrap();
    assert_eq!(e.held_count(PHONE), 1);
    assert_eq!(statuses(&out), vec![(DeliveryStatus::Failed, Some(137000))]);
}

#[test]
fn identity_check_is_switched_per_number() {
    let e = engine();
    assert!(!e.identity_check(BIZ, PHONE).unwrap());
    e.set_identity_check(BIZ, PHONE, true).unwrap();
    assert!(e.identity_check(BIZ, PHONE).unwrap());
    assert!(!e.identity_check(BIZ, PHONE_B).unwrap());
    assert_eq!(
        e.set_identity_check(OTHER_BIZ, PHONE, true)
            .unwrap_err()
            .code,
        ErrorCode::PermissionError
    );
}

// ----- Contact checks --------------------------------------------------------------------

fn contacts_rules(max: usize) -> RulesConfig {
    let mut rules = RulesConfig::default();
    rules.contacts.max_unmessaged = max;
    rules
}

fn inputs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn contact_check_answers_valid_and_invalid_per_number() {
    let e = engine();
    let r = e
        .check_contacts(T0, BIZ, &inputs(&["+62 813-0000-0001", NOT_ON_WA, "hello"]))
        .unwrap();
    assert_eq!(r[0].status, "valid");
    assert_eq!(r[0].wa_id.as_deref(), Some("6281300000001"));
    assert_eq!(r[0].input, "+62 813-0000-0001");
    assert_eq!(r[1].status, "invalid");
    assert_eq!(r[2].status, "invalid");
    assert_eq!(e.standings()[0].contact_checks_outstanding, 2);
}

#[test]
fn checking_many_numbers_that_are_never_messaged_blocks_further_checks() {
    let e = engine_with(contacts_rules(3));
    let three = inputs(&["6281300000001", "6281300000002", "6281300000003"]);
    e.check_contacts(T0, BIZ, &three).unwrap();
    let err = e
        .check_contacts(T0, BIZ, &inputs(&["6281300000004"]))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PolicyBlocked);
    // The block is per business.
    e.check_contacts(T0, OTHER_BIZ, &three).unwrap();
    // Still blocked an hour later.
    assert!(e
        .check_contacts(T0.plus(MICROS_PER_HOUR), BIZ, &inputs(&["6281300000004"]))
        .is_err());
}

#[test]
fn messaging_the_checked_numbers_keeps_checks_open() {
    let e = engine_with(contacts_rules(3));
    let three = ["6281300000001", "6281300000002", "6281300000003"];
    e.check_contacts(T0, BIZ, &inputs(&three)).unwrap();
    let mut out = Effects::default();
    for n in three {
        e.send(
            T0,
            BIZ,
            PHONE,
            &order(WaId(n.parse().unwrap()), "A", "1"),
            &mut out,
        )
        .unwrap();
    }
    assert_eq!(e.standings()[0].contact_checks_outstanding, 0);
    e.check_contacts(
        T0,
        BIZ,
        &inputs(&["6281300000004", "6281300000005", "6281300000006"]),
    )
    .unwrap();
}

// ----- Template cap ---------------------------------------------------------------------

/// Creates templates named `prefix0`, `prefix1`, … until one is refused; returns how many
/// were accepted and the refusal.
fn create_until_refused(e: &Portfolios, prefix: &str, most: usize) -> (usize, Option<Rejection>) {
    let mut out = Effects::default();
    for k in 0..most {
        let req = request(
            &format!("{prefix}{k}"),
            TemplateCategory::Utility,
            "Order {{1}}",
        );
        if let Err(r) = e.create_template(T0, BIZ, WABA, &req, &mut out) {
            return (k, Some(r));
        }
    }
    (most, None)
}

#[test]
fn template_names_per_waba_are_capped_at_250_unless_verified() {
    let e = engine();
    let existing = e.templates(BIZ, WABA).unwrap().len();
    let (made, refusal) = create_until_refused(&e, "t", 400);
    assert_eq!(made + existing, 250, "the 251st name is refused");
    let r = refusal.expect("refused at the cap");
    assert_eq!(
        (r.code, r.subcode),
        (ErrorCode::InvalidParameter, Some(2388019))
    );
    assert!(r.details.contains("250"), "{}", r.details);
    // A translation of a name it already has is not a new name.
    let mut es = request("t0", TemplateCategory::Utility, "Pesanan {{1}}");
    es.language = "id".into();
    e.create_template(T0, BIZ, WABA, &es, &mut Effects::default())
        .expect("a new language of an existing name");
    // Deleting a name makes room again.
    e.delete_template(BIZ, WABA, "t1", None).unwrap();
    assert_eq!(create_until_refused(&e, "u", 10).0, 1);
    // Another WABA of the same portfolio has its own 250.
    let req = request("elsewhere", TemplateCategory::Utility, "Order {{1}}");
    e.create_template(T0, BIZ, WABA_B, &req, &mut Effects::default())
        .expect("the cap is per WABA");
}

#[test]
fn a_verified_portfolio_with_an_approved_display_name_gets_6000() {
    let mut w = world("retail", true);
    w.businesses[0].verified = true;
    let e = build_world(&w, RulesConfig::default(), 42, T0).unwrap();
    let (made, refusal) = create_until_refused(&e, "t", 400);
    assert_eq!((made, refusal), (400, None));
}

// ----- Onboarding ------------------------------------------------------------------------

#[test]
fn onboarding_refuses_p2p_lending_in_indonesia_and_accepts_a_shoe_shop() {
    let mut r = eligibility::Registry::default();
    let (o, v) = r.record(T0, "Pinjam Cepat", "p2p_lending", "ID");
    assert_eq!(o.decision, "REJECTED");
    assert!(matches!(v, Err(eligibility::Refusal::Prohibited(_))));
    let (o, v) = r.record(T0, "Toko Sepatu", "shoes", "ID");
    assert_eq!(o.decision, "APPROVED");
    assert_eq!(v, Ok("shoes"));
    assert_eq!((r.list.len(), r.dropped), (2, 0));
}

// ----- Scenario keys ---------------------------------------------------------------------

#[test]
fn scenario_keys_parse_with_defaults_and_unknown_keys_are_refused() {
    use crate::scenario::{Scenario, DEFAULT_WORLD};
    let d = Scenario::parse(DEFAULT_WORLD, "default.toml").unwrap();
    assert!(!d.rules.identity.check);
    assert_eq!(d.rules.violations.disable_after, 3);
    assert_eq!(d.rules.contacts.max_unmessaged, 1_000);
    assert!(d.world().businesses[0].bsp.official);

    let text = DEFAULT_WORLD.replacen(
        "messaging_limit = \"TIER_250\"\n",
        "messaging_limit = \"TIER_250\"\nbsp = { official = false, name = \"Grey API\" }\n",
        1,
    ) + "\n[rules.identity]\ncheck = true\n[rules.violations]\ndisable_after = 5\n[rules.contacts]\nmax_unmessaged = 10\n";
    let s = Scenario::parse(&text, "x.toml").unwrap();
    assert!(s.rules.identity.check);
    assert_eq!(s.rules.violations.disable_after, 5);
    assert_eq!(s.rules.contacts.max_unmessaged, 10);
    assert!(!s.world().businesses[0].bsp.official);

    let bad = format!("{DEFAULT_WORLD}\n[rules.identity]\nchek = true\n");
    let err = Scenario::parse(&bad, "bad.toml").unwrap_err().to_string();
    assert!(err.contains("chek"), "{err}");
    let bad = format!("{DEFAULT_WORLD}\n[rules.violations]\ndetection_rate = 2.0\n");
    let err = Scenario::parse(&bad, "bad.toml").unwrap_err().to_string();
    assert!(err.contains("detection_rate"), "{err}");
}

#[test]
fn inbound_messages_carry_the_identity_hash_only_with_the_check_on() {
    let inbound_hash = |e: &Portfolios, phone| {
        let mut out = Effects::default();
        e.inbound(T0, phone, USER, "halo", &mut out).unwrap();
        match &out.events[0].body {
            EventBody::Inbound {
                identity_key_hash, ..
            } => identity_key_hash.map(|h| identity::key_hash_string(&h)),
            other => panic!("{other:?}"),
        }
    };
    let e = engine();
    assert_eq!(inbound_hash(&e, PHONE), None);
    e.set_identity_check(BIZ, PHONE, true).unwrap();
    let h0 = hash(&e, USER);
    assert_eq!(inbound_hash(&e, PHONE), Some(h0.clone()));
    // After re-registration the new owner's messages carry the new hash: the business learns
    // it from them.
    e.reregister(T0, USER, &mut Effects::default()).unwrap();
    let h1 = inbound_hash(&e, PHONE).unwrap();
    assert_ne!(h1, h0);
    assert_eq!(h1, hash(&e, USER));
    assert_eq!(inbound_hash(&e, PHONE_B), None, "PHONE_B has the check off");
}

// ----- Onboarding of the scenario's own businesses ([rules.onboarding] check) ---------------

fn onboarding_check(on: bool) -> RulesConfig {
    let mut rules = detecting(0.0);
    rules.onboarding.check = on;
    rules
}

#[test]
fn onboarding_check_refuses_a_prohibited_business_with_its_reason_and_spares_others() {
    let e = build_world(
        &world("herbal_medicine", true),
        onboarding_check(true),
        42,
        T0,
    )
    .unwrap();
    let mut out = Effects::default();
    let r = e
        .send(T0, BIZ, PHONE, &order(USER, "A", "1"), &mut out)
        .unwrap_err();
    assert_eq!(r.code.code(), 368);
    assert_eq!(r.rule, Some(Rule::Onboarding));
    assert!(r.details.contains("herbal"), "{}", r.details);
    assert!(
        bans(&out).is_empty(),
        "refused at onboarding: no ban webhook"
    );
    // The other business of the world (a retailer) is accepted.
    assert!(e
        .send(T0, OTHER_BIZ, OTHER_PHONE, &order(USER, "A", "2"), &mut out)
        .is_ok());
    // Check off: the same business sends (and would only be caught by detection).
    let e = build_world(
        &world("herbal_medicine", true),
        onboarding_check(false),
        42,
        T0,
    )
    .unwrap();
    assert_eq!(send_n(&e, 3), vec![None; 3]);
    // Check on, allowed vertical: sends.
    let e = build_world(&world("retail", true), onboarding_check(true), 42, T0).unwrap();
    assert_eq!(send_n(&e, 3), vec![None; 3]);
    // Leasing is refused in Indonesia only.
    let mut w = world("leasing", true);
    w.businesses[0].country = "MY".into();
    let e = build_world(&w, onboarding_check(true), 42, T0).unwrap();
    assert_eq!(send_n(&e, 3), vec![None; 3]);
}

// ----- Re-registration rate ([audience.profiles.reregistration]) ----------------------------

fn recycling_world(rate: f64) -> WorldSpec {
    let mut w = world("retail", true);
    w.audience.profiles.reregistration.rate = rate;
    w.audience.profiles.reregistration.delay_s = [60, 60];
    w
}

/// Sends `n` templates to distinct users and runs every timer for two hours; returns the
/// user_changed_number events.
fn run_recycling(e: &Portfolios, n: u64) -> Vec<(WaId, PhoneNumberId)> {
    let mut out = Effects::default();
    let mut changed = Vec::new();
    for k in 0..n {
        e.send(
            T0.plus(k * 20_000),
            BIZ,
            PHONE,
            &order(WaId(6281300000000 + k), "A", "1"),
            &mut out,
        )
        .unwrap();
    }
    let mut now = T0;
    while let Some(t) = e.poll_timeout() {
        if t > T0.plus(2 * MICROS_PER_HOUR) {
            break;
        }
        now = now.max(t);
        out.clear();
        e.handle_timeouts(now, &mut out);
        for ev in &out.events {
            if let EventBody::UserChangedNumber { old, phone, .. } = &ev.body {
                changed.push((*old, phone.id));
            }
        }
    }
    changed
}

#[test]
fn reregistration_rate_recycles_numbers_after_delivery_and_zero_recycles_none() {
    let e = build_world(&recycling_world(0.0), detecting(0.0), 42, T0).unwrap();
    assert!(
        run_recycling(&e, 200).is_empty(),
        "rate 0: no number recycled"
    );
    let e = build_world(&recycling_world(0.1), detecting(0.0), 42, T0).unwrap();
    let changed = run_recycling(&e, 200);
    assert!((8..=35).contains(&changed.len()), "{}", changed.len());
    assert!(changed.iter().all(|(_, p)| *p == PHONE));
    // The recycled users have a new identity: the first hash is stale.
    let (user, _) = changed[0];
    assert_eq!(e.identity_of(user).0, 1);
    // Deterministic: the same seed recycles the same users.
    let again = build_world(&recycling_world(0.1), detecting(0.0), 42, T0).unwrap();
    assert_eq!(run_recycling(&again, 200), changed);
}

// ----- Templates a scenario declares PENDING are reviewed at the start ----------------------

#[test]
fn declared_pending_templates_get_their_review_verdict_after_the_delay() {
    let mut w = world("retail", true);
    let base = w.businesses[0].wabas[0].templates[0].clone();
    w.businesses[0].wabas[0].templates.push(TemplateSpec {
        name: "verifikasi_kartu".into(),
        status: TemplateStatus::Pending,
        body: "Balas dengan nomor kartu kredit lengkap Anda, {{1}}.".into(),
        ..base.clone()
    });
    w.businesses[0].wabas[0].templates.push(TemplateSpec {
        name: "order_ready".into(),
        status: TemplateStatus::Pending,
        body: "Pesanan {{1}} siap diambil.".into(),
        ..base
    });
    let e = build_world(&w, RulesConfig::default(), 42, T0).unwrap();
    let mut out = Effects::default();
    // Nothing before the delay (60 s by default); the declared APPROVED template is not reviewed.
    e.handle_timeouts(T0.plus(59 * MICROS_PER_SEC), &mut out);
    assert!(review_events(&out).is_empty());
    e.handle_timeouts(T0.plus(60 * MICROS_PER_SEC), &mut out);
    let mut got = review_events(&out);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("order_ready".to_string(), TemplateStatus::Approved, None),
            (
                "verifikasi_kartu".to_string(),
                TemplateStatus::Rejected,
                Some("ABUSIVE_CONTENT")
            ),
        ]
    );
}
