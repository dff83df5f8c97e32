//! HTML reports: one self-contained file per report (inline CSS and SVG, no script, nothing
//! fetched), for simulation reports and load-run reports alike. `wabasim report FILE --html OUT`
//! renders any saved report; `simulate` writes one next to its JSON.

pub mod svg;

use crate::load::report::Report;
use crate::simulate::report::{fmt_time, SimReport, TemplateTimeline};
use std::fmt::Write as _;
use svg::{bin, esc, lanes, lines, stacked_bars, steps, Lane, Series};

const OK: &str = "#2e7d32";
const THROTTLED: &str = "#f9a825";
const REFUSED: &str = "#c62828";
const FAILED: &str = "#6a1b9a";
const BLUE: &str = "#1565c0";
const GREY: &str = "#757575";

/// At most this many bars per chart; longer series are summed into bins.
const MAX_BARS: usize = 360;

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:920px;margin:24px auto;padding:0 16px;color:#222}}
h1{{font-size:22px}} h2{{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}}
figure{{margin:12px 0}} figcaption{{font-weight:600;font-size:13px;margin-bottom:4px}}
table{{border-collapse:collapse;font-size:12px}} td,th{{border:1px solid #ddd;padding:3px 6px;text-align:right}}
td:first-child,th:first-child{{text-align:left}} .note{{color:#555;font-size:12px}}
</style></head><body>
<h1>{t}</h1>
{body}
</body></html>
"#,
        t = esc(title)
    )
}

fn f64s(v: &[u64]) -> Vec<f64> {
    v.iter().map(|x| *x as f64).collect()
}

fn quality_color(q: &str) -> &'static str {
    match q {
        "GREEN" => OK,
        "YELLOW" => THROTTLED,
        "RED" => REFUSED,
        _ => GREY,
    }
}

fn template_color(s: &str) -> &'static str {
    match s {
        "APPROVED" => OK,
        "PENDING" | "IN_APPEAL" => BLUE,
        "PAUSED" => THROTTLED,
        "REJECTED" | "DISABLED" => REFUSED,
        _ => GREY,
    }
}

fn category_color(c: &str) -> &'static str {
    match c {
        "MARKETING" => THROTTLED,
        "UTILITY" => BLUE,
        "AUTHENTICATION" => OK,
        _ => GREY,
    }
}

/// The lane of a recategorised template's category over time, from its first category to each
/// change Meta made.
fn category_lane(tl: &TemplateTimeline, hours: usize) -> Lane {
    let mut spans = Vec::new();
    let mut from = 0.0;
    let mut category = tl
        .category_changes
        .first()
        .map_or(tl.category.clone(), |c| c.from.clone());
    for c in &tl.category_changes {
        spans.push((
            from,
            c.hour as f64,
            category_color(&category).to_string(),
            category.clone(),
        ));
        from = c.hour as f64;
        category = c.to.clone();
    }
    spans.push((
        from,
        hours as f64,
        category_color(&category).to_string(),
        category,
    ));
    Lane {
        label: format!("{} ({}) category", tl.name, tl.language),
        spans,
    }
}

/// The recategorisations under the cost charts: the day each one started pricing the template
/// at its new category, where the cumulative cost of that category starts to climb.
fn category_notes(r: &SimReport) -> String {
    let start = r.start;
    let mut b = String::new();
    for tl in &r.templates {
        for c in &tl.category_changes {
            let _ = writeln!(
                b,
                "<p class=\"note\">Day {}: Meta recategorised <b>{} ({})</b> {} → {}; its sends are priced as {} from then on.</p>",
                c.t.saturating_sub(start) / 86_400,
                esc(&tl.name),
                esc(&tl.language),
                esc(&c.from),
                esc(&c.to),
                esc(&c.to)
            );
        }
    }
    b
}

/// Template pacing, for each template it touched: messages held for the quality assessment,
/// released after it and dropped (132015) per hour, and the totals. Empty without pacing.
fn template_pacing(r: &SimReport, hours: usize) -> String {
    let paced: Vec<_> = r
        .templates
        .iter()
        .filter(|t| !t.pacing.is_empty())
        .collect();
    if paced.is_empty() {
        return String::new();
    }
    let mut b = String::new();
    let t = &r.totals;
    let _ = writeln!(
        b,
        "<p>Template pacing: {} messages held for quality assessment, {} released after it, {} dropped (failed with 132015 when the assessment paused the template).</p>",
        t.paced_held, t.paced_released, t.paced_dropped
    );
    for tl in paced {
        let mut v = [vec![0.0; hours], vec![0.0; hours], vec![0.0; hours]];
        for p in &tl.pacing {
            let i = (p.hour as usize).min(hours - 1);
            v[0][i] += p.held as f64;
            v[1][i] += p.released as f64;
            v[2][i] += p.dropped as f64;
        }
        let (held, per) = bin(&v[0], MAX_BARS);
        let (released, _) = bin(&v[1], MAX_BARS);
        let (dropped, _) = bin(&v[2], MAX_BARS);
        let start = r.start;
        let label = move |i: usize| fmt_time(start + (i * per) as u64 * 3600)[5..].to_string();
        let unit = if per == 1 {
            "per hour".to_string()
        } else {
            format!("per {per} hours")
        };
        b.push_str(&stacked_bars(
            &format!(
                "Template pacing of {} ({}) {unit}: held, released, dropped",
                tl.name, tl.language
            ),
            "messages",
            &[
                Series {
                    name: "held",
                    color: THROTTLED,
                    values: &held,
                },
                Series {
                    name: "released",
                    color: OK,
                    values: &released,
                },
                Series {
                    name: "dropped (132015)",
                    color: REFUSED,
                    values: &dropped,
                },
            ],
            &label,
        ));
    }
    b
}

/// The HTML page of a simulation report.
pub fn simulation_html(r: &SimReport) -> String {
    let mut b = String::new();
    let hours = r.hours.max(1) as usize;
    let _ = writeln!(
        b,
        "<p>{} <br><span class=\"note\">Simulated {} → {} ({} hours), seed {}. {}.</span></p>",
        esc(&r.description),
        fmt_time(r.start),
        fmt_time(r.end),
        r.hours,
        r.seed,
        esc(&r.tool)
    );
    let t = &r.totals;
    let _ = writeln!(
        b,
        "<table><tr><th>messages</th><th>requests</th><th>accepted</th><th>throttled</th><th>refused</th><th>failed</th><th>delivered</th><th>read</th><th>inbound</th><th>retries</th></tr>\
         <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        t.messages, t.requests, t.ok, t.throttled, t.refused, t.failed, t.delivered, t.read, t.inbound, t.retries
    );
    b.push_str("<h2>Traffic</h2>\n");
    let (ok, per) = bin(&f64s(&r.hourly.ok), MAX_BARS);
    let (th, _) = bin(&f64s(&r.hourly.throttled), MAX_BARS);
    let (re, _) = bin(&f64s(&r.hourly.refused), MAX_BARS);
    let (fa, _) = bin(&f64s(&r.hourly.failed), MAX_BARS);
    let start = r.start;
    let label = move |i: usize| fmt_time(start + (i * per) as u64 * 3600)[5..].to_string();
    let unit = if per == 1 {
        "per hour".to_string()
    } else {
        format!("per {per} hours")
    };
    b.push_str(&stacked_bars(
        &format!("Requests {unit}, by outcome"),
        "requests",
        &outcomes(&ok, &th, &re, &fa),
        &label,
    ));
    let (de, _) = bin(&f64s(&r.hourly.delivered), MAX_BARS);
    let (rd, _) = bin(&f64s(&r.hourly.read), MAX_BARS);
    let (fl, _) = bin(&f64s(&r.hourly.failed_async), MAX_BARS);
    b.push_str(&lines(
        &format!("Statuses {unit}"),
        "statuses",
        &[
            Series {
                name: "delivered",
                color: OK,
                values: &de,
            },
            Series {
                name: "read",
                color: BLUE,
                values: &rd,
            },
            Series {
                name: "failed later",
                color: FAILED,
                values: &fl,
            },
        ],
        &label,
    ));
    // User feedback per day: what drives the quality rating.
    if t.blocks + t.reports + t.opt_outs > 0 {
        b.push_str("<h2>User feedback</h2>\n");
        let blocks: Vec<f64> = r.feedback_daily.iter().map(|d| d.blocks as f64).collect();
        let reports: Vec<f64> = r.feedback_daily.iter().map(|d| d.reports as f64).collect();
        let opt_outs: Vec<f64> = r.feedback_daily.iter().map(|d| d.opt_outs as f64).collect();
        let day_label = |i: usize| format!("day {i}");
        b.push_str(&lines(
            &format!(
                "Blocks, reports and marketing opt-outs per day (total {} blocks, {} with a report, {} opt-outs)",
                t.blocks, t.reports, t.opt_outs
            ),
            "users",
            &[
                Series {
                    name: "blocks (reports included)",
                    color: REFUSED,
                    values: &blocks,
                },
                Series {
                    name: "reports",
                    color: FAILED,
                    values: &reports,
                },
                Series {
                    name: "opt-outs",
                    color: THROTTLED,
                    values: &opt_outs,
                },
            ],
            &day_label,
        ));
    }
    // Businesses: outcomes and cost per client business when there are several, and onboarding
    // and standing when there is something to say.
    let standing = r
        .businesses
        .iter()
        .any(|x| x.onboarding != "NOT_CHECKED" || x.strikes > 0 || x.disabled);
    if r.businesses.len() > 1 || standing {
        b.push_str("<h2>Businesses</h2>\n<table><tr><th>business</th><th>vertical</th><th>country</th><th>numbers</th><th>accepted</th><th>refused</th><th>delivered</th><th>read</th><th>failed later</th><th>cost</th><th>onboarding</th><th>reason</th><th>strikes</th><th>disabled</th></tr>\n");
        for x in &r.businesses {
            let cost: Vec<String> = x
                .cost
                .iter()
                .map(|(cur, c)| format!("{} {cur}", c.amount.format(2)))
                .collect();
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.name),
                esc(&x.vertical),
                esc(&x.country),
                x.numbers,
                x.accepted,
                x.refused,
                x.delivered,
                x.read,
                x.failed_later,
                esc(&cost.join(", ")),
                esc(&x.onboarding),
                esc(x.reason.as_deref().unwrap_or("")),
                x.strikes,
                if x.disabled { "yes" } else { "no" }
            );
        }
        b.push_str("</table>\n");
    }
    if !t.refused_by_rule.is_empty() {
        b.push_str("<table><tr><th>refused by rule</th><th>requests</th></tr>\n");
        for (rule, n) in &t.refused_by_rule {
            let _ = writeln!(b, "<tr><td>{}</td><td>{n}</td></tr>", esc(rule));
        }
        b.push_str("</table>\n");
    }
    // What the business did about its users (Block Users) and how it could address them
    // (usernames hide numbers): the counts behind the summary's lines.
    if t.users_blocked + t.inbound_blocked + t.inbound_phone_hidden + t.sent_by_user_id > 0 {
        b.push_str("<h2>Users</h2>\n");
        if t.users_blocked + t.inbound_blocked > 0 {
            let _ = writeln!(
                b,
                "<p>Block Users: the business numbers blocked {} users; {} of their messages were not delivered; {} sends to them were refused with 130403.</p>",
                t.users_blocked,
                t.inbound_blocked,
                t.refused_by_rule.get("blocked_user").copied().unwrap_or(0)
            );
        }
        if t.inbound_phone_hidden + t.sent_by_user_id > 0 {
            let _ = writeln!(
                b,
                "<p>Usernames: {} user messages hid the sender's phone number (the webhook named them by BSUID only); {} messages were addressed by BSUID (<code>recipient</code>).</p>",
                t.inbound_phone_hidden, t.sent_by_user_id
            );
        }
    }
    // Numbers: quality lane and state lanes.
    b.push_str("<h2>Phone numbers</h2>\n");
    let mut q_rows = Vec::new();
    let mut s_rows = Vec::new();
    for n in &r.numbers {
        let mut q = Lane {
            label: format!("{} quality", n.id),
            spans: Vec::new(),
        };
        let mut s = Lane {
            label: format!("{} limit", n.id),
            spans: Vec::new(),
        };
        for (i, c) in n.changes.iter().enumerate() {
            let end = n.changes.get(i + 1).map_or(hours as f64, |d| d.hour as f64);
            q.spans.push((
                c.hour as f64,
                end,
                quality_color(&c.quality_rating).to_string(),
                format!("{} {}", c.quality_rating, c.status),
            ));
            s.spans.push((
                c.hour as f64,
                end,
                if c.status == "CONNECTED" {
                    BLUE
                } else {
                    REFUSED
                }
                .to_string(),
                format!("{} {} msg/s", c.messaging_limit, c.throughput_mps),
            ));
        }
        q_rows.push(q);
        s_rows.push(s);
    }
    let hour_label = move |i: usize| fmt_time(start + i as u64 * 3600)[5..].to_string();
    b.push_str(&lanes(
        "Quality rating and status per number",
        hours,
        &q_rows,
        &hour_label,
    ));
    b.push_str(&lanes(
        "Messaging limit and throughput per number",
        hours,
        &s_rows,
        &hour_label,
    ));
    // Templates.
    b.push_str("<h2>Templates</h2>\n");
    let mut rows: Vec<Lane> = Vec::new();
    for tl in &r.templates {
        rows.push(Lane {
            label: format!("{} ({}) {}", tl.name, tl.language, tl.category),
            spans: tl
                .changes
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let end = tl
                        .changes
                        .get(i + 1)
                        .map_or(hours as f64, |d| d.hour as f64);
                    (
                        c.hour as f64,
                        end,
                        template_color(&c.status).to_string(),
                        c.status.clone(),
                    )
                })
                .collect(),
        });
        // A template Meta recategorised gets a second lane under its status: the category in
        // force, which is the one it is priced at.
        if !tl.category_changes.is_empty() {
            rows.push(category_lane(tl, hours));
        }
    }
    b.push_str(&lanes(
        "Template status over time",
        hours,
        &rows,
        &hour_label,
    ));
    b.push_str(&template_pacing(r, hours));
    // Cost.
    if !r.cost.by_currency.is_empty() {
        b.push_str("<h2>Cost</h2>\n<table><tr><th>currency</th><th>messages priced (free ones at 0)</th><th>platform cost</th><th>BSP price</th><th>margin</th></tr>\n");
        for (cur, c) in &r.cost.by_currency {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(cur),
                c.messages,
                c.amount.format(2),
                c.bsp_price.format(2),
                c.margin.format(2)
            );
        }
        b.push_str("</table>\n");
        if !r.cost_compare.is_empty() {
            b.push_str("<p>The same traffic under each pricing model (one re-run per model, same seed, same deliveries):</p>\n<table><tr><th>pricing model</th><th>delivered</th><th>currency</th><th>messages priced</th><th>charged units</th><th>platform cost</th></tr>\n");
            for c in &r.cost_compare {
                for (cur, v) in &c.cost.by_currency {
                    let _ = writeln!(
                        b,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&c.model),
                        c.delivered,
                        esc(cur),
                        v.messages,
                        v.units,
                        v.amount.format(2)
                    );
                }
            }
            b.push_str("</table>\n");
        }
        let day_label = |i: usize| format!("day {i}");
        for (title, pick) in [
            ("Cumulative cost by category", 0usize),
            ("Cumulative cost by market", 1usize),
        ] {
            let mut keys: Vec<String> = Vec::new();
            for c in &r.cost_daily {
                let m = if pick == 0 {
                    &c.by_category
                } else {
                    &c.by_market
                };
                for k in m.keys() {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
            keys.sort();
            let palette = [OK, BLUE, THROTTLED, REFUSED, FAILED, GREY];
            let values: Vec<Vec<f64>> = keys
                .iter()
                .map(|k| {
                    r.cost_daily
                        .iter()
                        .map(|c| {
                            let m = if pick == 0 {
                                &c.by_category
                            } else {
                                &c.by_market
                            };
                            m.get(k).copied().unwrap_or(0.0)
                        })
                        .collect()
                })
                .collect();
            let series: Vec<Series> = keys
                .iter()
                .zip(&values)
                .enumerate()
                .take(palette.len())
                .map(|(i, (k, v))| Series {
                    name: k,
                    color: palette[i],
                    values: v,
                })
                .collect();
            if !series.is_empty() {
                b.push_str(&steps(title, "cost", &series, &day_label));
            }
            if pick == 0 {
                b.push_str(&category_notes(r));
            }
        }
    }
    // Phases and annotations.
    b.push_str("<h2>Phases</h2>\n<table><tr><th>phase</th><th>model</th><th>from</th><th>to</th><th>messages</th><th>accepted</th><th>throttled</th><th>refused</th><th>failed</th><th>codes</th></tr>\n");
    // Streams after their phases, named as thresholds name them: `[campaign]`.
    let rows = r
        .phases
        .iter()
        .map(|p| (p.name.clone(), p))
        .chain(r.streams.iter().map(|p| (format!("[{}]", p.name), p)));
    for (name, p) in rows {
        let codes: Vec<String> = p.codes.iter().map(|(k, v)| format!("{k}×{v}")).collect();
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&name),
            p.model,
            fmt_time(p.start),
            fmt_time(p.end),
            p.messages,
            p.ok,
            p.throttled,
            p.refused,
            p.failed,
            esc(&codes.join(" "))
        );
    }
    b.push_str("</table>\n<h2>What happened, and which rule fired</h2>\n<table><tr><th>time</th><th>rule</th><th>on</th><th>what</th></tr>\n");
    for a in &r.annotations {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
            fmt_time(a.t),
            esc(&a.rule),
            esc(&a.subject),
            esc(&a.text)
        );
    }
    b.push_str("</table>\n");
    if r.annotations_dropped > 0 {
        let _ = writeln!(
            b,
            "<p class=\"note\">{} more annotations were counted but not kept.</p>",
            r.annotations_dropped
        );
    }
    page(&format!("wabasim simulation: {}", r.scenario), &b)
}

/// `code×n` pairs, for tables.
fn code_list(m: &std::collections::BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the terminal summary of a run shows beyond the rates: codes and retries per phase, the
/// support desk, the webhooks received, the embedded server's side and its cost.
fn run_details(b: &mut String, r: &Report) {
    b.push_str("<h2>Outcomes and retries</h2>\n<table><tr><th>phase</th><th>throttled</th><th>refused</th><th>failed</th><th>retries</th><th>recovered</th><th>gave up</th><th>unsent</th><th>abandoned</th><th>no window</th></tr>\n");
    for p in &r.phases {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.name),
            esc(&code_list(&p.codes.throttled)),
            esc(&code_list(&p.codes.refused)),
            esc(&code_list(&p.codes.failed)),
            p.retries.total,
            esc(&code_list(&p.retries.by_reason)),
            p.retries.recovered,
            p.retries.gave_up,
            p.unsent,
            p.abandoned,
            p.no_window
        );
    }
    b.push_str("</table>\n");
    if let Some(c) = &r.conversations {
        let _ = writeln!(b, "<p>{}</p>", esc(&c.summary()));
    }
    if let Some(w) = &r.webhooks {
        let _ = writeln!(
            b,
            "<h2>Webhooks received</h2>\n<table><tr><th>posts</th><th>statuses</th><th>failed codes</th><th>inbound</th><th>bad signatures</th><th>malformed</th><th>send→delivered p50 ms</th><th>p99 ms</th></tr>\n<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td></tr>\n</table>",
            w.posts,
            esc(&code_list(&w.statuses)),
            esc(&code_list(&w.failed_codes)),
            w.inbound_messages,
            w.bad_signature,
            w.malformed,
            w.delivered_delay.p50_ms,
            w.delivered_delay.p99_ms
        );
    }
    let Some(sv) = &r.server else { return };
    b.push_str("<h2>What the embedded server saw</h2>\n");
    if sv.businesses.is_empty() {
        b.push_str("<table><tr><th>number</th><th>status</th><th>quality</th><th>limit</th><th>accepted</th><th>refused</th><th>delivered</th><th>read</th><th>failed later</th><th>inbound</th></tr>\n");
        for n in &sv.numbers {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&n.id),
                esc(&n.status),
                esc(&n.quality_rating),
                esc(&n.messaging_limit),
                n.accepted,
                esc(&code_list(&n.rejected)),
                n.delivered,
                n.read,
                esc(&code_list(&n.failed)),
                n.inbound
            );
        }
    } else {
        b.push_str("<table><tr><th>business</th><th>numbers</th><th>accepted</th><th>refused</th><th>delivered</th><th>failed later</th><th>inbound</th><th>cost</th></tr>\n");
        for x in &sv.businesses {
            let cost: Vec<String> = x
                .cost
                .iter()
                .map(|(cur, c)| format!("{} {cur}", c.amount.format(2)))
                .collect();
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.name),
                x.numbers,
                x.accepted,
                x.refused,
                x.delivered,
                x.failed_later,
                x.inbound,
                esc(&cost.join(", "))
            );
        }
    }
    b.push_str("</table>\n");
    for (cur, t) in sv.cost.iter().flat_map(|c| &c.by_currency) {
        let _ = writeln!(
            b,
            "<p>Cost: {} messages priced (free ones at 0), platform {} {cur}, BSP price {} {cur}.</p>",
            t.messages,
            t.amount.format(2),
            t.bsp_price.format(2)
        );
    }
}

/// The HTML page of a load-run report.
pub fn run_html(r: &Report) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p class=\"note\">{} · seed {} · {:.1} s · {}{}</p><p class=\"note\">{}</p>",
        esc(&r.tool),
        r.seed,
        r.elapsed_ms / 1000.0,
        esc(&r.stop_reason),
        if r.partial { " (partial)" } else { "" },
        esc(&r.latency_note)
    );
    b.push_str("<table><tr><th>phase</th><th>model</th><th>target/s</th><th>achieved/s</th><th>requests</th><th>ok</th><th>throttled</th><th>refused</th><th>failed</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>\n");
    let rows = r
        .phases
        .iter()
        .map(|p| (p.name.clone(), p))
        .chain(r.streams.iter().map(|p| (format!("[{}]", p.name), p)))
        .chain(std::iter::once(("total".to_string(), &r.total)));
    for (name, p) in rows {
        let l = &p.latency.ok;
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            esc(&name),
            p.model,
            p.target_rate.map_or("-".into(), |t| format!("{t:.1}")),
            p.achieved_rate,
            p.requests.total,
            p.requests.ok,
            p.requests.throttled,
            p.requests.refused,
            p.requests.failed,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms
        );
    }
    b.push_str("</table>\n");
    for p in &r.phases {
        let tl = &p.timeline;
        let secs = tl.bucket_ms as f64 / 1000.0;
        let target: Vec<f64> = tl.buckets.iter().map(|x| x.target as f64 / secs).collect();
        let sent: Vec<f64> = tl.buckets.iter().map(|x| x.sent as f64 / secs).collect();
        let _ = writeln!(b, "<h2>Phase {}</h2>", esc(&p.name));
        let label = move |i: usize| format!("{:.0}s", i as f64 * secs);
        let mut series = vec![Series {
            name: "achieved/s",
            color: OK,
            values: &sent,
        }];
        if p.model == "open" {
            series.insert(
                0,
                Series {
                    name: "target/s",
                    color: GREY,
                    values: &target,
                },
            );
        }
        b.push_str(&lines(
            "Target vs achieved rate",
            "messages/s",
            &series,
            &label,
        ));
        let ok: Vec<f64> = tl.buckets.iter().map(|x| x.ok as f64 / secs).collect();
        let th: Vec<f64> = tl
            .buckets
            .iter()
            .map(|x| x.throttled as f64 / secs)
            .collect();
        let re: Vec<f64> = tl.buckets.iter().map(|x| x.refused as f64 / secs).collect();
        let fa: Vec<f64> = tl.buckets.iter().map(|x| x.failed as f64 / secs).collect();
        b.push_str(&stacked_bars(
            "Requests per second by outcome",
            "requests/s",
            &outcomes(&ok, &th, &re, &fa),
            &label,
        ));
    }
    // Latency percentiles per phase (the histograms are per phase, not per second). One
    // phase is one point: the table above already says it all.
    if r.phases.len() > 1 {
        let names: Vec<String> = r.phases.iter().map(|p| p.name.clone()).collect();
        let p50: Vec<f64> = r.phases.iter().map(|p| p.latency.ok.p50_ms).collect();
        let p90: Vec<f64> = r.phases.iter().map(|p| p.latency.ok.p90_ms).collect();
        let p99: Vec<f64> = r.phases.iter().map(|p| p.latency.ok.p99_ms).collect();
        b.push_str("<h2>Latency</h2>\n");
        b.push_str(&lines(
            "Latency percentiles of ok requests, phase by phase",
            "ms",
            &[
                Series {
                    name: "p50",
                    color: OK,
                    values: &p50,
                },
                Series {
                    name: "p90",
                    color: THROTTLED,
                    values: &p90,
                },
                Series {
                    name: "p99",
                    color: REFUSED,
                    values: &p99,
                },
            ],
            &|i| names.get(i).cloned().unwrap_or_default(),
        ));
    }
    run_details(&mut b, r);
    if !r.thresholds.is_empty() {
        b.push_str(
            "<h2>Thresholds</h2>\n<table><tr><th>check</th><th>actual</th><th>result</th></tr>\n",
        );
        for t in &r.thresholds {
            let result = match (&t.skipped, t.passed) {
                (Some(why), _) => format!("SKIP ({why})"),
                (None, true) => "PASS".into(),
                (None, false) => "FAIL".into(),
            };
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.check),
                t.actual.map_or("no data".into(), |a| format!("{a:.4}")),
                esc(&result)
            );
        }
        b.push_str("</table>\n");
    }
    page("wabasim load run", &b)
}

/// Renders a saved report (simulation or run) by its shape.
pub fn html_from_json(json: &[u8]) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("not a JSON report: {e}"))?;
    if v.get("kind").and_then(|k| k.as_str()) == Some("simulation") {
        let r: SimReport =
            serde_json::from_value(v).map_err(|e| format!("simulation report: {e}"))?;
        Ok(simulation_html(&r))
    } else {
        let r: Report = serde_json::from_value(v).map_err(|e| format!("run report: {e}"))?;
        Ok(run_html(&r))
    }
}

/// The four request outcomes as chart series, in the order and colours every chart uses.
fn outcomes<'a>(ok: &'a [f64], th: &'a [f64], re: &'a [f64], fa: &'a [f64]) -> [Series<'a>; 4] {
    [
        Series {
            name: "ok",
            color: OK,
            values: ok,
        },
        Series {
            name: "throttled",
            color: THROTTLED,
            values: th,
        },
        Series {
            name: "refused",
            color: REFUSED,
            values: re,
        },
        Series {
            name: "failed",
            color: FAILED,
            values: fa,
        },
    ]
}
