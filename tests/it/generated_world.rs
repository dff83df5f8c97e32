//! Generated worlds and audience segments end to end: `scenarios/bsp-many-clients.toml` (50 client
//! businesses from one `[[generate]]` block in three markets, an audience segmented by market)
//! validates like a hand-written world, and `simulate` sends from every client's numbers to
//! every market.

use crate::common::simulate_scenario;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use wabasim::scenario::Scenario;

fn bsp_clients() -> Scenario {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/bsp-many-clients.toml");
    Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn fifty_generated_clients_in_three_markets_validate() {
    let sc = bsp_clients();
    let valid = sc.validate("bsp-many-clients.toml").unwrap();
    let world = valid.world();
    assert_eq!(world.businesses.len(), 50);
    let mut per_market: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &world.businesses {
        *per_market.entry(b.country.as_str()).or_default() += 1;
    }
    assert_eq!(
        per_market,
        BTreeMap::from([("BR", 17), ("ID", 17), ("IN", 16)])
    );
    // Ids, tokens and display numbers are unique; each client has one or two numbers.
    let numbers: Vec<_> = world
        .businesses
        .iter()
        .flat_map(|b| &b.wabas)
        .flat_map(|w| &w.phone_numbers)
        .collect();
    assert_eq!(
        numbers.iter().map(|n| n.id).collect::<HashSet<_>>().len(),
        numbers.len()
    );
    assert_eq!(
        numbers
            .iter()
            .map(|n| &n.display_phone_number)
            .collect::<HashSet<_>>()
            .len(),
        numbers.len()
    );
    assert!(world
        .businesses
        .iter()
        .all(|b| (1..=2).contains(&b.wabas[0].phone_numbers.len())));
    let tokens: HashSet<_> = world.businesses.iter().flat_map(|b| &b.tokens).collect();
    assert_eq!(tokens.len(), 50);
    // The load generator gets every number and the three segments.
    let ctx = sc.plan_context();
    assert_eq!(ctx.phone_numbers.len(), numbers.len());
    let names: Vec<&str> = ctx.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["id", "br", "in"]);
    // The same file gives the same world.
    let again = bsp_clients().validate("bsp-many-clients.toml").unwrap();
    assert_eq!(
        serde_json::to_string(&again.world().businesses).unwrap(),
        serde_json::to_string(&world.businesses).unwrap()
    );
}

#[test]
fn many_clients_send_at_once_with_their_own_numbers() {
    let sc = bsp_clients();
    // The first day of the month (the whole month is the scenario's `simulate` command).
    let r = simulate_scenario(&sc, Some(1.0), None).unwrap();
    let again = simulate_scenario(&sc, Some(1.0), None).unwrap();
    assert_eq!(
        serde_json::to_vec(&r).unwrap(),
        serde_json::to_vec(&again).unwrap(),
        "same scenario and seed, same bytes"
    );
    // Three streams at once, each reported.
    let names: Vec<&str> = r.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["campaign", "otp", "support"]);
    for s in &r.streams {
        assert!(s.messages > 5_000, "{s:?}");
        assert_eq!(s.start, r.start, "every stream starts at once");
    }
    // No permission errors, nothing refused: every client sends from its own numbers, and the
    // desk never answers outside a window.
    assert_eq!(r.totals.refused, 0, "{:?}", r.totals.codes);
    let desk = r
        .conversations
        .expect("the support stream answers in the window");
    assert!(
        desk.answered > 1_000 && desk.opened > desk.answered,
        "{desk:?}"
    );
    // Outcomes and cost per client: all 50 sent, were charged, and add up to the totals.
    assert_eq!(r.businesses.len(), 50);
    assert!(r
        .businesses
        .iter()
        .all(|b| b.accepted > 0 && !b.cost.is_empty()));
    let delivered: u64 = r.businesses.iter().map(|b| b.delivered).sum();
    assert_eq!(delivered, r.totals.delivered);
    let usd: i64 = r
        .businesses
        .iter()
        .map(|b| b.cost["USD"].amount.micros())
        .sum();
    assert_eq!(usd, r.cost.by_currency["USD"].amount.micros());
    // Every market of the segments was sent to and charged.
    let json = serde_json::to_value(&r).unwrap();
    let markets: HashSet<&str> = json["cost"]["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["market"].as_str().unwrap())
        .collect();
    assert_eq!(
        markets,
        HashSet::from(["Indonesia", "Brazil", "India"]),
        "{}",
        json["cost"]["totals"]
    );
}
