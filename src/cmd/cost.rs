//! `wabasim cost`: estimates from the command line.
//!
//! Quick form: `wabasim cost --model pmp-2025-07 --market ID --category marketing --messages 10000`.
//! Plan form: `wabasim cost PLAN.toml` (see docs/pricing.md for the plan format).
//! `--compare cbp-2023,pmp-2025-07` prices the same traffic under several models side by side.

use crate::pricing::card::{RateBook, RateCard};
use crate::pricing::error::PricingError;
use crate::pricing::estimate::{estimate, Estimate, EstimateLine, EstimateRequest, Plan, Sums};
use crate::pricing::markup::Markup;
use crate::pricing::money::{Amount, Percent, Share};
use crate::pricing::pricer::PricingOptions;
use crate::pricing::types::{Category, Date, PricingModelId};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `wabasim cost`.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(about = "Estimate what WhatsApp messages cost under a pricing model")]
pub struct CostArgs {
    /// A plan file (TOML). Without it, the quick form flags describe one line of traffic.
    pub plan: Option<PathBuf>,
    /// Pricing model: template-era, cbp-2022, cbp-2023, pmp-2025-07, pmp-2026-10. Default:
    /// the plan's, else the model in force on --date (today, UTC, without --date).
    #[arg(long)]
    pub model: Option<String>,
    /// Price the same traffic under several models, side by side (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub compare: Vec<String>,
    /// Market: ISO country code (ID), country or market name (Indonesia, "Rest of Africa").
    #[arg(long)]
    pub market: Option<String>,
    /// Recipient calling code instead of --market (62, 1876).
    #[arg(long)]
    pub calling_code: Option<String>,
    /// Message category: marketing, marketing_lite, utility, authentication,
    /// authentication_international, service.
    #[arg(long)]
    pub category: Option<String>,
    /// Number of messages (quick form).
    #[arg(long)]
    pub messages: Option<u64>,
    /// Distinct recipients (default: one per message); matters under CBP.
    #[arg(long)]
    pub recipients: Option<u64>,
    /// Template name to show in the breakdown (quick form).
    #[arg(long)]
    pub template: Option<String>,
    /// Share (0..1) of recipients with an open customer service window.
    #[arg(long)]
    pub in_window: Option<String>,
    /// Share (0..1) of recipients who came from a Click-to-WhatsApp ad / Page CTA.
    #[arg(long)]
    pub from_ads: Option<String>,
    /// Rate card(s) by name; the first one that fits each model is used.
    #[arg(long, value_delimiter = ',')]
    pub card: Vec<String>,
    /// Extra rate-card CSV files (a file named like an embedded card replaces it).
    #[arg(long = "rates")]
    pub rate_files: Vec<PathBuf>,
    /// Currency of the card to choose by date (USD by default).
    #[arg(long)]
    pub currency: Option<String>,
    /// Date of the estimate (YYYY-MM-DD): picks the card in effect and the rules by date.
    #[arg(long)]
    pub date: Option<String>,
    /// BSP fixed fee per delivered message, in the card's currency.
    #[arg(long)]
    pub markup_fixed: Option<String>,
    /// BSP percentage on the platform cost.
    #[arg(long)]
    pub markup_percent: Option<String>,
    /// pmp-2026-10: free service messages per phone number per month (reported, unconfirmed).
    #[arg(long)]
    pub free_service_per_number: Option<u32>,
    /// CBP: ignore the 1,000 free conversations a month.
    #[arg(long)]
    pub no_free_tier: bool,
    /// Spread the messages evenly over N days from the estimate date (default 1; plan: `days`
    /// per [[send]], this flag fills in lines that do not set it).
    #[arg(long)]
    pub days: Option<u32>,
    /// What if Meta recategorises the template on day N (0 = the estimate date)? From that day
    /// on the messages are priced as --recategorise-to. Needs --days above N. In a plan it
    /// applies to the lines of the other category (only to --template's lines when given);
    /// plan field: `recategorise = { to = "marketing", on_day = 12 }`.
    #[arg(long, value_name = "N")]
    pub recategorise_on_day: Option<u32>,
    /// The category of that recategorisation: marketing (default) or utility.
    #[arg(long, value_name = "CATEGORY")]
    pub recategorise_to: Option<String>,
    /// List the known rate cards and exit.
    #[arg(long)]
    pub list_cards: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn cfg<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, PricingError> {
    r.map_err(|e| PricingError::Config(format!("{what}: {e}")))
}

/// Runs `wabasim cost`, writing to `out`. Returns the exit code (0); errors are for the caller
/// to print (exit code 2 is suggested).
pub fn run_cost_to(args: &CostArgs, out: &mut dyn Write) -> Result<i32, PricingError> {
    let io = |e: std::io::Error| PricingError::Config(format!("cannot write output: {e}"));
    let plan = match &args.plan {
        Some(p) => {
            if args.market.is_some() || args.calling_code.is_some() || args.messages.is_some() {
                return Err(PricingError::Config(
                    "give either a plan file or --market/--calling-code/--messages, not both"
                        .into(),
                ));
            }
            Some(Plan::from_file(p)?)
        }
        None => None,
    };
    let mut book = RateBook::embedded()?;
    let files = plan
        .iter()
        .flat_map(|p| p.rate_files.iter())
        .chain(args.rate_files.iter());
    for f in files {
        book.insert(RateCard::from_file(f)?);
    }
    let book = Arc::new(book);
    if args.list_cards {
        list_cards(&book, args.json, out).map_err(io)?;
        return Ok(0);
    }

    // Models: --compare, else --model, else the plan's.
    let mut models: Vec<PricingModelId> = Vec::new();
    for m in &args.compare {
        models.push(cfg(m.parse::<PricingModelId>(), "--compare")?);
    }
    if models.is_empty() {
        if let Some(m) = &args.model {
            models.push(cfg(m.parse::<PricingModelId>(), "--model")?);
        } else if let Some(p) = &plan {
            models = if p.compare.is_empty() {
                p.models.clone()
            } else {
                p.compare.clone()
            };
        }
    }
    models.dedup();

    let mut lines = match &plan {
        Some(p) => p.lines.clone(),
        None => vec![quick_line(args)?],
    };
    apply_schedule_flags(args, plan.is_some(), &mut lines)?;
    let mut date = match &args.date {
        Some(d) => Some(cfg(d.parse::<Date>(), "--date")?),
        None => plan.as_ref().and_then(|p| p.date),
    };
    // No model named anywhere: the one in force on the estimate date, today (UTC) unless
    // given, so a bare `wabasim cost --market ID …` answers "what does this cost now".
    if models.is_empty() {
        let day =
            *date.get_or_insert_with(|| Date::of_instant(crate::clock::Clock::system_now(), 0));
        models.push(PricingModelId::in_force_on(day));
    }
    let mut cards = args.card.clone();
    if cards.is_empty() {
        cards = plan.as_ref().map(|p| p.cards.clone()).unwrap_or_default();
    }
    let currency = args
        .currency
        .clone()
        .or_else(|| plan.as_ref().and_then(|p| p.currency.clone()));
    let mut markup = plan
        .as_ref()
        .and_then(|p| p.markup.clone())
        .unwrap_or_else(Markup::none);
    if let Some(f) = &args.markup_fixed {
        markup.fixed_per_message = cfg(Amount::parse(f), "--markup-fixed")?;
    }
    if let Some(p) = &args.markup_percent {
        markup.percent = cfg(Percent::parse(p), "--markup-percent")?;
    }
    let mut options = PricingOptions::default();
    if let Some(p) = &plan {
        if let Some(n) = p.free_service_messages_per_number {
            options.free_service_messages_per_number = Some(n);
        }
        if let Some(n) = p.cbp_free_tier_per_month {
            options.cbp_free_tier_per_month = n;
        }
        if let Some(o) = p.utc_offset_minutes {
            options.utc_offset_minutes = o;
        }
    }
    if let Some(n) = args.free_service_per_number {
        options.free_service_messages_per_number = Some(n);
    }
    if args.no_free_tier {
        options.cbp_free_tier_per_month = 0;
    }
    let tiers = plan.as_ref().map(|p| p.tiers.clone()).unwrap_or_default();

    let mut estimates = Vec::new();
    for model in &models {
        let req = EstimateRequest {
            model: *model,
            cards: cards.clone(),
            cards_in_model_period: models.len() > 1,
            date,
            currency: currency.clone(),
            markup: markup.clone(),
            tiers: tiers.clone(),
            options: options.clone(),
            lines: lines.clone(),
        };
        estimates.push(estimate(&book, &req).map_err(|e| match models.len() {
            1 => e,
            _ => PricingError::Config(format!("{model}: {e}")),
        })?);
    }

    if args.json {
        let v = if estimates.len() == 1 {
            serde_json::to_value(&estimates[0])
        } else {
            serde_json::to_value(serde_json::json!({ "compare": estimates }))
        }
        .map_err(|e| PricingError::Config(e.to_string()))?;
        let text =
            serde_json::to_string_pretty(&v).map_err(|e| PricingError::Config(e.to_string()))?;
        writeln!(out, "{text}").map_err(io)?;
    } else if estimates.len() == 1 {
        print_estimate(&estimates[0], !markup.is_none(), out).map_err(io)?;
    } else {
        print_compare(&estimates, !markup.is_none(), out).map_err(io)?;
    }
    Ok(0)
}

fn quick_line(args: &CostArgs) -> Result<EstimateLine, PricingError> {
    let market = match (&args.market, &args.calling_code) {
        (Some(m), None) => m.clone(),
        (None, Some(c)) => c.trim().trim_start_matches('+').to_string(),
        (Some(_), Some(_)) => {
            return Err(PricingError::Config(
                "give --market or --calling-code, not both".into(),
            ))
        }
        (None, None) => {
            return Err(PricingError::Config(
                "give a plan file, or --market (or --calling-code) and --messages".into(),
            ))
        }
    };
    let messages = args
        .messages
        .ok_or_else(|| PricingError::Config("--messages is required in the quick form".into()))?;
    let category: Category = match &args.category {
        Some(c) => cfg(c.parse(), "--category")?,
        None => Category::Marketing,
    };
    if !category.is_sendable() {
        return Err(PricingError::Config(format!(
            "--category: `{category}` is assigned by the pricing rules and cannot be sent"
        )));
    }
    let share = |v: &Option<String>, flag: &str| -> Result<Share, PricingError> {
        match v {
            Some(s) => cfg(Share::parse(s), flag),
            None => Ok(Share::ZERO),
        }
    };
    Ok(EstimateLine {
        template: args.template.clone(),
        category,
        market,
        messages,
        in_window: share(&args.in_window, "--in-window")?,
        from_ads: share(&args.from_ads, "--from-ads")?,
        recipients: args.recipients,
        days: 1,
        recategorise: None,
        origin: "command line".into(),
    })
}

/// `--days` and `--recategorise-on-day` / `--recategorise-to` on the lines: every quick-form
/// line; in a plan, `--days` where a line sets none and the recategorisation on the lines of
/// the category it changes (only `--template`'s lines when given).
fn apply_schedule_flags(
    args: &CostArgs,
    is_plan: bool,
    lines: &mut [EstimateLine],
) -> Result<(), PricingError> {
    if let Some(d) = args.days {
        for l in lines.iter_mut() {
            if !is_plan || l.days == 1 {
                l.days = d;
            }
        }
    }
    let to: Category = match &args.recategorise_to {
        Some(c) => cfg(c.parse(), "--recategorise-to")?,
        None => Category::Marketing,
    };
    let Some(on_day) = args.recategorise_on_day else {
        if args.recategorise_to.is_some() {
            return Err(PricingError::Config(
                "--recategorise-to needs --recategorise-on-day N".into(),
            ));
        }
        return Ok(());
    };
    let from = match to {
        Category::Marketing => Category::Utility,
        Category::Utility => Category::Marketing,
        other => {
            return Err(PricingError::Config(format!(
                "--recategorise-to: `{other}`: Meta recategorises templates only to marketing or utility"
            )))
        }
    };
    let mut applied = 0;
    for l in lines.iter_mut() {
        let chosen = if is_plan {
            l.category == from
                && args
                    .template
                    .as_ref()
                    .is_none_or(|t| l.template.as_ref() == Some(t))
        } else {
            true
        };
        if chosen {
            l.recategorise = Some(crate::pricing::estimate::LineRecategorise { to, on_day });
            applied += 1;
        }
    }
    if applied == 0 {
        return Err(PricingError::Config(format!(
            "--recategorise-on-day: the plan has no {from} line{} to recategorise",
            args.template
                .as_ref()
                .map(|t| format!(" of template `{t}`"))
                .unwrap_or_default()
        )));
    }
    Ok(())
}

fn list_cards(book: &RateBook, json: bool, out: &mut dyn Write) -> std::io::Result<()> {
    if json {
        let v: Vec<serde_json::Value> = book
            .cards()
            .map(|c| {
                serde_json::json!({
                    "name": c.name, "currency": c.currency, "unit": c.unit.card_name(),
                    "effective_from": c.effective_from.to_string(), "markets": c.markets.len(),
                    "provenance": c.provenance, "origin": c.origin,
                    "columns": c.columns.iter().map(|c| c.header()).collect::<Vec<_>>(),
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        return writeln!(out, "{text}");
    }
    let rows: Vec<Vec<String>> = book
        .cards()
        .map(|c| {
            vec![
                c.name.clone(),
                c.effective_from.to_string(),
                c.currency.clone(),
                c.unit.card_name().to_string(),
                c.markets.len().to_string(),
                format!("{:?}", c.provenance).to_lowercase(),
                c.columns
                    .iter()
                    .map(|c| c.header())
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    table(
        out,
        &[
            "card",
            "effective",
            "currency",
            "unit",
            "markets",
            "provenance",
            "columns",
        ],
        &rows,
        &[],
    )
}

/// Writes an aligned text table; `right` lists the right-aligned (numeric) columns.
fn table(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<String>],
    right: &[usize],
) -> std::io::Result<()> {
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = w[i].saturating_sub(c.chars().count());
            if right.contains(&i) {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(pad));
                }
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// The template column: its name, and the days a row covers when a recategorisation split
/// the line (`order_update (days 12-29)`).
fn template_cell(l: &crate::pricing::estimate::LineResult) -> String {
    let name = l.template.clone().unwrap_or_else(|| "-".into());
    match &l.days {
        Some(d) => format!("{name} (days {d})"),
        None => name,
    }
}

fn sums_cells(e: &Estimate, s: &Sums, markup: bool) -> Vec<String> {
    let mut v = vec![s.messages.to_string(), s.billable_messages.to_string()];
    if e.model.is_cbp() {
        v.push(s.conversations.to_string());
    }
    v.push(s.charged_units.to_string());
    v.push(e.fmt(s.platform_cost));
    if markup {
        v.push(e.fmt(s.bsp_price));
        v.push(e.fmt(s.margin));
    }
    v
}

fn sums_header(e: &Estimate, markup: bool) -> Vec<&'static str> {
    let mut v = vec!["messages", "billable"];
    if e.model.is_cbp() {
        v.push("conversations");
    }
    v.push("charged");
    v.push("platform cost");
    if markup {
        v.push("BSP price");
        v.push("margin");
    }
    v
}

fn print_estimate(e: &Estimate, markup: bool, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Model {} | card {} ({} {}, effective {}) | date {}",
        e.model,
        e.card,
        e.currency,
        if e.model.is_cbp() {
            "per conversation"
        } else {
            "per message"
        },
        e.card_effective_from,
        e.date
    )?;
    writeln!(out)?;
    let mut header = vec!["template", "category", "market"];
    header.extend(sums_header(e, markup));
    let right: Vec<usize> = (3..header.len()).collect();
    let rows: Vec<Vec<String>> = e
        .lines
        .iter()
        .map(|l| {
            let mut r = vec![template_cell(l), l.category.to_string(), l.market.clone()];
            r.extend(sums_cells(e, &l.sums, markup));
            r
        })
        .collect();
    table(out, &header, &rows, &right)?;
    let mut breakdowns: Vec<(&str, &Vec<crate::pricing::estimate::Group>)> = Vec::new();
    if e.lines.len() > 1 {
        breakdowns.extend([
            ("template", &e.by_template),
            ("category", &e.by_category),
            ("market", &e.by_market),
        ]);
    }
    if !e.by_tier.is_empty() {
        breakdowns.push(("volume tier", &e.by_tier));
    }
    {
        for (title, groups) in breakdowns {
            writeln!(out)?;
            let mut header = vec![title];
            header.extend(sums_header(e, markup));
            let right: Vec<usize> = (1..header.len()).collect();
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    let mut r = vec![g.key.clone()];
                    r.extend(sums_cells(e, &g.sums, markup));
                    r
                })
                .collect();
            table(out, &header, &rows, &right)?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Total platform cost: {} {}",
        e.fmt(e.total.platform_cost),
        e.currency
    )?;
    if markup {
        writeln!(
            out,
            "Total BSP price:     {} {}",
            e.fmt(e.total.bsp_price),
            e.currency
        )?;
        writeln!(
            out,
            "Total BSP margin:    {} {}",
            e.fmt(e.total.margin),
            e.currency
        )?;
    }
    // Notes can be long (a recategorisation names both categories and dates): wrapped to the
    // width every summary keeps.
    for n in &e.notes {
        write!(
            out,
            "{}",
            crate::load::report::fit(&format!("note: {n}\n"), crate::load::report::SUMMARY_WIDTH)
        )?;
    }
    Ok(())
}

fn print_compare(es: &[Estimate], markup: bool, out: &mut dyn Write) -> std::io::Result<()> {
    for e in es {
        writeln!(
            out,
            "{}: card {} ({}, effective {}), date {}",
            e.model, e.card, e.currency, e.card_effective_from, e.date
        )?;
    }
    writeln!(out)?;
    let mut header: Vec<String> = vec!["template".into(), "category".into(), "market".into()];
    for e in es {
        header.push(format!("{} {}", e.model, e.currency));
        if markup {
            header.push(format!("{} BSP", e.model));
        }
    }
    let right: Vec<usize> = (3..header.len()).collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (i, l) in es[0].lines.iter().enumerate() {
        let mut r = vec![template_cell(l), l.category.to_string(), l.market.clone()];
        for e in es {
            let s = &e.lines[i].sums;
            r.push(e.fmt(s.platform_cost));
            if markup {
                r.push(e.fmt(s.bsp_price));
            }
        }
        rows.push(r);
    }
    let mut total = vec!["TOTAL".to_string(), String::new(), String::new()];
    for e in es {
        total.push(e.fmt(e.total.platform_cost));
        if markup {
            total.push(e.fmt(e.total.bsp_price));
        }
    }
    rows.push(total);
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    table(out, &h, &rows, &right)?;
    for e in es {
        for n in &e.notes {
            writeln!(out, "note ({}): {n}", e.model)?;
        }
    }
    Ok(())
}

/// `wabasim cost`: the estimate printed to standard output; a bad flag, plan or card is a usage
/// failure.
pub fn main(args: &CostArgs) -> super::Outcome {
    run_cost_to(args, &mut super::Stdout).map_err(|e| super::Failure::Usage(e.to_string()))
}
