//! Sends by business-scoped user id, usernames and hidden phone numbers: each rule firing and
//! not firing, and the rules of the send path keeping one user whatever the addressing.

use super::bsuid::{user_id, UserId};
use super::feedback::UserAction;
use super::harness::*;
use super::ids::{WaId, WabaId};
use super::message::Addressee;
use super::reactions::Profiles;
use super::templates::{TemplateParam, TemplateSend};
use super::world::*;
use super::*;
use crate::clock::MICROS_PER_DAY;

const BIZ: BusinessId = BusinessId(1);
const OTHER_BIZ: BusinessId = BusinessId(2);
const PHONE: PhoneNumberId = PhoneNumberId(100);
const OTHER_PHONE: PhoneNumberId = PhoneNumberId(200);
const SEED: u64 = 5;
const T0: SimTime = SimTime(1_760_000_000 * crate::clock::MICROS_PER_SEC);
const USER: WaId = WaId(6281300000001);

fn tpl(name: &str, cat: TemplateCategory, body: &str) -> TemplateSpec {
    TemplateSpec::new(name, "id", cat, body)
}

fn business(id: BusinessId, waba: u64, phone: PhoneNumberId) -> BusinessSpec {
    BusinessSpec {
        verified: true,
        tokens: vec![format!("tok{}", id.0)],
        messaging_limit: MessagingLimitTier::Tier2K,
        wabas: vec![WabaSpec {
            name: "w".into(),
            phone_numbers: vec![PhoneNumberSpec {
                throughput_mps: Some(1_000),
                ..PhoneNumberSpec::new(phone, &format!("+62 812-0000-{:04}", phone.0), "Toko")
            }],
            templates: vec![
                tpl("promo", TemplateCategory::Marketing, "Halo {{1}}"),
                tpl("notice", TemplateCategory::Utility, "Pesanan dikirim"),
                tpl(
                    "otp",
                    TemplateCategory::Authentication,
                    "{{1}} is your code.",
                ),
            ],
            ..WabaSpec::new(WabaId(waba))
        }],
        ..BusinessSpec::new(id, "Toko")
    }
}

/// Two portfolios; `username_ratio` of the audience has a username, hiding the phone or not.
fn engine(username_ratio: f64, hides: bool) -> Portfolios {
    engine_with_book(username_ratio, hides, true)
}

/// As [`engine`], with the portfolios' contact books on or off.
fn engine_with_book(username_ratio: f64, hides: bool, book: bool) -> Portfolios {
    let spec = WorldSpec {
        businesses: vec![
            BusinessSpec {
                contact_book: book,
                ..business(BIZ, 10, PHONE)
            },
            BusinessSpec {
                contact_book: book,
                ..business(OTHER_BIZ, 20, OTHER_PHONE)
            },
        ],
        audience: audience::AudienceSpec {
            not_on_whatsapp_ratio: 0.0,
            read_ratio: 1.0,
            read_delay_s: [1, 1],
            delivered_delay_ms: [100, 100],
            profiles: Profiles::silent(),
            username_ratio,
            username_hides_phone: hides,
            ..Default::default()
        },
    };
    let policy = PolicyConfig {
        per_user_marketing: [0, 0],
        ..Default::default()
    };
    build_world_with_policy(&spec, RulesConfig::default(), policy, SEED, T0).unwrap()
}

fn bsuid(biz: BusinessId, user: WaId, generation: u32) -> UserId {
    user_id(SEED, biz, user, generation)
}

fn to_id(id: UserId, mut m: Outbound) -> Outbound {
    m.to = Addressee::UserId(id.to_string().into());
    m
}

fn template(to: WaId, name: &str, param: Option<&str>) -> Outbound {
    Outbound::template(
        to,
        TemplateSend {
            name: name.into(),
            language: "id".into(),
            header: vec![],
            body: param
                .map(|p| TemplateParam {
                    name: None,
                    text: Some(p.into()),
                })
                .into_iter()
                .collect(),
        },
    )
}

fn send(
    e: &Portfolios,
    at: SimTime,
    m: &Outbound,
    out: &mut Effects,
) -> Result<SendReceipt, Rejection> {
    e.send(at, BIZ, PHONE, m, out)
}

/// The statuses in `out` as (status, error code, user as webhooks show them).
fn statuses(out: &Effects) -> Vec<(DeliveryStatus, Option<u32>, events::UserRef)> {
    out.events
        .iter()
        .filter_map(|ev| match &ev.body {
            EventBody::Status {
                info,
                status,
                error,
            } => Some((*status, error.as_ref().map(|e| e.0.code()), info.user)),
            _ => None,
        })
        .collect()
}

fn inbound_user(out: &Effects) -> events::UserRef {
    out.events
        .iter()
        .find_map(|ev| match &ev.body {
            EventBody::Inbound { user, .. } => Some(*user),
            _ => None,
        })
        .expect("an inbound event")
}

#[test]
fn a_send_by_bsuid_reaches_the_user_and_answers_with_the_id() {
    let e = engine(0.0, true);
    let mut out = Effects::default();
    let id = bsuid(BIZ, USER, 0);
    let r = send(
        &e,
        T0,
        &to_id(id, template(WaId(0), "notice", None)),
        &mut out,
    )
    .unwrap();
    assert_eq!(r.wa_id, USER);
    assert_eq!(r.user_id, Some(id));
    let st = statuses(&out);
    assert_eq!(st[0].0, DeliveryStatus::Sent);
    assert_eq!(st[0].2.user_id, id);
    assert!(st[0].2.by_user_id && st[0].2.phone_shown);
    assert_eq!(out.decisions[0].recipient, Some(USER));
    // By phone: no `user_id` in the answer, statuses still carry the BSUID.
    out.clear();
    let r = send(&e, T0, &template(USER, "notice", None), &mut out).unwrap();
    assert_eq!((r.wa_id, r.user_id), (USER, None));
    let st = statuses(&out);
    assert_eq!(st[0].2.user_id, id);
    assert!(!st[0].2.by_user_id);
}

#[test]
fn malformed_unknown_and_foreign_bsuids_are_refused_with_131009() {
    let e = engine(0.0, true);
    let mut out = Effects::default();
    let foreign = bsuid(OTHER_BIZ, USER, 0);
    for bad in [
        "6281300000001".to_string(),
        "ID.".to_string(),
        "ID.ENT.123".to_string(),
        "US.13491208655302741918".to_string(),
        foreign.to_string(),
        bsuid(BIZ, USER, 1).to_string(),
    ] {
        let mut m = template(WaId(0), "notice", None);
        m.to = Addressee::UserId(bad.as_str().into());
        let rej = send(&e, T0, &m, &mut out).unwrap_err();
        assert_eq!(rej.code, ErrorCode::ParameterValueInvalid, "{bad}");
        assert_eq!(rej.rule, Some(Rule::BsuidRecipient));
        assert!(
            rej.details.starts_with(&format!("recipient: '{bad}'")),
            "{}",
            rej.details
        );
        assert_eq!(out.decisions.last().unwrap().recipient, None);
    }
    // The other portfolio's id works from the other portfolio's number.
    let r = e
        .send(
            T0,
            OTHER_BIZ,
            OTHER_PHONE,
            &to_id(foreign, template(WaId(0), "notice", None)),
            &mut out,
        )
        .unwrap();
    assert_eq!(r.wa_id, USER);
}

#[test]
fn authentication_templates_to_a_bsuid_are_refused_with_131062() {
    let e = engine(0.0, true);
    let mut out = Effects::default();
    let id = bsuid(BIZ, USER, 0);
    let rej = send(
        &e,
        T0,
        &to_id(id, template(WaId(0), "otp", Some("123456"))),
        &mut out,
    )
    .unwrap_err();
    assert_eq!(rej.code, ErrorCode::BsuidUnsupported);
    assert_eq!(rej.code.code(), 131062);
    assert_eq!(rej.rule, Some(Rule::BsuidRecipient));
    // The same template to the phone number, and another category to the BSUID, go.
    send(&e, T0, &template(USER, "otp", Some("123456")), &mut out).unwrap();
    send(
        &e,
        T0,
        &to_id(id, template(WaId(0), "notice", None)),
        &mut out,
    )
    .unwrap();
}

#[test]
fn the_service_window_is_the_users_whatever_the_addressing() {
    let e = engine(0.0, true);
    let mut out = Effects::default();
    let id = bsuid(BIZ, USER, 0);
    let text = |to: WaId| Outbound::text(to, "Halo kak");
    let rej = send(&e, T0, &to_id(id, text(WaId(0))), &mut out).unwrap_err();
    assert_eq!(rej.code, ErrorCode::ReEngagement);
    // The user writes from their phone: the BSUID send is inside the window.
    e.inbound(T0, PHONE, USER, "halo", &mut out).unwrap();
    send(&e, T0, &to_id(id, text(WaId(0))), &mut out).unwrap();
    send(&e, T0, &text(USER), &mut out).unwrap();
}

#[test]
fn opt_outs_and_the_messaging_limit_count_one_user() {
    let e = engine(0.0, true);
    let mut out = Effects::default();
    let id = bsuid(BIZ, USER, 0);
    let promo = |to| template(to, "promo", Some("Ayu"));
    send(&e, T0, &promo(USER), &mut out).unwrap();
    send(&e, T0, &to_id(id, promo(WaId(0))), &mut out).unwrap();
    let used = |e: &Portfolios| e.phone_number(BIZ, PHONE).unwrap().messaging_limit_used;
    assert_eq!(used(&e), 1, "one user, addressed two ways");
    send(&e, T0, &promo(WaId(USER.0 + 1)), &mut out).unwrap();
    assert_eq!(used(&e), 2);
    // STOP from the phone: the BSUID send fails with 131050, as the phone send does.
    e.user_action(
        T0,
        Some(PHONE),
        USER,
        UserAction::OptOut("STOP".into()),
        &mut out,
    )
    .unwrap();
    out.clear();
    send(&e, T0, &to_id(id, promo(WaId(0))), &mut out).unwrap();
    assert_eq!(statuses(&out)[0].0, DeliveryStatus::Failed);
    assert_eq!(statuses(&out)[0].1, Some(131050));
    // A failed status of a BSUID send keeps the BSUID (a phone send's drops it, see payload).
    assert!(statuses(&out)[0].2.by_user_id);
}

#[test]
fn reregistration_changes_the_bsuid_and_announces_it() {
    let e = engine(0.0, true);
    let mut out = Effects::default();
    e.inbound(T0, PHONE, USER, "halo", &mut out).unwrap();
    out.clear();
    let old = bsuid(BIZ, USER, 0);
    let r = e.reregister(T0, USER, &mut out).unwrap();
    let moved: WaId = WaId(r.previous_owner_moved_to.parse().unwrap());
    let wamids: Vec<events::Wamid> = out
        .events
        .iter()
        .filter_map(|ev| match &ev.body {
            EventBody::UserChangedNumber { wamid, .. }
            | EventBody::UserChangedUserId { wamid, .. } => Some(*wamid),
            _ => None,
        })
        .collect();
    assert_eq!(wamids.len(), 2);
    assert_ne!(
        wamids[0].render(),
        wamids[1].render(),
        "two messages, two ids"
    );
    match &out.events[1].body {
        EventBody::UserChangedUserId {
            old: from,
            new,
            new_user,
            previous_user_id,
            ..
        } => {
            assert_eq!((*from, *new), (USER, moved));
            assert_eq!(*previous_user_id, old);
            assert_eq!(new_user.user_id, bsuid(BIZ, moved, 0));
            assert!(new_user.phone_shown);
        }
        other => panic!("{other:?}"),
    }
    // And the `user_id_update` field's event, with both ids.
    match &out.events[2].body {
        EventBody::UserIdUpdate {
            new,
            new_user,
            previous_user_id,
            previous_parent_user_id,
            ..
        } => {
            assert_eq!(*new, moved);
            assert_eq!(*previous_user_id, old);
            assert_eq!(new_user.user_id, bsuid(BIZ, moved, 0));
            assert_eq!(*previous_parent_user_id, None, "not enrolled");
        }
        other => panic!("{other:?}"),
    }
    // The old id named the previous owner: refused now. The number's new owner has a new id.
    let notice = |to| template(to, "notice", None);
    let rej = send(&e, T0, &to_id(old, notice(WaId(0))), &mut out).unwrap_err();
    assert_eq!(rej.code, ErrorCode::ParameterValueInvalid);
    let r = send(
        &e,
        T0,
        &to_id(bsuid(BIZ, USER, 1), notice(WaId(0))),
        &mut out,
    )
    .unwrap();
    assert_eq!(r.wa_id, USER);
    // The previous owner, at their new number, by their new id.
    let r = send(
        &e,
        T0,
        &to_id(bsuid(BIZ, moved, 0), notice(WaId(0))),
        &mut out,
    )
    .unwrap();
    assert_eq!(r.wa_id, moved);
    // A number that never talked to the user hears nothing.
    out.clear();
    e.reregister(T0, WaId(6281300000077), &mut out).unwrap();
    assert!(out.events.is_empty());
}

#[test]
fn identity_holds_apply_to_bsuid_sends() {
    let e = engine(0.0, true);
    let mut out = Effects::default();
    e.set_identity_check(BIZ, PHONE, true).unwrap();
    e.inbound(T0, PHONE, USER, "halo", &mut out).unwrap();
    e.reregister(T0, USER, &mut out).unwrap();
    let id = bsuid(BIZ, USER, 1);
    send(
        &e,
        T0,
        &to_id(id, template(WaId(0), "notice", None)),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        e.held_count(PHONE),
        1,
        "held until the change is acknowledged"
    );
    // With the new hash, by BSUID: acknowledged, released.
    let (_, hash) = e.identity_of(USER);
    let mut m = to_id(id, template(WaId(0), "notice", None));
    m.recipient_identity_key_hash = Some(hash.into());
    send(&e, T0, &m, &mut out).unwrap();
    assert_eq!(e.held_count(PHONE), 0);
}

#[test]
fn the_contact_book_keeps_the_phone_shown_past_30_days_until_deleted() {
    let e = engine(1.0, true);
    let mut out = Effects::default();
    // Not in the book before the business has the phone.
    e.inbound(T0, PHONE, USER, "halo", &mut out).unwrap();
    assert!(!inbound_user(&out).phone_shown);
    out.clear();
    send(&e, T0, &Outbound::text(USER, "Halo"), &mut out).unwrap();
    let after = T0.plus(40 * MICROS_PER_DAY);
    e.handle_timeouts(after, &mut Effects::default());
    out.clear();
    e.inbound(after, PHONE, USER, "masih ada?", &mut out)
        .unwrap();
    assert!(
        inbound_user(&out).phone_shown,
        "in the book: shown after 30 days"
    );
    // Portfolio-scoped: the other portfolio's webhooks still hide it.
    out.clear();
    e.inbound(after, OTHER_PHONE, USER, "halo", &mut out)
        .unwrap();
    assert!(!inbound_user(&out).phone_shown);
    // Deleted by BSUID: hidden again; a second delete finds nothing; parent ids refused.
    let id = bsuid(BIZ, USER, 0).to_string();
    assert_eq!(e.delete_contact(BIZ, PHONE, &id), Ok(true));
    assert_eq!(e.delete_contact(BIZ, PHONE, &id), Ok(false));
    assert_eq!(
        e.delete_contact(BIZ, PHONE, "ID.ENT.123").unwrap_err().code,
        ErrorCode::InvalidParameter
    );
    out.clear();
    e.inbound(after, PHONE, USER, "halo?", &mut out).unwrap();
    assert!(!inbound_user(&out).phone_shown);
    // Users outside the audience are never recorded (the book stays within its size).
    let stranger = WaId(4915100000001);
    send(
        &e,
        after,
        &Outbound::text(stranger, "Halo"),
        &mut Effects::default(),
    )
    .ok();
    let later = after.plus(31 * MICROS_PER_DAY);
    e.handle_timeouts(later, &mut Effects::default());
    out.clear();
    e.inbound(later, PHONE, stranger, "hi", &mut out).unwrap();
    assert_eq!(
        inbound_user(&out).phone_shown,
        !e.audience().hides_phone(stranger)
    );
}

#[test]
fn usernames_hide_the_phone_until_the_number_sends_to_it() {
    // The 30-day rule alone: the portfolio disabled its contact book.
    let e = engine_with_book(1.0, true, false);
    let mut out = Effects::default();
    e.inbound(T0, PHONE, USER, "halo", &mut out).unwrap();
    let u = inbound_user(&out);
    assert!(!u.phone_shown, "no recent send to the phone");
    assert_eq!(u.username, Some(audience::Username::of(USER)));
    assert_eq!(u.user_id, bsuid(BIZ, USER, 0));
    // A reply by BSUID does not reveal the phone …
    out.clear();
    let id = bsuid(BIZ, USER, 0);
    send(
        &e,
        T0,
        &to_id(id, Outbound::text(WaId(0), "Halo")),
        &mut out,
    )
    .unwrap();
    assert!(!statuses(&out)[0].2.phone_shown);
    // … a send to the phone number does, for 30 days, on this number only.
    out.clear();
    send(&e, T0, &Outbound::text(USER, "Halo"), &mut out).unwrap();
    assert!(statuses(&out)[0].2.phone_shown);
    let later = T0.plus(29 * MICROS_PER_DAY);
    out.clear();
    e.inbound(later, PHONE, USER, "halo lagi", &mut out)
        .unwrap();
    assert!(inbound_user(&out).phone_shown);
    out.clear();
    e.inbound(later, OTHER_PHONE, USER, "halo", &mut out)
        .unwrap();
    assert!(!inbound_user(&out).phone_shown, "another business's number");
    let after = T0.plus(31 * MICROS_PER_DAY);
    out.clear();
    e.handle_timeouts(after, &mut Effects::default());
    e.inbound(after, PHONE, USER, "masih ada?", &mut out)
        .unwrap();
    assert!(
        !inbound_user(&out).phone_shown,
        "30 days after the last send"
    );
}

#[test]
fn without_usernames_or_hiding_the_phone_is_shown() {
    let e = engine(0.0, true);
    let mut out = Effects::default();
    e.inbound(T0, PHONE, USER, "halo", &mut out).unwrap();
    let u = inbound_user(&out);
    assert!(u.phone_shown && u.username.is_none());
    let e = engine(1.0, false);
    out.clear();
    e.inbound(T0, PHONE, USER, "halo", &mut out).unwrap();
    let u = inbound_user(&out);
    assert!(u.phone_shown && u.username.is_some());
}

#[test]
fn the_username_share_follows_the_ratio() {
    let e = engine(0.3, true);
    let a = e.audience();
    let n = (0..10_000)
        .filter(|i| a.username(WaId(6281300000000 + i)).is_some())
        .count();
    assert!((2_700..3_300).contains(&n), "{n}");
}

#[test]
fn messaging_a_checked_number_by_bsuid_clears_the_check() {
    let e = engine(0.0, true);
    let mut out = Effects::default();
    let checked = ["6281300000001".to_string(), "6281300000002".to_string()];
    e.check_contacts(T0, BIZ, &checked).unwrap();
    let outstanding = |e: &Portfolios| {
        e.standings()
            .iter()
            .find(|s| s.id == BIZ)
            .unwrap()
            .contact_checks_outstanding
    };
    assert_eq!(outstanding(&e), 2);
    let id = bsuid(BIZ, USER, 0);
    send(
        &e,
        T0,
        &to_id(id, template(WaId(0), "notice", None)),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        outstanding(&e),
        1,
        "the user messaged by BSUID is no longer outstanding"
    );
    // A refused BSUID send clears nothing.
    let mut bad = template(WaId(0), "notice", None);
    bad.to = Addressee::UserId(bsuid(OTHER_BIZ, WaId(6281300000002), 0).to_string().into());
    send(&e, T0, &bad, &mut out).unwrap_err();
    assert_eq!(outstanding(&e), 1);
}
