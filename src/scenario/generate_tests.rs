use super::*;
use crate::scenario::Scenario;
use std::collections::HashSet;

/// A block as a scenario writes it.
fn spec(toml_text: &str) -> GenerateSpec {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}"))
}

const FIFTY: &str = r#"
count = 50
id_start = "200000000000001"
name = "Client {n} ({country})"
markets = ["ID", "BR", "IN"]
verticals = ["retail", "ecommerce"]
messaging_limit = ["TIER_1K", "TIER_10K"]
token = "client-{n}-token"
display_number_start = { ID = "+62 811-0000-0000", BR = "+55 11 90000-0000" }
templates = [
  { name = "order_update", language = "en_US", category = "UTILITY", body = "Order {{1}} is on its way" },
]
"#;

fn fields(x: &Expansion) -> Vec<&str> {
    x.problems.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn fifty_businesses_round_robin_with_derived_ids() {
    let x = expand(&[spec(FIFTY)]);
    assert!(x.problems.is_empty(), "{:?}", x.problems);
    let b = &x.businesses;
    assert_eq!(b.len(), 50);
    assert_eq!(x.origin[17], (0, 17));
    // Ids count up from id_start; markets, verticals and tiers go round-robin.
    assert_eq!(b[0].id.0, 200000000000001);
    assert_eq!(b[49].id.0, 200000000000050);
    let markets: Vec<&str> = b.iter().take(4).map(|b| b.country.as_str()).collect();
    assert_eq!(markets, ["ID", "BR", "IN", "ID"]);
    assert_eq!(b[1].vertical, "ecommerce");
    assert_eq!(b[2].vertical, "retail");
    assert_eq!(b[1].messaging_limit, MessagingLimitTier::Tier10K);
    // Placeholders.
    assert_eq!(b[0].name, "Client 1 (ID)");
    assert_eq!(b[17].name, "Client 18 (IN)");
    assert_eq!(b[17].tokens, ["client-18-token"]);
    // One WABA (business id + "01"), one number (WABA id + "01"), the templates copied.
    let w = &b[17].wabas[0];
    assert_eq!(w.id.0, 20000000000001801);
    assert_eq!(w.phone_numbers.len(), 1);
    assert_eq!(w.phone_numbers[0].id.0, 2000000000000180101);
    assert_eq!(w.phone_numbers[0].verified_name, "Client 18 (IN)");
    assert_eq!(w.templates.len(), 1);
    assert_eq!(w.templates[0].name, "order_update");
    // Display numbers count up per market from the start, keeping its punctuation; a market
    // without a start counts from +<calling code> 800 000 0001.
    let display = |i: usize| b[i].wabas[0].phone_numbers[0].display_phone_number.as_str();
    assert_eq!(display(0), "+62 811-0000-0000");
    assert_eq!(display(3), "+62 811-0000-0001");
    assert_eq!(display(1), "+55 11 90000-0000");
    assert_eq!(display(4), "+55 11 90000-0001");
    assert_eq!(display(2), "+91 800 000 0001");
    assert_eq!(display(5), "+91 800 000 0002");
    // Every id and display number is unique.
    let ids: HashSet<u64> = b
        .iter()
        .flat_map(|b| &b.wabas)
        .flat_map(|w| std::iter::once(w.id.0).chain(w.phone_numbers.iter().map(|n| n.id.0)))
        .collect();
    assert_eq!(ids.len(), 100);
    let shown: HashSet<&str> = (0..50).map(display).collect();
    assert_eq!(shown.len(), 50);
}

#[test]
fn expansion_is_deterministic_and_the_range_draw_follows_the_block_seed() {
    let text = format!("{FIFTY}numbers_per_business = [1, 3]\n");
    let json = |x: &Expansion| serde_json::to_string(&x.businesses).unwrap();
    let a = expand(&[spec(&text)]);
    let b = expand(&[spec(&text)]);
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    assert_eq!(json(&a), json(&b));
    let counts: Vec<usize> = a
        .businesses
        .iter()
        .map(|b| b.wabas[0].phone_numbers.len())
        .collect();
    assert!(counts.iter().all(|c| (1..=3).contains(c)), "{counts:?}");
    for k in 1..=3 {
        assert!(counts.contains(&k), "{counts:?} has no {k}");
    }
    // Number ids stay unique with several numbers per WABA: WABA id + 01, 02, 03.
    let numbers: Vec<u64> = a
        .businesses
        .iter()
        .flat_map(|b| &b.wabas[0].phone_numbers)
        .map(|n| n.id.0)
        .collect();
    assert_eq!(numbers.iter().collect::<HashSet<_>>().len(), numbers.len());
    assert_eq!(numbers[1] - numbers[0], 1, "{numbers:?}");
    // Another block seed draws other counts; the ids of the businesses do not move.
    let c = expand(&[spec(&format!("{text}seed = 7\n"))]);
    assert_ne!(json(&a), json(&c));
    assert_eq!(c.businesses[49].id, a.businesses[49].id);
}

#[test]
fn the_defaults_give_one_indonesian_retail_number_per_business() {
    let x = expand(&[spec("count = 2\nid_start = 300000000000001\n")]);
    assert!(x.problems.is_empty(), "{:?}", x.problems);
    let b = &x.businesses[1];
    assert_eq!(
        (b.name.as_str(), b.country.as_str(), b.vertical.as_str()),
        ("Client 2", "ID", "retail")
    );
    assert_eq!(b.messaging_limit, MessagingLimitTier::Tier250);
    assert!(b.tokens.is_empty() && b.bsp.official && !b.verified);
    assert_eq!(b.wabas[0].currency, "USD");
    assert_eq!(
        b.wabas[0].phone_numbers[0].display_phone_number,
        "+62 800 000 0002"
    );
}

#[test]
fn blocks_sharing_a_start_keep_counting() {
    let x = expand(&[
        spec("count = 2\nid_start = 1000\n"),
        spec("count = 1\nid_start = 2000\n"),
    ]);
    let shown: Vec<&str> = x
        .businesses
        .iter()
        .map(|b| b.wabas[0].phone_numbers[0].display_phone_number.as_str())
        .collect();
    assert_eq!(
        shown,
        ["+62 800 000 0001", "+62 800 000 0002", "+62 800 000 0003"]
    );
    assert_eq!(x.origin, [(0, 0), (0, 1), (1, 0)]);
}

#[test]
fn a_bad_block_names_each_field_and_generates_nothing() {
    let x = expand(&[spec(
        r#"
count = 0
id_start = 1
name = "Client {k}"
token = "same-token"
markets = ["ID", "XX", "br"]
verticals = [""]
numbers_per_business = [3, 1]
display_number_start = { BR = "+55 11", FR = "+33 1 00 00 00 00", ID = "+55 11 90000-0000" }
templates = [ { id = "5", name = "t", language = "en_US", category = "UTILITY", body = "x" } ]
"#,
    )]);
    assert!(x.businesses.is_empty());
    assert_eq!(
        fields(&x),
        [
            "generate[0].count",
            "generate[0].name",
            "generate[0].markets[1]",
            "generate[0].markets[2]",
            "generate[0].verticals",
            "generate[0].numbers_per_business",
            "generate[0].display_number_start.BR",
            "generate[0].display_number_start.FR",
            "generate[0].display_number_start.ID",
            "generate[0].templates[0].id",
        ],
        "{:?}",
        x.problems
    );
    let msg = |f: &str| {
        x.problems
            .iter()
            .find(|e| e.field == f)
            .map(|e| e.message.clone())
            .unwrap()
    };
    assert_eq!(msg("generate[0].count"), "0: need 1 to 10000 businesses");
    assert!(msg("generate[0].name").contains("unknown placeholder {k}"));
    assert!(msg("generate[0].display_number_start.ID").contains("is not in ID (+62)"));
    // The token is only checked once count allows more than one business.
    let x = expand(&[spec("count = 2\nid_start = 1\ntoken = \"same\"\n")]);
    assert_eq!(fields(&x), ["generate[0].token"]);
    assert!(x.problems[0]
        .message
        .contains("same token for every business"));
}

#[test]
fn bounds_name_the_field_that_crosses_them() {
    let x = expand(&[spec("count = 10001\nid_start = 1\n")]);
    assert_eq!(fields(&x), ["generate[0].count"]);
    let x = expand(&[spec("count = 2\nid_start = 999999999999999\n")]);
    assert_eq!(fields(&x), ["generate[0].id_start"]);
    assert!(x.problems[0].message.contains("more than 15 digits"));
    let x = expand(&[spec("count = 1\nid_start = 999999999999999\n")]);
    assert!(
        x.problems.is_empty(),
        "the largest id fits: {:?}",
        x.problems
    );
    assert_eq!(
        x.businesses[0].wabas[0].phone_numbers[0].id.0,
        9_999_999_999_999_990_101
    );
    let x = expand(&[spec(
        "count = 1\nid_start = 1\nnumbers_per_business = 100\n",
    )]);
    assert_eq!(fields(&x), ["generate[0].numbers_per_business"]);
    // Over all blocks: the second block crosses 10,000 businesses, the third 100,000 numbers.
    let x = expand(&[
        spec("count = 6000\nid_start = 1\n"),
        spec("count = 5000\nid_start = 100000\n"),
        spec("count = 3000\nid_start = 200000\nnumbers_per_business = 40\n"),
    ]);
    assert_eq!(
        fields(&x),
        ["generate[1].count", "generate[2].numbers_per_business"]
    );
    assert!(x.problems[1]
        .message
        .contains("126000 phone numbers; at most 100000"));
    assert_eq!(x.businesses.len(), 6000, "only the first block generates");
    // A display start too close to the end of its market's numbers.
    let x = expand(&[spec(
        "count = 3\nid_start = 1\ndisplay_number_start = { ID = \"+62 999 999 98\" }\n",
    )]);
    assert_eq!(fields(&x), ["generate[0].display_number_start.ID"]);
    assert!(
        x.problems[0].message.contains("leaves +62 after 2 numbers"),
        "{:?}",
        x.problems
    );
}

#[test]
fn bad_values_are_parse_errors_with_their_own_message() {
    let e = Scenario::parse(
        "[[generate]]\ncount = 2\nid_start = 1\nmessaging_limit = [\"TIER_1K\", \"TIER_3K\"]\n",
        "g.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("g.toml:4:"), "{e}");
    assert!(e.contains("TIER_3K"), "{e}");
    let e = Scenario::parse(
        "[[generate]]\ncount = 2\nid_start = 1\nnumbers_per_business = [1, 2, 3]\n",
        "g.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("[min, max]"), "{e}");
    let e = Scenario::parse(
        "[[generate]]\ncount = 2\nid_start = 1\nbogus = 1\n",
        "g.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("g.toml:4:1:") && e.contains("bogus"), "{e}");
}

/// A scenario with one hand-written business (the default world's) and a block.
fn with_block(block: &str) -> String {
    let hand = crate::scenario::DEFAULT_WORLD
        .split("[audience]")
        .next()
        .unwrap()
        .to_string();
    format!("{hand}\n[[generate]]\n{block}")
}

#[test]
fn generated_and_hand_written_businesses_are_one_world() {
    let s = Scenario::parse(&with_block(FIFTY), "w.toml").unwrap();
    let w = s.world();
    assert_eq!(w.businesses.len(), 51);
    assert_eq!(w.businesses[0].name, "Toko Sepatu Nusantara");
    assert_eq!(w.businesses[18].name, "Client 18 (IN)");
    // The load generator sees every number, hand-written first.
    let ctx = s.plan_context();
    assert_eq!(ctx.phone_numbers.len(), 51);
    assert_eq!(ctx.phone_numbers[0], "106540352242922");
    assert_eq!(ctx.phone_numbers[1], "2000000000000010101");
    // A door that changes a business works on the expanded world, once.
    let mut s = s;
    s.expand_world();
    assert!(s.generate.is_empty());
    assert_eq!(s.world().businesses.len(), 51);
    s.businesses[18].tokens = vec!["client-1-token".into()];
    let e = s.valid_world("w.toml").unwrap_err().to_string();
    assert_eq!(
        e,
        "w.toml: businesses[18].tokens[0]: token already belongs to a business"
    );
}

#[test]
fn world_problems_of_generated_businesses_name_the_block_and_business() {
    // The block's first business takes the hand-written business's id; its template has a
    // bad placeholder in every copy.
    let block = "count = 50\nid_start = 100000000000001\nmarkets = [\"ID\", \"BR\"]\n\
                 templates = [ { name = \"t\", language = \"en_US\", category = \"UTILITY\", body = \"Hi {{0}}\" } ]\n";
    let e = Scenario::parse(&with_block(block), "w.toml")
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert_eq!(
        lines[0],
        "w.toml: generate[0] business n=1 (businesses[1]).id: duplicate id 100000000000001"
    );
    assert!(
        lines[1].starts_with(
            "w.toml: generate[0] business n=1 (businesses[1]).wabas[0].templates[0]: "
        ),
        "{e}"
    );
    assert!(
        lines[1].ends_with(" (also in 49 more businesses of generate[0])"),
        "{e}"
    );
}

#[test]
fn a_scenario_without_blocks_keeps_its_world() {
    let s = Scenario::default_world();
    assert!(s.generate.is_empty());
    assert_eq!(s.world().businesses.len(), 1);
    // Blocks alone replace the default world.
    let s = Scenario::parse("[[generate]]\ncount = 3\nid_start = 1\n", "g.toml").unwrap();
    let w = s.world();
    assert_eq!(w.businesses.len(), 3);
    assert!(w.businesses.iter().all(|b| b.name.starts_with("Client ")));
}
