//! Small inline-SVG charts for the HTML reports: stacked bars, lines, step levels and lanes.
//!
//! Written by hand rather than with a plotting crate because the charts are few and simple, the
//! output must be byte-for-byte deterministic (reports are compared across runs), and nothing
//! may be fetched at view time (no fonts, no scripts): plain SVG with system fonts.

use std::fmt::Write as _;

pub const W: f64 = 880.0;
pub const H: f64 = 240.0;
const L: f64 = 56.0;
/// Right margin: room for half of a centred x label at the last tick ("01-07 00:00").
const R: f64 = 36.0;
const T: f64 = 14.0;
const B: f64 = 34.0;

/// One named series with its colour.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub values: &'a [f64],
}

/// Escapes text for SVG/HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            _ => o.push(c),
        }
    }
    o
}

/// `s` cut to `max` characters with an ellipsis (lane labels have a fixed width).
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut o: String = s.chars().take(max.saturating_sub(1)).collect();
    o.push('…');
    o
}

/// A "nice" upper bound for an axis: 1, 2 or 5 × 10^k at or above `v`.
pub fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

/// How many equal steps split a [`nice_max`] bound into round ticks: 1 × 10^k in 5 steps of
/// 0.2, 2 × 10^k in 4 of 0.5, 5 × 10^k in 5 of 1.
fn divisions(nice: f64) -> usize {
    let lead = (nice / 10f64.powf(nice.log10().floor())).round();
    if lead == 2.0 {
        4
    } else {
        5
    }
}

fn fmt_num(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 100.0 || v == v.floor() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Sums `values` into at most `max` bins (so a month of hours still draws as ~360 bars).
/// Returns the bins and how many inputs each bin holds.
pub fn bin(values: &[f64], max: usize) -> (Vec<f64>, usize) {
    let per = values.len().div_ceil(max.max(1)).max(1);
    (values.chunks(per).map(|c| c.iter().sum()).collect(), per)
}

struct Frame {
    s: String,
    n: usize,
    y_max: f64,
}

impl Frame {
    fn new(title: &str, n: usize, y_max: f64, y_label: &str) -> Frame {
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<figure><figcaption>{}</figcaption><svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{}">"#,
            esc(title),
            esc(title)
        );
        let y_max = nice_max(y_max);
        // Ticks at round steps of the 1-2-5 bound (0.2, 0.5 or 1 × 10^k), so a count axis
        // never shows 37.5 requests.
        let div = divisions(y_max);
        for i in 0..=div {
            let v = y_max * i as f64 / div as f64;
            let y = T + (H - T - B) * (1.0 - i as f64 / div as f64);
            let _ = write!(
                s,
                r##"<line x1="{L}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#555">{}</text>"##,
                W - R,
                L - 4.0,
                y + 3.0,
                fmt_num(v)
            );
        }
        let _ = write!(
            s,
            r##"<text x="12" y="{:.1}" font-size="10" fill="#555" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"##,
            T + (H - T - B) / 2.0,
            T + (H - T - B) / 2.0,
            esc(y_label)
        );
        Frame { s, n, y_max }
    }

    fn x(&self, i: f64) -> f64 {
        L + (W - L - R) * i / self.n.max(1) as f64
    }

    fn y(&self, v: f64) -> f64 {
        T + (H - T - B) * (1.0 - (v / self.y_max).clamp(0.0, 1.0))
    }

    /// X axis labels: `label(i)` for about 8 evenly spaced positions.
    fn x_labels(&mut self, label: &dyn Fn(usize) -> String) {
        let step = self.n.div_ceil(8).max(1);
        let mut i = 0;
        while i <= self.n {
            let x = self.x(i as f64);
            let _ = write!(
                self.s,
                r##"<text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#555">{}</text>"##,
                H - B + 14.0,
                esc(&label(i))
            );
            i += step;
        }
    }

    fn legend(&mut self, series: &[(&str, &str)]) {
        let mut x = L;
        for (name, color) in series {
            let _ = write!(
                self.s,
                r##"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#333">{}</text>"##,
                H - 12.0,
                x + 13.0,
                H - 3.0,
                esc(name)
            );
            x += 24.0 + 7.0 * name.chars().count() as f64;
        }
    }

    fn end(mut self) -> String {
        self.s.push_str("</svg></figure>\n");
        self.s
    }
}

/// Stacked bars, one bar per index, series stacked in order.
pub fn stacked_bars(
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    x_label: &dyn Fn(usize) -> String,
) -> String {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let tops: Vec<f64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let mut f = Frame::new(title, n, tops.iter().copied().fold(0.0, f64::max), y_label);
    let bw = ((W - L - R) / n.max(1) as f64).max(0.5);
    for i in 0..n {
        let mut base = 0.0;
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let y0 = f.y(base);
            let y1 = f.y(base + v);
            let _ = write!(
                f.s,
                r#"<rect x="{:.2}" y="{y1:.2}" width="{:.2}" height="{:.2}" fill="{}"/>"#,
                f.x(i as f64),
                (bw - if bw > 3.0 { 1.0 } else { 0.0 }).max(0.5),
                (y0 - y1).max(0.0),
                s.color
            );
            base += v;
        }
    }
    f.x_labels(x_label);
    let names: Vec<(&str, &str)> = series.iter().map(|s| (s.name, s.color)).collect();
    f.legend(&names);
    f.end()
}

/// Lines, one per series, over the same indices.
pub fn lines(
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    x_label: &dyn Fn(usize) -> String,
) -> String {
    polylines(title, y_label, series, x_label, false)
}

/// Steps, one per series: a value holds until the next index (cumulative totals, levels), so
/// no slope suggests a change between two points.
pub fn steps(
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    x_label: &dyn Fn(usize) -> String,
) -> String {
    polylines(title, y_label, series, x_label, true)
}

fn polylines(
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    x_label: &dyn Fn(usize) -> String,
    step: bool,
) -> String {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let mut f = Frame::new(title, n.saturating_sub(1).max(1), max, y_label);
    for s in series {
        if s.values.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (i, v) in s.values.iter().enumerate() {
            if step && i > 0 {
                let _ = write!(d, " H{:.2}", f.x(i as f64));
            }
            let _ = write!(
                d,
                "{}{:.2},{:.2}",
                if i == 0 { "M" } else { " L" },
                f.x(i as f64),
                f.y(*v)
            );
        }
        let _ = write!(
            f.s,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.6"/>"#,
            s.color
        );
    }
    f.x_labels(x_label);
    let names: Vec<(&str, &str)> = series.iter().map(|s| (s.name, s.color)).collect();
    f.legend(&names);
    f.end()
}

/// One row of a lane chart: a label and spans `(start, end, colour, text)` in index units.
pub struct Lane {
    pub label: String,
    pub spans: Vec<(f64, f64, String, String)>,
}

/// Horizontal lanes (e.g. template status over time, quality rating per number).
pub fn lanes(title: &str, n: usize, rows: &[Lane], x_label: &dyn Fn(usize) -> String) -> String {
    let row_h = 22.0;
    // A legend of the states drawn, when there are few enough to name (the texts are also on
    // wide spans and in every span's tooltip).
    let mut states: Vec<(&str, &str)> = Vec::new();
    for (_, _, color, text) in rows.iter().flat_map(|r| &r.spans) {
        if !states
            .iter()
            .any(|(t, c)| *t == text.as_str() && *c == color.as_str())
        {
            states.push((text, color));
        }
    }
    let legend = states.len() <= 8;
    let h = T + B + row_h * rows.len().max(1) as f64 + if legend { 14.0 } else { 0.0 };
    let left = 190.0;
    let x = |i: f64| left + (W - left - R) * i / n.max(1) as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<figure><figcaption>{}</figcaption><svg viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="{}">"#,
        esc(title),
        esc(title)
    );
    for (r, row) in rows.iter().enumerate() {
        let y = T + row_h * r as f64;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#333">{}</text>"##,
            left - 6.0,
            y + 14.0,
            esc(&shorten(&row.label, 30))
        );
        for (a, b, color, text) in &row.spans {
            let _ = write!(
                s,
                r##"<rect x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="{color}"><title>{}</title></rect>"##,
                x(*a),
                y + 2.0,
                (x(*b) - x(*a)).max(1.0),
                row_h - 4.0,
                esc(text)
            );
            if x(*b) - x(*a) > 7.0 * text.len() as f64 {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#fff">{}</text>"##,
                    x(*a) + 4.0,
                    y + 15.0,
                    esc(text)
                );
            }
        }
    }
    let axis_y = T + row_h * rows.len().max(1) as f64 + 14.0;
    let step = n.div_ceil(8).max(1);
    let mut i = 0;
    while i <= n {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{axis_y:.1}" font-size="10" text-anchor="middle" fill="#555">{}</text>"##,
            x(i as f64),
            esc(&x_label(i))
        );
        i += step;
    }
    if legend {
        let mut lx = left;
        for (text, color) in states {
            let _ = write!(
                s,
                r##"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#333">{}</text>"##,
                h - 12.0,
                lx + 13.0,
                h - 3.0,
                esc(text)
            );
            lx += 24.0 + 7.0 * text.chars().count() as f64;
        }
    }
    s.push_str("</svg></figure>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_bounds_and_bins() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(130.0), 200.0);
        assert_eq!(nice_max(4_500.0), 5_000.0);
        let (b, per) = bin(&[1.0; 10], 4);
        assert_eq!(per, 3);
        assert_eq!(b, vec![3.0, 3.0, 3.0, 1.0]);
    }

    #[test]
    fn charts_escape_text_and_draw_every_value() {
        let v = [1.0, 0.0, 3.0];
        let svg = stacked_bars(
            "a <b>",
            "n",
            &[Series {
                name: "ok & fine",
                color: "#0a0",
                values: &v,
            }],
            &|i| format!("h{i}"),
        );
        assert!(svg.contains("a &lt;b&gt;"));
        assert!(svg.contains("ok &amp; fine"));
        assert_eq!(
            svg.matches("<rect x=").count(),
            2 + 1,
            "two bars and one legend key"
        );
    }

    /// The y-axis tick labels of a chart, in order.
    fn ticks(svg: &str) -> Vec<String> {
        svg.split(r##"text-anchor="end" fill="#555">"##)
            .skip(1)
            .map(|t| t[..t.find('<').unwrap()].to_string())
            .filter(|t| !t.is_empty())
            .collect()
    }

    #[test]
    fn count_axes_have_round_ticks() {
        let one = |max: f64| {
            let v = [max];
            ticks(&stacked_bars(
                "t",
                "n",
                &[Series {
                    name: "s",
                    color: "#000",
                    values: &v,
                }],
                &|_| String::new(),
            ))
        };
        assert_eq!(one(37.0), ["0", "10", "20", "30", "40", "50"]);
        assert_eq!(one(130.0), ["0", "50", "100", "150", "200"]);
        assert_eq!(one(800.0), ["0", "200", "400", "600", "800", "1000"]);
        assert_eq!(one(0.7), ["0", "0.20", "0.40", "0.60", "0.80", "1"]);
    }

    #[test]
    fn steps_hold_each_value_until_the_next_index() {
        let v = [1.0, 3.0];
        let series = [Series {
            name: "cost",
            color: "#000",
            values: &v,
        }];
        let step = steps("t", "n", &series, &|i| format!("day {i}"));
        let line = lines("t", "n", &series, &|i| format!("day {i}"));
        assert!(step.contains(" H"), "{step}");
        assert!(!line.contains(" H"), "{line}");
        // The last x label, centred on the last tick, fits inside the chart.
        let last = step.rfind(">day 1<").unwrap();
        let x: f64 = step[..last].rsplit("<text x=\"").next().unwrap()[..5]
            .parse()
            .unwrap();
        assert!(x + 32.0 <= W, "{x}");
    }

    #[test]
    fn lanes_name_their_states_when_few() {
        let row = |spans: Vec<(f64, f64, String, String)>| Lane {
            label: "n".into(),
            spans,
        };
        let few = lanes(
            "t",
            10,
            &[row(vec![
                (0.0, 5.0, "#0a0".into(), "GREEN".into()),
                (5.0, 10.0, "#a00".into(), "RED".into()),
            ])],
            &|i| i.to_string(),
        );
        assert!(few.contains(r##"fill="#333">GREEN</text>"##), "{few}");
        let many: Vec<_> = (0..9)
            .map(|i| {
                (
                    i as f64,
                    i as f64 + 1.0,
                    "#000".to_string(),
                    format!("S{i}"),
                )
            })
            .collect();
        let many = lanes("t", 10, &[row(many)], &|i| i.to_string());
        assert!(
            !many.contains(r##"fill="#333">S0</text>"##),
            "no legend of nine states"
        );
    }
}
