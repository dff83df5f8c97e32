//! The pricing rules of every model, through the engine-facing `Pricer` API, with amounts
//! computed by hand from the embedded rate cards.

use std::collections::BTreeMap;
use std::sync::Arc;
use wabasim::clock::{SimTime, MICROS_PER_HOUR};
use wabasim::pricing::*;

fn book() -> Arc<RateBook> {
    Arc::new(RateBook::embedded().expect("embedded cards"))
}

fn config(model: PricingModelId, card: &str) -> PricerConfig {
    PricerConfig {
        card: CardChoice::Named(card.into()),
        ..PricerConfig::for_model(model)
    }
}

fn pricer(model: PricingModelId, card: &str) -> Pricer {
    Pricer::new(book(), config(model, card)).expect("pricer")
}

/// Local midnight UTC of `date` plus `hours`.
fn at(date: &str, hours: u64) -> SimTime {
    date.parse::<Date>()
        .unwrap()
        .midnight(0)
        .plus(hours * MICROS_PER_HOUR)
}

fn amt(s: &str) -> Amount {
    Amount::parse(s).unwrap()
}

struct Msg {
    key: u64,
    to: &'static str,
    category: Category,
    csw: bool,
    fep: bool,
    waba: u64,
    phone: u64,
}

fn msg(key: u64, to: &'static str, category: Category) -> Msg {
    Msg {
        key,
        to,
        category,
        csw: false,
        fep: false,
        waba: 10,
        phone: 20,
    }
}

impl Msg {
    fn csw(mut self) -> Self {
        self.csw = true;
        self
    }
    fn fep(mut self) -> Self {
        self.fep = true;
        self.csw = true;
        self
    }
    fn phone(mut self, phone: u64) -> Self {
        self.phone = phone;
        self
    }
    fn waba(mut self, waba: u64) -> Self {
        self.waba = waba;
        self
    }
    fn facts(&self, delivered: bool) -> MessageFacts<'_> {
        MessageFacts {
            message_key: self.key,
            waba_id: self.waba,
            phone_number_id: self.phone,
            recipient: self.to,
            recipient_number: None,
            market: None,
            category: self.category,
            csw_open: self.csw,
            fep_open: self.fep,
            delivered,
        }
    }
}

/// Sends (sent + delivered) and returns the delivered charge.
fn deliver(p: &mut Pricer, now: SimTime, m: &Msg) -> Charge {
    let sent = p.price(now, &m.facts(false));
    assert!(!sent.recorded);
    let d = p.price(now, &m.facts(true));
    assert!(d.recorded);
    d
}

const ID: &str = "6281234567890"; // Indonesia
const BR: &str = "5511987654321"; // Brazil
const IN: &str = "919812345678"; // India

// ---------------------------------------------------------------------------------------
// pmp-2025-07

#[test]
fn pmp_2025_billability_matrix() {
    use Category::*;
    let mut p = pricer(PricingModelId::Pmp2025_07, "pmp-2026-01");
    let now = at("2026-02-10", 9);
    let c = deliver(&mut p, now, &msg(1, ID, Marketing));
    assert_eq!(
        (c.amount, c.pricing_type, c.billable),
        (amt("0.0411"), PricingType::Regular, true)
    );
    // Marketing is charged inside the window too.
    let c = deliver(&mut p, now, &msg(2, ID, Marketing).csw());
    assert_eq!(c.amount, amt("0.0411"));
    // Authentication too.
    let c = deliver(&mut p, now, &msg(3, ID, Authentication).csw());
    assert_eq!(c.amount, amt("0.025"));
    // Utility: charged outside, free inside the window.
    let c = deliver(&mut p, now, &msg(4, ID, Utility));
    assert_eq!(
        (c.amount, c.pricing_type),
        (amt("0.025"), PricingType::Regular)
    );
    let c = deliver(&mut p, now, &msg(5, ID, Utility).csw());
    assert_eq!(
        (c.amount, c.pricing_type, c.billable, c.category),
        (
            Amount::ZERO,
            PricingType::FreeCustomerService,
            false,
            Utility
        )
    );
    // Service (non-template) is free.
    let c = deliver(&mut p, now, &msg(6, ID, Service).csw());
    assert_eq!(
        (c.amount, c.pricing_type, c.category),
        (Amount::ZERO, PricingType::FreeCustomerService, Service)
    );
    // Free entry point: everything free, even marketing.
    let c = deliver(&mut p, now, &msg(7, ID, Marketing).fep());
    assert_eq!(
        (c.amount, c.pricing_type, c.category, c.billable),
        (
            Amount::ZERO,
            PricingType::FreeEntryPoint,
            ReferralConversion,
            false
        )
    );
    // Marketing lite pays marketing rates and keeps its name.
    let c = deliver(&mut p, now, &msg(8, BR, MarketingLite));
    assert_eq!((c.amount, c.category), (amt("0.0625"), MarketingLite));
    // Ledger: 0.0411 × 2 + 0.025 × 2 + 0.0625 = 0.1947
    assert_eq!(p.ledger().total_amount("USD"), amt("0.1947"));
    assert_eq!(p.ledger().lines_total(), 8);
}

#[test]
fn pmp_webhook_objects_agree_with_ledger() {
    let mut p = pricer(PricingModelId::Pmp2025_07, "pmp-2026-01");
    let now = at("2026-02-10", 9);
    let m = msg(42, ID, Category::Marketing);
    let sent = p.price(now, &m.facts(false));
    let delivered = p.price(now, &m.facts(true));
    let wp = delivered.webhook_pricing().unwrap();
    assert_eq!(
        serde_json::to_value(&wp).unwrap(),
        serde_json::json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"})
    );
    assert_eq!(sent.webhook_pricing(), delivered.webhook_pricing());
    // v23: per-message conversation id, same on sent and delivered; v24: omitted.
    let c23 = sent.webhook_conversation(23, true).unwrap();
    assert_eq!(
        c23.id,
        delivered.webhook_conversation(23, false).unwrap().id
    );
    assert_eq!(c23.origin.origin_type, "marketing");
    assert!(sent.webhook_conversation(24, true).is_none());
    let other = p.price(now, &msg(43, ID, Category::Marketing).facts(false));
    assert_ne!(other.webhook_conversation(23, true).unwrap().id, c23.id);
    // The ledger line matches the webhook.
    let line = p.ledger().recent().last().unwrap().clone();
    assert_eq!(line.category, Category::Marketing);
    assert_eq!(line.pricing_type, PricingType::Regular);
    assert_eq!(line.amount, amt("0.0411"));
    assert_eq!(&*line.market, "Indonesia");
    // Free entry point: v24 keeps the conversation, one id per window, with its 72 h expiry.
    let f1 = p.price(now, &msg(44, BR, Category::Marketing).fep().facts(true));
    let f2 = p.price(
        now.plus(MICROS_PER_HOUR),
        &msg(45, BR, Category::Utility).fep().facts(true),
    );
    let w1 = f1.webhook_conversation(24, true).unwrap();
    assert_eq!(w1.id, f2.webhook_conversation(24, true).unwrap().id);
    assert_eq!(w1.origin.origin_type, "referral_conversion");
    assert_eq!(
        w1.expiration_timestamp.unwrap(),
        now.plus(72 * MICROS_PER_HOUR).unix_secs().to_string()
    );
    let fp = f1.webhook_pricing().unwrap();
    assert_eq!(
        (fp.pricing_type, fp.billable),
        (Some(PricingType::FreeEntryPoint), false)
    );
    assert_eq!(fp.category, "referral_conversion");
}

/// The send-time pricing's webhook objects are exactly those of the delivered charge, and only
/// delivery charges.
#[test]
fn pmp_send_time_preview_shows_what_delivery_charges() {
    for (model, card, date) in [
        (PricingModelId::Pmp2025_07, "pmp-2026-01", "2026-02-10"),
        (PricingModelId::Pmp2026_10, "pmp-2026-10", "2026-11-10"),
    ] {
        let mut p = pricer(model, card);
        let now = at(date, 9);
        let cases = [
            msg(1, ID, Category::Marketing),
            msg(2, BR, Category::Utility),
            msg(3, BR, Category::Utility).csw(),
            msg(4, IN, Category::Service).csw(),
            msg(5, ID, Category::Authentication),
            msg(6, BR, Category::Marketing).fep(),
        ];
        for m in &cases {
            let sent = p.price(now, &m.facts(false));
            let done = p.price(now, &m.facts(true));
            let what = format!("{model} {:?} csw={} fep={}", m.category, m.csw, m.fep);
            assert_eq!(sent.webhook_pricing(), done.webhook_pricing(), "{what}");
            assert_eq!(
                sent.webhook_conversation(23, true).map(|c| c.id),
                done.webhook_conversation(23, true).map(|c| c.id),
                "{what}"
            );
            assert_eq!(
                (sent.billable, sent.pricing_type),
                (done.billable, done.pricing_type),
                "{what}"
            );
            assert!(!sent.recorded && done.recorded, "{what}");
        }
        // Only delivery charges, and with the market's rate.
        assert_eq!(p.ledger().lines_total(), cases.len() as u64);
        assert!(p.ledger().total_amount("USD") > Amount::ZERO);
    }
}

#[test]
fn unknown_market_and_bad_numbers_are_unpriced_not_panics() {
    let mut p = pricer(PricingModelId::Pmp2025_07, "pmp-2025-07"); // partial card
    let now = at("2025-08-01", 1);
    let c = deliver(&mut p, now, &msg(1, IN, Category::Marketing));
    assert!(
        c.unpriced
            .as_deref()
            .unwrap()
            .contains("does not cover +91"),
        "{c:?}"
    );
    assert_eq!(c.amount, Amount::ZERO);
    let c = deliver(&mut p, now, &msg(2, "not-a-number", Category::Marketing));
    assert!(c.unpriced.is_some());
    let c = deliver(&mut p, now, &msg(3, "5491112345678", Category::Marketing));
    assert_eq!(c.amount, amt("0.0618")); // Argentina is on the partial card
    let s = p.ledger().snapshot();
    assert_eq!(s.unpriced_lines, 2);
    assert_eq!(s.by_currency["USD"].unpriced, 2); // both carry the card's currency
    assert_eq!(s.by_currency["USD"].amount, amt("0.0618"));
}

// ---------------------------------------------------------------------------------------
// pmp-2026-10

#[test]
fn pmp_2026_charges_service_and_in_window_utility() {
    use Category::*;
    let mut p = pricer(PricingModelId::Pmp2026_10, "pmp-2026-10");
    let now = at("2026-10-05", 12);
    let c = deliver(&mut p, now, &msg(1, ID, Service).csw());
    // Service at the utility rate of the 2026-10 card: 0.025.
    assert_eq!(
        (c.amount, c.pricing_type, c.category),
        (amt("0.025"), PricingType::Regular, Service)
    );
    let c = deliver(&mut p, now, &msg(2, BR, Utility).csw());
    assert_eq!(
        (c.amount, c.pricing_type),
        (amt("0.0068"), PricingType::Regular)
    );
    let c = deliver(&mut p, now, &msg(3, BR, Service).fep());
    assert_eq!(
        (c.amount, c.pricing_type),
        (Amount::ZERO, PricingType::FreeEntryPoint)
    );
    // Authentication: no cell on this card; utility rate used, with a note.
    let c = deliver(&mut p, now, &msg(4, ID, Authentication));
    assert_eq!(c.amount, amt("0.025"));
    assert!(c.note.as_deref().unwrap().contains("utility rate used"));
}

#[test]
fn authentication_fallback_can_be_switched_off() {
    let mut cfg = config(PricingModelId::Pmp2026_10, "pmp-2026-10");
    cfg.options.authentication_falls_back_to_utility = false;
    let mut p = Pricer::new(book(), cfg).unwrap();
    let c = deliver(
        &mut p,
        at("2026-10-05", 1),
        &msg(1, ID, Category::Authentication),
    );
    assert!(
        c.unpriced
            .as_deref()
            .unwrap()
            .contains("no authentication rate"),
        "{c:?}"
    );
    assert_eq!(p.ledger().unpriced_lines(), 1);
}

#[test]
fn reported_free_service_allowance_per_phone_number() {
    let mut cfg = config(PricingModelId::Pmp2026_10, "pmp-2026-10");
    cfg.options.free_service_messages_per_number = Some(2);
    let mut p = Pricer::new(book(), cfg).unwrap();
    let now = at("2026-10-30", 1);
    let s = |k, phone| msg(k, ID, Category::Service).csw().phone(phone);
    // The sent-time quote does not use up the allowance.
    assert_eq!(
        p.price(now, &s(1, 20).facts(false)).pricing_type,
        PricingType::FreeCustomerService
    );
    assert_eq!(
        p.price(now, &s(1, 20).facts(true)).pricing_type,
        PricingType::FreeCustomerService
    );
    assert_eq!(
        deliver(&mut p, now, &s(2, 20)).pricing_type,
        PricingType::FreeCustomerService
    );
    let third = deliver(&mut p, now, &s(3, 20));
    assert_eq!(
        (third.pricing_type, third.amount),
        (PricingType::Regular, amt("0.025"))
    );
    // Another phone number has its own allowance.
    assert_eq!(
        deliver(&mut p, now, &s(4, 21)).pricing_type,
        PricingType::FreeCustomerService
    );
    // A new month resets it.
    assert_eq!(
        deliver(&mut p, at("2026-11-01", 0), &s(5, 20)).pricing_type,
        PricingType::FreeCustomerService
    );
    // Without the option the first service message is charged.
    let mut plain = pricer(PricingModelId::Pmp2026_10, "pmp-2026-10");
    assert_eq!(
        deliver(&mut plain, now, &s(1, 20)).pricing_type,
        PricingType::Regular
    );
}

// ---------------------------------------------------------------------------------------
// authentication-international

#[test]
fn authentication_international_needs_eligibility_start_and_foreign_market() {
    let mut cfg = config(PricingModelId::Pmp2025_07, "pmp-2026-01");
    let start = at("2026-02-01", 0);
    cfg.options.auth_international.insert(
        10,
        AuthIntlEligibility {
            start,
            home_calling_code: "91".into(),
        },
    );
    let mut p = Pricer::new(book(), cfg).unwrap();
    let auth = |k, to| msg(k, to, Category::Authentication);
    // Before the start time: domestic rate.
    let c = deliver(&mut p, at("2026-01-31", 23), &auth(1, ID));
    assert_eq!(
        (c.category, c.amount),
        (Category::Authentication, amt("0.025"))
    );
    // After: Indonesia has an international rate (0.136).
    let c = deliver(&mut p, at("2026-02-01", 0), &auth(2, ID));
    assert_eq!(
        (c.category, c.amount),
        (Category::AuthenticationInternational, amt("0.136"))
    );
    assert_eq!(
        c.webhook_pricing().unwrap().category,
        "authentication-international"
    );
    assert_eq!(
        c.webhook_conversation(23, true).unwrap().origin.origin_type,
        "authentication_international"
    );
    // Home market (India) is never international.
    let c = deliver(&mut p, at("2026-02-02", 0), &auth(3, IN));
    assert_eq!(
        (c.category, c.amount),
        (Category::Authentication, amt("0.0014"))
    );
    // Brazil has no international rate.
    let c = deliver(&mut p, at("2026-02-02", 0), &auth(4, BR));
    assert_eq!(
        (c.category, c.amount),
        (Category::Authentication, amt("0.0068"))
    );
    // Another WABA is not eligible.
    let c = deliver(&mut p, at("2026-02-02", 0), &auth(5, ID).waba(11));
    assert_eq!(c.amount, amt("0.025"));
}

// ---------------------------------------------------------------------------------------
// cbp-2023

#[test]
fn cbp_2023_conversations_open_reuse_and_run_in_parallel() {
    use Category::*;
    let mut p = pricer(PricingModelId::Cbp2023, "cbp-2024-10");
    let t0 = at("2024-10-10", 8);
    let m1 = deliver(&mut p, t0, &msg(1, ID, Marketing));
    assert_eq!(m1.amount, amt("0.0411"));
    let conv = m1.conversation.clone().unwrap();
    assert!(conv.opened);
    assert_eq!(conv.expires_at, Some(t0.plus(24 * MICROS_PER_HOUR)));
    // Another marketing template within 24 h: same conversation, no charge.
    let m2 = deliver(
        &mut p,
        t0.plus(23 * MICROS_PER_HOUR),
        &msg(2, ID, Marketing),
    );
    assert_eq!(m2.amount, Amount::ZERO);
    assert_eq!(m2.conversation.as_ref().unwrap().id, conv.id);
    assert!(!m2.conversation.as_ref().unwrap().opened);
    // A utility template opens a parallel utility conversation.
    let u = deliver(&mut p, t0.plus(MICROS_PER_HOUR), &msg(3, ID, Utility).csw());
    assert_eq!((u.amount, u.category), (amt("0.02"), Utility));
    assert_ne!(u.conversation.as_ref().unwrap().id, conv.id);
    assert_eq!(p.open_conversations(), 2);
    // A free-form reply joins an open conversation instead of opening a service one.
    let s = deliver(
        &mut p,
        t0.plus(2 * MICROS_PER_HOUR),
        &msg(4, ID, Service).csw(),
    );
    assert_eq!(s.amount, Amount::ZERO);
    assert_ne!(s.category, Service);
    // After 24 h the marketing conversation is closed: a new one is charged.
    let m3 = deliver(
        &mut p,
        t0.plus(24 * MICROS_PER_HOUR),
        &msg(5, ID, Marketing),
    );
    assert_eq!(m3.amount, amt("0.0411"));
    assert_ne!(m3.conversation.unwrap().id, conv.id);
    // 0.0411 × 2 + 0.02 = 0.1022; 3 conversations, 5 messages.
    let s = p.ledger().snapshot();
    assert_eq!(s.by_currency["USD"].amount, amt("0.1022"));
    assert_eq!(s.by_currency["USD"].units, 3);
    assert_eq!(s.by_currency["USD"].messages, 5);
}

#[test]
fn cbp_webhook_has_no_type_and_expiry_only_on_sent() {
    let mut p = pricer(PricingModelId::Cbp2023, "cbp-2024-10");
    let t0 = at("2024-10-10", 8);
    let m = msg(1, BR, Category::Utility);
    let sent = p.price(t0, &m.facts(false));
    let del = p.price(t0, &m.facts(true));
    assert_eq!(
        serde_json::to_value(del.webhook_pricing().unwrap()).unwrap(),
        serde_json::json!({"billable": true, "pricing_model": "CBP", "category": "utility"})
    );
    let ws = sent.webhook_conversation(23, true).unwrap();
    let wd = del.webhook_conversation(25, false).unwrap();
    assert_eq!(ws.id, wd.id);
    assert_eq!(
        ws.expiration_timestamp.as_deref(),
        Some(
            t0.plus(24 * MICROS_PER_HOUR)
                .unix_secs()
                .to_string()
                .as_str()
        )
    );
    assert!(wd.expiration_timestamp.is_none());
    assert_eq!(del.amount, amt("0.008"));
    // Sent alone charges nothing; a message that is never delivered is never billed.
    let lost = msg(2, ID, Category::Marketing);
    p.price(t0, &lost.facts(false));
    assert_eq!(p.ledger().lines_total(), 1);
    assert_eq!(p.ledger().total_amount("USD"), amt("0.008"));
}

#[test]
fn cbp_2023_free_entry_point_closes_others_for_72_hours() {
    use Category::*;
    let mut p = pricer(PricingModelId::Cbp2023, "cbp-2024-10");
    let t0 = at("2024-10-10", 0);
    deliver(&mut p, t0, &msg(1, ID, Marketing));
    assert_eq!(p.open_conversations(), 1);
    let f = deliver(&mut p, t0.plus(MICROS_PER_HOUR), &msg(2, ID, Service).fep());
    assert_eq!(
        (f.amount, f.pricing_type, f.category, f.billable),
        (
            Amount::ZERO,
            PricingType::FreeEntryPoint,
            ReferralConversion,
            false
        )
    );
    assert_eq!(
        p.open_conversations(),
        1,
        "the marketing conversation was closed"
    );
    // Templates inside the window are free too, up to 72 h.
    let inside = deliver(
        &mut p,
        t0.plus(72 * MICROS_PER_HOUR),
        &msg(3, ID, Marketing),
    );
    assert_eq!(
        (inside.amount, inside.pricing_type),
        (Amount::ZERO, PricingType::FreeEntryPoint)
    );
    let after = deliver(
        &mut p,
        t0.plus(73 * MICROS_PER_HOUR),
        &msg(4, ID, Marketing),
    );
    assert_eq!(
        (after.amount, after.pricing_type),
        (amt("0.0411"), PricingType::Regular)
    );
}

/// A CBP 2023 card with service rates, to see the service free tier fire.
fn book_with_service_card() -> Arc<RateBook> {
    let mut b = RateBook::embedded().unwrap();
    b.insert(
        RateCard::from_csv(
            "cbp-test",
            "market,calling_codes,marketing,utility,authentication,service,currency,unit,effective_from,source\n\
             Indonesia,62,0.0411,0.02,0.03,0.0316,USD,per_conversation,2024-06-01,test\n\
             Other,,0.05,0.01,0.02,0.01,USD,per_conversation,2024-06-01,test\n",
        )
        .unwrap(),
    );
    Arc::new(b)
}

#[test]
fn cbp_2023_service_free_tier_then_free_from_november_2024() {
    let mut cfg = config(PricingModelId::Cbp2023, "cbp-test");
    cfg.options.cbp_free_tier_per_month = 2;
    let mut p = Pricer::new(book_with_service_card(), cfg).unwrap();
    let svc = |k: u64, to: &'static str| msg(k, to, Category::Service).csw();
    let t = at("2024-10-31", 1);
    let c1 = deliver(&mut p, t, &svc(1, "6281000000001"));
    let c2 = deliver(&mut p, t, &svc(2, "6281000000002"));
    let c3 = deliver(&mut p, t, &svc(3, "6281000000003"));
    assert_eq!(c1.pricing_type, PricingType::FreeTier);
    assert!(
        c1.billable,
        "free-tier conversations are billable: true in CBP webhooks"
    );
    assert_eq!(c2.pricing_type, PricingType::FreeTier);
    assert_eq!(
        (c3.pricing_type, c3.amount),
        (PricingType::Regular, amt("0.0316"))
    );
    // The free tier does not cover marketing.
    let m = deliver(&mut p, t, &msg(4, "6281000000004", Category::Marketing));
    assert_eq!(m.amount, amt("0.0411"));
    // From 2024-11-01 service is free and unlimited.
    let n = deliver(&mut p, at("2024-11-01", 0), &svc(5, "6281000000005"));
    assert_eq!(
        (n.pricing_type, n.amount, n.billable),
        (PricingType::FreeCustomerService, Amount::ZERO, false)
    );
    // The free tier is per WABA: another WABA gets its own allowance in October.
    let mut cfg = config(PricingModelId::Cbp2023, "cbp-test");
    cfg.options.cbp_free_tier_per_month = 1;
    let mut p = Pricer::new(book_with_service_card(), cfg).unwrap();
    assert_eq!(
        deliver(&mut p, t, &svc(1, "6281000000001")).pricing_type,
        PricingType::FreeTier
    );
    assert_eq!(
        deliver(&mut p, t, &svc(2, "6281000000002")).pricing_type,
        PricingType::Regular
    );
    assert_eq!(
        deliver(&mut p, t, &svc(3, "6281000000003").waba(99)).pricing_type,
        PricingType::FreeTier
    );
}

#[test]
fn cbp_2023_service_without_rate_is_unpriced_with_reason() {
    let mut cfg = config(PricingModelId::Cbp2023, "cbp-2024-10");
    cfg.options.cbp_free_tier_per_month = 0;
    let mut p = Pricer::new(book(), cfg).unwrap();
    let c = deliver(
        &mut p,
        at("2024-10-15", 0),
        &msg(1, ID, Category::Service).csw(),
    );
    assert!(
        c.unpriced.as_deref().unwrap().contains("no service rate"),
        "{c:?}"
    );
}

// ---------------------------------------------------------------------------------------
// cbp-2022

#[test]
fn cbp_2022_business_and_user_initiated_with_free_tier() {
    let mut cfg = config(PricingModelId::Cbp2022, "cbp-2022-eur");
    cfg.options.cbp_free_tier_per_month = 1;
    let mut p = Pricer::new(book(), cfg).unwrap();
    let t = at("2022-03-01", 10);
    // First conversation of the month: free tier (business-initiated).
    let c = deliver(&mut p, t, &msg(1, BR, Category::Marketing));
    assert_eq!(
        (c.pricing_type, c.category),
        (PricingType::FreeTier, Category::BusinessInitiated)
    );
    // A template outside the window: business-initiated, EUR 0.0414.
    let c = deliver(&mut p, t, &msg(2, "5511000000002", Category::Utility));
    assert_eq!(
        (c.amount, c.category, &*c.currency),
        (amt("0.0414"), Category::BusinessInitiated, "EUR")
    );
    // A reply inside the window: user-initiated, EUR 0.0248.
    let c = deliver(&mut p, t, &msg(3, "5511000000003", Category::Service).csw());
    assert_eq!(
        (c.amount, c.category),
        (amt("0.0248"), Category::UserInitiated)
    );
    // Inside that conversation, a template costs nothing more (one slot in 2022).
    let c = deliver(
        &mut p,
        t.plus(MICROS_PER_HOUR),
        &msg(4, "5511000000003", Category::Marketing),
    );
    assert_eq!(
        (c.amount, c.category),
        (Amount::ZERO, Category::UserInitiated)
    );
    // Entry point: free 24 h conversation.
    let c = deliver(&mut p, t, &msg(5, "5511000000005", Category::Service).fep());
    assert_eq!(
        (c.amount, c.pricing_type),
        (Amount::ZERO, PricingType::FreeEntryPoint)
    );
    assert_eq!(
        c.conversation.unwrap().expires_at,
        Some(t.plus(24 * MICROS_PER_HOUR))
    );
    // Next month the free tier is back.
    let c = deliver(
        &mut p,
        at("2022-04-01", 0),
        &msg(6, "5511000000006", Category::Marketing),
    );
    assert_eq!(c.pricing_type, PricingType::FreeTier);
    assert_eq!(p.ledger().total_amount("EUR"), amt("0.0662"));
    let wp = deliver(
        &mut p,
        at("2022-04-01", 0),
        &msg(7, "5511000000007", Category::Marketing),
    )
    .webhook_pricing()
    .unwrap();
    assert_eq!(
        (wp.pricing_model.as_str(), wp.category.as_str()),
        ("CBP", "business_initiated")
    );
}

// ---------------------------------------------------------------------------------------
// template era

#[test]
fn template_era_charges_templates_only() {
    let mut p = pricer(PricingModelId::TemplateEra, "template-era-example");
    let t = at("2020-05-01", 0);
    let c = deliver(&mut p, t, &msg(1, IN, Category::Utility));
    assert_eq!(c.amount, amt("0.0042"));
    assert!(c.webhook_pricing().is_none());
    // Templates are charged even inside the 24 h session.
    let c = deliver(&mut p, t, &msg(2, BR, Category::Marketing).csw());
    assert_eq!(c.amount, amt("0.05"));
    // Session (free-form) messages are free.
    let c = deliver(&mut p, t, &msg(3, BR, Category::Service).csw());
    assert_eq!(
        (c.amount, c.pricing_type, c.billable),
        (Amount::ZERO, PricingType::FreeCustomerService, false)
    );
    assert_eq!(p.ledger().total_amount("USD"), amt("0.0542"));
}

// ---------------------------------------------------------------------------------------
// volume tiers

fn tiers() -> VolumeTiers {
    let mut t = VolumeTiers::default();
    let b = |from, pct: &str| TierBand {
        from,
        discount: Percent::parse(pct).unwrap(),
    };
    t.default
        .insert(RateColumn::Utility, vec![b(1, "0"), b(3, "10"), b(5, "25")]);
    let mut india = BTreeMap::new();
    india.insert(RateColumn::Utility, vec![b(2, "50")]);
    t.per_market.insert("India".into(), india);
    t
}

#[test]
fn volume_tier_boundaries() {
    let mut cfg = config(PricingModelId::Pmp2025_07, "pmp-2026-01");
    cfg.tiers = tiers();
    let mut p = Pricer::new(book(), cfg).unwrap();
    let t = at("2026-03-31", 0);
    let u = |k| msg(k, ID, Category::Utility);
    // 0.025 list; 10% off from the 3rd: 0.0225; 25% off from the 5th: 0.01875.
    let got: Vec<Amount> = (1..=6).map(|k| deliver(&mut p, t, &u(k)).amount).collect();
    assert_eq!(
        got,
        ["0.025", "0.025", "0.0225", "0.0225", "0.01875", "0.01875"].map(amt)
    );
    // The sent-time quote shows the next message's tier without counting it.
    assert_eq!(
        p.price(t, &u(7).facts(false)).tier.map(|t| t.discount),
        Some(Percent::parse("25").unwrap())
    );
    // Free in-window utility does not count toward the tier (still the 7th billable next).
    deliver(&mut p, t, &u(8).csw());
    // Marketing is not tiered.
    assert_eq!(
        deliver(&mut p, t, &msg(9, ID, Category::Marketing)).amount,
        amt("0.0411")
    );
    // Per-market override: India 50% from the 2nd message. 0.0014 → 0.0007.
    assert_eq!(
        deliver(&mut p, t, &msg(10, IN, Category::Utility)).amount,
        amt("0.0014")
    );
    assert_eq!(
        deliver(&mut p, t, &msg(11, IN, Category::Utility)).amount,
        amt("0.0007")
    );
    // A new month starts from the list rate again.
    assert_eq!(
        deliver(&mut p, at("2026-04-01", 0), &u(12)).amount,
        amt("0.025")
    );
}

#[test]
fn volume_tiers_name_the_tier_and_band_and_say_when_one_is_entered() {
    let mut cfg = config(PricingModelId::Pmp2025_07, "pmp-2026-01");
    cfg.tiers = tiers();
    let mut p = Pricer::new(book(), cfg).unwrap();
    let t = at("2026-03-31", 0);
    let u = |k| msg(k, ID, Category::Utility);
    let got: Vec<(u32, String, bool)> = (1..=6)
        .map(|k| {
            let c = deliver(&mut p, t, &u(k));
            let tier = c.tier.expect("Indonesia utility has bands");
            (tier.index, tier.band(), c.tier_entered)
        })
        .collect();
    let row = |i, b: &str, e| (i, b.to_string(), e);
    assert_eq!(
        got,
        vec![
            row(1, "1:2", false), // the first tier is not "entered": it is where a month starts
            row(1, "1:2", false),
            row(2, "3:4", true),
            row(2, "3:4", false),
            row(3, "5:", true),
            row(3, "5:", false),
        ]
    );
    // The sent-time quote never enters a tier (nothing is counted).
    assert!(!p.price(t, &u(7).facts(false)).tier_entered);
    // India's bands start at 2: an implicit first tier at the list rate, then the 50 % band.
    let c = deliver(&mut p, t, &msg(8, IN, Category::Utility));
    assert_eq!(
        (
            c.tier.unwrap().index,
            c.tier.unwrap().band(),
            c.tier_entered
        ),
        (1, "1:1".to_string(), false)
    );
    let c = deliver(&mut p, t, &msg(9, IN, Category::Utility));
    assert_eq!(
        (
            c.tier.unwrap().index,
            c.tier.unwrap().band(),
            c.tier_entered
        ),
        (2, "2:".to_string(), true)
    );
    // Marketing has no tiers; neither has a market and column without bands.
    assert_eq!(
        deliver(&mut p, t, &msg(10, ID, Category::Marketing)).tier,
        None
    );
    assert_eq!(
        deliver(&mut p, t, &msg(11, ID, Category::Authentication)).tier,
        None
    );
    // The ledger's rows carry the tier and band, as JSON `tier`, `band`, `discount`.
    let snap = p.ledger().snapshot();
    let row = snap
        .totals
        .iter()
        .find(|r| r.tier.is_some_and(|t| t.index == 3))
        .expect("a tier-3 row");
    assert_eq!(row.messages, 2);
    let v = serde_json::to_value(row).unwrap();
    assert_eq!(
        (&v["tier"], &v["band"], &v["discount"]),
        (
            &serde_json::json!(3),
            &serde_json::json!("5:"),
            &serde_json::json!("25")
        )
    );
    let untiered = serde_json::to_value(
        snap.totals
            .iter()
            .find(|r| r.category == Category::Marketing)
            .unwrap(),
    )
    .unwrap();
    assert!(untiered.get("tier").is_none(), "{untiered}");
}

#[test]
fn volume_tiers_count_over_every_waba_of_a_portfolio_when_the_counts_are_shared() {
    let mut cfg = config(PricingModelId::Pmp2025_07, "pmp-2026-01");
    cfg.tiers = tiers();
    let t = at("2026-03-31", 0);
    let mut a = Pricer::new(book(), cfg.clone()).unwrap();
    let mut b = Pricer::new(book(), cfg).unwrap();
    let send = |p: &mut Pricer, shared: Option<&mut VolumeCounts>, k: u64, waba: u64| {
        let m = msg(k, ID, Category::Utility).waba(waba);
        let mut c = Charge::empty();
        match shared {
            Some(v) => p.price_into_shared(t, &m.facts(true), &mut c, v),
            None => p.price_into(t, &m.facts(true), &mut c),
        }
        c.tier.unwrap().index
    };
    // Not shared: each WABA's pricer counts alone, the 3rd message of each is tier 2.
    let own: Vec<u32> = (1..=4)
        .map(|k| send(if k % 2 == 0 { &mut a } else { &mut b }, None, k, k % 2))
        .collect();
    assert_eq!(own, vec![1, 1, 1, 1]);
    // Shared (the engine's portfolio): the 3rd message of the portfolio is tier 2, whichever
    // WABA sends it.
    let mut a = Pricer::new(book(), a.config().clone()).unwrap();
    let mut b = Pricer::new(book(), b.config().clone()).unwrap();
    let mut counts = VolumeCounts::new();
    let shared: Vec<u32> = (1..=4)
        .map(|k| {
            let p = if k % 2 == 0 { &mut a } else { &mut b };
            send(p, Some(&mut counts), k, k % 2)
        })
        .collect();
    assert_eq!(shared, vec![1, 1, 2, 2]);
}

#[test]
fn authentication_international_keeps_the_authentication_tier_position() {
    let mut cfg = config(PricingModelId::Pmp2025_07, "pmp-2026-01");
    let b = |from, pct: &str| TierBand {
        from,
        discount: Percent::parse(pct).unwrap(),
    };
    for col in [
        RateColumn::Authentication,
        RateColumn::AuthenticationInternational,
    ] {
        cfg.tiers.default.insert(col, vec![b(1, "0"), b(3, "10")]);
    }
    let start = at("2026-03-10", 12);
    cfg.options.auth_international.insert(
        10,
        AuthIntlEligibility {
            start,
            home_calling_code: "91".into(),
        },
    );
    let mut p = Pricer::new(book(), cfg).unwrap();
    let auth = |k| msg(k, ID, Category::Authentication);
    // Two authentication messages before the start time, one after: the third message of the
    // month is authentication-international and in tier 2, not back in tier 1.
    let c1 = deliver(&mut p, at("2026-03-10", 0), &auth(1));
    let c2 = deliver(&mut p, at("2026-03-10", 1), &auth(2));
    let c3 = deliver(&mut p, at("2026-03-10", 13), &auth(3));
    assert_eq!(
        [c1.category, c2.category, c3.category],
        [
            Category::Authentication,
            Category::Authentication,
            Category::AuthenticationInternational
        ]
    );
    assert_eq!(
        [c1, c2, c3.clone()].map(|c| c.tier.unwrap().index),
        [1, 1, 2]
    );
    // 10 % off the Indonesian authentication-international rate (0.136).
    assert_eq!(c3.amount, amt("0.1224"));
}

#[test]
fn malformed_tiers_are_rejected() {
    let mut cfg = config(PricingModelId::Pmp2025_07, "pmp-2026-01");
    cfg.tiers.default.insert(
        RateColumn::Utility,
        vec![
            TierBand {
                from: 5,
                discount: Percent::parse("5").unwrap(),
            },
            TierBand {
                from: 5,
                discount: Percent::parse("10").unwrap(),
            },
        ],
    );
    assert!(Pricer::new(book(), cfg.clone()).is_err());
    cfg.tiers.default.insert(
        RateColumn::Utility,
        vec![TierBand {
            from: 1,
            discount: Percent::parse("150").unwrap(),
        }],
    );
    assert!(Pricer::new(book(), cfg).is_err());
}

// ---------------------------------------------------------------------------------------
// markup and ledger

#[test]
fn markup_reaches_the_ledger() {
    let mut cfg = config(PricingModelId::Pmp2025_07, "pmp-2026-01");
    cfg.markup.fixed_per_message = amt("0.001");
    cfg.markup.per_category.insert(
        Category::Marketing,
        MarkupRule {
            fixed_per_message: None,
            percent: Some(Percent::parse("6").unwrap()),
        },
    );
    let mut p = Pricer::new(book(), cfg).unwrap();
    let t = at("2026-03-01", 0);
    // Marketing: 0.0411 + 0.001 + 6% × 0.0411 (0.002466) = 0.044566
    let c = deliver(&mut p, t, &msg(1, ID, Category::Marketing));
    assert_eq!(c.bsp_price, amt("0.044566"));
    // Free service message: the fixed fee only.
    let c = deliver(&mut p, t, &msg(2, ID, Category::Service).csw());
    assert_eq!((c.amount, c.bsp_price), (Amount::ZERO, amt("0.001")));
    let s = p.ledger().snapshot();
    let usd = &s.by_currency["USD"];
    assert_eq!(
        (usd.amount, usd.bsp_price, usd.margin),
        (amt("0.0411"), amt("0.045566"), amt("0.004466"))
    );
    let row = s
        .totals
        .iter()
        .find(|r| r.category == Category::Service)
        .unwrap();
    assert_eq!(
        (row.margin, row.pricing_type),
        (amt("0.001"), PricingType::FreeCustomerService)
    );
}

#[test]
fn ledger_is_bounded_but_totals_exact() {
    let mut cfg = config(PricingModelId::Pmp2025_07, "pmp-2026-01");
    cfg.options.ledger_lines = 3;
    let mut p = Pricer::new(book(), cfg).unwrap();
    for k in 0..10 {
        deliver(
            &mut p,
            at("2026-03-01", 0),
            &msg(k, ID, Category::Marketing),
        );
    }
    let s = p.ledger().snapshot();
    assert_eq!((s.lines_total, s.lines_kept, s.lines_dropped), (10, 3, 7));
    assert_eq!(s.by_currency["USD"].amount, amt("0.411"));
    let json = serde_json::to_value(p.ledger()).unwrap();
    assert_eq!(json["by_currency"]["USD"]["amount"], "0.411");
    assert_eq!(json["recent"][2]["seq"], 10);
}

// ---------------------------------------------------------------------------------------
// dates, markets, determinism, memory

#[test]
fn model_and_card_switch_by_date_at_local_midnight() {
    let cfg = PricerConfig {
        model: ModelChoice::ByDate,
        card: CardChoice::ByDate { currency: None },
        ..PricerConfig::for_model(PricingModelId::Pmp2025_07)
    };
    let mut p = Pricer::new(book(), cfg.clone()).unwrap();
    let last_cbp = at("2025-07-01", 0).minus(1);
    assert_eq!(p.model_at(last_cbp), PricingModelId::Cbp2023);
    assert_eq!(p.model_at(at("2025-07-01", 0)), PricingModelId::Pmp2025_07);
    assert_eq!(p.model_at(at("2026-10-01", 0)), PricingModelId::Pmp2026_10);
    // At UTC+05:30 July 1 starts 5.5 h earlier.
    let mut india = cfg.clone();
    india.options.utc_offset_minutes = 330;
    let pi = Pricer::new(book(), india).unwrap();
    assert_eq!(
        pi.model_at(at("2025-06-30", 19)),
        PricingModelId::Pmp2025_07
    );
    assert_eq!(pi.model_at(at("2025-06-30", 18)), PricingModelId::Cbp2023);
    // Cards: 2025-12-31 is the partial July card (Argentina known), 2026-01-01 the full card.
    let ar = "5491112345678";
    let c = deliver(&mut p, at("2025-12-31", 23), &msg(1, ar, Category::Utility));
    assert_eq!((&*c.card, c.amount), ("pmp-2025-07", amt("0.0289")));
    let c = deliver(&mut p, at("2026-01-01", 0), &msg(2, ar, Category::Utility));
    assert_eq!((&*c.card, c.amount), ("pmp-2026-01", amt("0.026")));
    // The model switch changes the rules: in-window utility free in 2025-07, charged 2026-10.
    let c = deliver(
        &mut p,
        at("2026-09-30", 23),
        &msg(3, ID, Category::Utility).csw(),
    );
    assert_eq!(c.amount, Amount::ZERO);
    let c = deliver(
        &mut p,
        at("2026-10-01", 0),
        &msg(4, ID, Category::Utility).csw(),
    );
    assert_eq!(
        (c.model, &*c.card, c.amount),
        (PricingModelId::Pmp2026_10, "pmp-2026-10", amt("0.025"))
    );
}

#[test]
fn calling_code_edge_cases_in_prices() {
    let mut p = pricer(PricingModelId::Pmp2025_07, "pmp-2026-01");
    let t = at("2026-03-01", 0);
    let mk = |k, to| msg(k, to, Category::Marketing);
    assert_eq!(
        deliver(&mut p, t, &mk(1, "12125550100")).amount,
        amt("0.025")
    ); // US
    assert_eq!(
        &*deliver(&mut p, t, &mk(2, "18765550100")).market,
        "Rest of Latin America"
    ); // Jamaica
    assert_eq!(
        deliver(&mut p, t, &mk(3, "18095550100")).amount,
        amt("0.074")
    ); // Dominican Republic
    assert_eq!(
        &*deliver(&mut p, t, &mk(4, "14165550100")).market,
        "North America"
    ); // Canada
    let mut oct = pricer(PricingModelId::Pmp2026_10, "pmp-2026-10");
    let t = at("2026-10-02", 0);
    let kz = deliver(&mut oct, t, &mk(5, "77012345678"));
    assert_eq!((&*kz.market, kz.amount), ("Kazakhstan", amt("0.0604")));
    let ru = deliver(&mut oct, t, &mk(6, "74951234567"));
    assert_eq!((&*ru.market, ru.amount), ("Russia", amt("0.0802")));
    let hk = deliver(&mut oct, t, &mk(7, "85291234567"));
    assert_eq!((&*hk.market, hk.amount), ("Hong Kong", amt("0.0732")));
}

#[test]
fn same_inputs_same_ledger_bytes() {
    let run = || {
        let mut p = pricer(PricingModelId::Cbp2023, "cbp-2024-10");
        for k in 0..50u64 {
            let to = if k % 3 == 0 { ID } else { BR };
            let cat = [
                Category::Marketing,
                Category::Utility,
                Category::Authentication,
            ][(k % 3) as usize];
            deliver(&mut p, at("2024-10-10", k), &msg(k, to, cat));
        }
        serde_json::to_string(p.ledger()).unwrap()
    };
    assert_eq!(run(), run());
}

#[test]
fn conversation_state_is_released_on_expiry() {
    let mut p = pricer(PricingModelId::Cbp2023, "cbp-2024-10");
    let t0 = at("2024-10-10", 0);
    let numbers = ["6281000000001", "6281000000002", "6281000000003"];
    for (k, n) in numbers.iter().enumerate() {
        deliver(&mut p, t0, &msg(k as u64, n, Category::Marketing));
        deliver(&mut p, t0, &msg(10 + k as u64, n, Category::Utility));
    }
    deliver(&mut p, t0, &msg(99, BR, Category::Service).fep());
    assert_eq!((p.tracked_pairs(), p.open_conversations()), (4, 7));
    p.expire(t0.plus(24 * MICROS_PER_HOUR));
    assert_eq!((p.tracked_pairs(), p.open_conversations()), (1, 1));
    p.expire(t0.plus(72 * MICROS_PER_HOUR));
    assert_eq!((p.tracked_pairs(), p.open_conversations()), (0, 0));
    // PMP free-entry-point windows are released too.
    let mut q = pricer(PricingModelId::Pmp2025_07, "pmp-2026-01");
    deliver(&mut q, t0, &msg(1, BR, Category::Marketing).fep());
    assert_eq!(q.tracked_pairs(), 1);
    q.expire(t0.plus(72 * MICROS_PER_HOUR));
    assert_eq!(q.tracked_pairs(), 0);
}

#[test]
fn named_card_must_fit_model() {
    let e = Pricer::new(book(), config(PricingModelId::Pmp2025_07, "cbp-2024-10")).unwrap_err();
    assert!(e.to_string().contains("per_conversation"), "{e}");
    let e = Pricer::new(book(), config(PricingModelId::Pmp2025_07, "nope")).unwrap_err();
    assert!(e.to_string().contains("unknown rate card `nope`"), "{e}");
}

#[test]
fn cbp_2022_entry_point_joins_an_open_conversation() {
    let mut p = pricer(PricingModelId::Cbp2022, "cbp-2022-eur");
    let t = at("2022-03-01", 10);
    let mut cfg = config(PricingModelId::Cbp2022, "cbp-2022-eur");
    cfg.options.cbp_free_tier_per_month = 0;
    let mut q = Pricer::new(book(), cfg).unwrap();
    for pr in [&mut p, &mut q] {
        let first = deliver(pr, t, &msg(1, BR, Category::Marketing));
        let fep = deliver(
            pr,
            t.plus(MICROS_PER_HOUR),
            &msg(2, BR, Category::Service).fep(),
        );
        assert_eq!(fep.conversation.unwrap().id, first.conversation.unwrap().id);
        assert_eq!(fep.amount, Amount::ZERO);
        assert_ne!(fep.pricing_type, PricingType::FreeEntryPoint);
    }
    // With the free tier off the first conversation is paid: EUR 0.0414.
    assert_eq!(q.ledger().total_amount("EUR"), amt("0.0414"));
}

#[test]
fn cbp_marketing_lite_shares_the_marketing_slot() {
    let mut p = pricer(PricingModelId::Cbp2023, "cbp-2024-10");
    let t = at("2024-10-10", 0);
    let a = deliver(&mut p, t, &msg(1, ID, Category::MarketingLite));
    assert_eq!((a.category, a.amount), (Category::Marketing, amt("0.0411")));
    let b = deliver(&mut p, t, &msg(2, ID, Category::Marketing));
    assert_eq!(b.amount, Amount::ZERO);
    assert_eq!(p.open_conversations(), 1);
}

#[test]
fn documented_engine_snippet_works() {
    let mut pricer = Pricer::with_embedded_cards(PricerConfig {
        model: ModelChoice::Fixed(PricingModelId::Pmp2025_07),
        card: CardChoice::ByDate { currency: None },
        markup: Markup::none(),
        tiers: VolumeTiers::default(),
        options: PricingOptions::default(),
    })
    .unwrap();
    let facts = MessageFacts {
        message_key: 17,
        waba_id: 1,
        phone_number_id: 2,
        recipient: "6281234567890",
        recipient_number: None,
        market: None,
        category: Category::Marketing,
        csw_open: false,
        fep_open: false,
        delivered: false,
    };
    let now = at("2026-03-01", 0);
    let sent = pricer.price(now, &facts);
    assert!(sent.webhook_pricing().is_some());
    assert!(sent.webhook_conversation(23, true).is_some());
    let done = pricer.price(
        now.plus(1_000_000),
        &MessageFacts {
            delivered: true,
            ..facts
        },
    );
    assert_eq!(done.amount, amt("0.0411"));
    assert_eq!(pricer.ledger().snapshot().lines_total, 1);
}
