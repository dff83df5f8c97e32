//! `wabasim cost` end to end, through `run_cost_to`.

use wabasim::pricing::cli::{run_cost_to, CostArgs};

fn run(args: &CostArgs) -> String {
    let mut out = Vec::new();
    let code = run_cost_to(args, &mut out).unwrap_or_else(|e| panic!("cost failed: {e}"));
    assert_eq!(code, 0);
    String::from_utf8(out).unwrap()
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

#[test]
fn quick_form_prints_card_amount() {
    let mut a = quick("pmp-2025-07", "ID", "marketing", 10_000);
    a.card = vec!["pmp-2026-01".into()];
    let out = run(&a);
    println!("{out}");
    // 10,000 × USD 0.0411 (Indonesia marketing, 2026-01 card) = 411.0000
    assert!(out.contains("Total platform cost: 411.0000 USD"), "{out}");
}
