use super::*;
use crate::pricing::countries::COUNTRIES;
use crate::traffic::schedule::OpenSchedule;
use crate::traffic::spec::{ArrivalProcess, Dur, OpenArrival, Ramp, Spike};

/// 2024-01-01 00:00:00 UTC, a Monday.
const MONDAY: SimTime = SimTime(1_704_067_200 * MICROS_PER_SEC);
const H: i32 = 3600;
const HOUR: Micros = MICROS_PER_HOUR;
const DAY: Micros = MICROS_PER_DAY;

/// The example of the brief / docs: a working day's shape.
const EXAMPLE_HOURS: [f64; 24] = [
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 0.9, 1.2, 1.4, 1.5, 1.5, //
    1.4, 1.4, 1.5, 1.5, 1.4, 1.3, 1.3, 1.2, 1.0, 0.8, 0.5, 0.3,
];

fn curve(hours: [f64; 24], weekdays: [f64; 7]) -> RhythmCurve {
    RhythmCurve { hours, weekdays }
}

/// Every arrival of an open schedule over `[start, start + len)`.
fn arrivals(p: RateProfile, start: SimTime, len: Micros, process: ArrivalProcess) -> Vec<SimTime> {
    OpenSchedule::new(p, start, Some(start.plus(len)), None, process, 42).collect()
}

#[test]
fn flat_rhythm_leaves_the_profile_and_the_count_unchanged() {
    // A ramp with a spike in it: three base segments, one of them a slope across many hours.
    let open = OpenArrival {
        ramp: Some(Ramp {
            from: 0.0,
            to: 2.0,
            over: Some(Dur::from_secs(10 * 3600)),
        }),
        spikes: vec![Spike {
            at: Dur::from_secs(3 * 3600),
            duration: Dur::from_secs(1800),
            rate: 5.0,
        }],
        ..OpenArrival::default()
    };
    let base = RateProfile::from_open(&open, None);
    let start = MONDAY.plus(10 * HOUR + 17 * 60 * MICROS_PER_SEC + 23_500_000);
    for (c, offset) in [
        (RhythmCurve::FLAT, 7 * H),
        (
            Rhythm {
                hours: Some(vec![1.0; 24]),
                weekdays: Some(vec![1.0; 7]),
                ..Rhythm::default()
            }
            .curve()
            .unwrap(),
            -3 * H,
        ),
    ] {
        let shaped = apply_rhythm(&base, &c, start, offset, 2 * DAY);
        assert_eq!(shaped, base, "a flat rhythm merges its pieces back");
        let n = arrivals(shaped, start, 2 * DAY, ArrivalProcess::Even).len();
        assert_eq!(
            n,
            arrivals(base.clone(), start, 2 * DAY, ArrivalProcess::Even).len()
        );
    }
    // A uniform 0.5 halves Λ everywhere.
    let half = curve([0.5; 24], [1.0; 7]);
    let shaped = apply_rhythm(&base, &half, start, 0, 2 * DAY);
    for t in [HOUR, 3 * HOUR + 1, 10 * HOUR, DAY + 7, 3 * DAY] {
        let (a, b) = (shaped.cumulative(t), base.cumulative(t) / 2.0);
        assert!((a - b).abs() <= 1e-9 * b, "t = {t}: {a} vs {b}");
    }
}

#[test]
fn no_arrivals_in_local_night_hours() {
    // 22:00–05:59 local is 0; the audience is at +07:00; the phase starts mid-hour.
    let mut hours = [1.0; 24];
    for h in [22, 23, 0, 1, 2, 3, 4, 5] {
        hours[h] = 0.0;
    }
    let c = curve(hours, [1.0; 7]);
    let offset = 7 * H;
    let start = MONDAY.plus(10 * HOUR + 17 * 60 * MICROS_PER_SEC + 23_500_000);
    let shaped = apply_rhythm(&RateProfile::constant(0.05), &c, start, offset, 2 * DAY);
    for process in [ArrivalProcess::Even, ArrivalProcess::Poisson] {
        let v = arrivals(shaped.clone(), start, 2 * DAY, process);
        for t in &v {
            let h = local_hour(*t, offset).hour;
            assert!(
                (6..22).contains(&h),
                "{process:?}: arrival at local hour {h} ({t})"
            );
        }
        // 16 open hours a day at 0.05/s: 2 × 16 × 180 = 5760 expected.
        let expected = shaped.cumulative(2 * DAY);
        assert!((expected - 5760.0).abs() < 1e-6, "{expected}");
        let tolerance = if process == ArrivalProcess::Even {
            1.0
        } else {
            300.0
        };
        assert!(
            (v.len() as f64 - expected).abs() <= tolerance,
            "{process:?}: {} arrivals",
            v.len()
        );
    }
}

#[test]
fn weekday_factors_change_counts_by_their_ratio() {
    // The audience at −03:00; the phase starts on their Monday 00:00, for one week at 0.1/s.
    let offset = -3 * H;
    let start = MONDAY.plus(3 * HOUR);
    assert_eq!(
        local_hour(start, offset),
        LocalHour {
            weekday: 0,
            hour: 0
        }
    );
    let c = curve([1.0; 24], [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.25]);
    let shaped = apply_rhythm(&RateProfile::constant(0.1), &c, start, offset, 7 * DAY);
    // Only the weekday factor changes: Monday to Friday (all 1) merge into one segment, then
    // Saturday, Sunday, and next Monday's factor frozen from the horizon on.
    assert_eq!(shaped.segments().len(), 4, "{:?}", shaped.segments());
    let mut per_day = [0usize; 7];
    for t in arrivals(shaped.clone(), start, 7 * DAY, ArrivalProcess::Even) {
        per_day[usize::from(local_hour(t, offset).weekday)] += 1;
    }
    let full = 8640;
    assert_eq!(per_day, [full, full, full, full, full, full / 2, full / 4]);
    assert!((shaped.cumulative(7 * DAY) - 5.75 * 8640.0).abs() < 1e-6);
}

#[test]
fn time_zone_moves_the_peak() {
    // The evening peak is 20:00–20:59 local, ten times the rest of the day.
    let mut hours = [0.1; 24];
    hours[20] = 1.0;
    let c = curve(hours, [1.0; 7]);
    let base = RateProfile::constant(10.0);
    // The UTC minute of the day the peak starts, for each audience.
    for (offset, peak_utc_min) in [
        (0, 20 * 60),
        (7 * H, 13 * 60),
        (-3 * H, 23 * 60),
        (5 * H + 30 * 60, 14 * 60 + 30),
        (-10 * H, 6 * 60), // 20:00 at −10:00 is 06:00 UTC the next day
    ] {
        let shaped = apply_rhythm(&base, &c, MONDAY, offset, 2 * DAY);
        // Minutes of the second UTC day (the first may start inside the peak) at the peak rate.
        let peak: Vec<u64> = (24 * 60..48 * 60)
            .filter(|m| shaped.rate_at(m * 60 * MICROS_PER_SEC) > 5.0)
            .map(|m| m - 24 * 60)
            .collect();
        let want: Vec<u64> = (peak_utc_min..peak_utc_min + 60).collect();
        assert_eq!(peak, want, "offset {offset}");
        // The same from the schedule's side: arrivals per UTC minute of the second day.
        let mut per_min = vec![0u32; 2 * 24 * 60];
        for t in arrivals(shaped, MONDAY, 2 * DAY, ArrivalProcess::Even) {
            per_min[(t.since(MONDAY) / (60 * MICROS_PER_SEC)) as usize] += 1;
        }
        let second_day = &per_min[24 * 60..];
        let m = peak_utc_min as usize;
        assert_eq!(second_day[m], 600, "offset {offset}");
        assert_eq!(second_day[m + 59], 600, "offset {offset}");
        assert_eq!(second_day[(m + 60) % 1440], 60, "offset {offset}");
        assert_eq!(second_day[(m + 1439) % 1440], 60, "offset {offset}");
    }
}

#[test]
fn cumulative_is_continuous_monotone_and_exact_across_hour_boundaries() {
    // A slope 0 → 200/s over three days, the business-hours preset, a +05:45 audience (Nepal:
    // hour boundaries at :15 UTC), a start that is not on any boundary.
    let len = 3 * DAY;
    let open = OpenArrival {
        ramp: Some(Ramp {
            from: 0.0,
            to: 200.0,
            over: Some(Dur(len)),
        }),
        ..OpenArrival::default()
    };
    let base = RateProfile::from_open(&open, None);
    let offset = 5 * H + 45 * 60;
    let start = MONDAY.plus(12_345_678_901);
    let c = RhythmPreset::BusinessHours.curve();
    let shaped = apply_rhythm(&base, &c, start, offset, len);
    let segs = shaped.segments();
    // About one piece per hour (hours with equal factors next to each other merge).
    assert!(segs.len() > 60, "{}", segs.len());
    for w in segs.windows(2) {
        assert_eq!(w[0].end, w[1].start, "contiguous");
    }
    let mut independent = 0.0;
    for s in segs.iter().filter(|s| s.end <= len) {
        // Each piece is at one factor: that of every local hour it overlaps, times the slope.
        let f = c.factor_at(start.plus(s.start), offset);
        let mut t = s.start;
        while t < s.end {
            assert_eq!(c.factor_at(start.plus(t), offset), f, "piece {s:?} at {t}");
            t = next_hour_boundary(start, t, offset);
        }
        let slope = |t: Micros| 200.0 * t as f64 / len as f64;
        assert!((s.r0 - f * slope(s.start)).abs() < 1e-9);
        assert!((s.r1 - f * slope(s.end)).abs() < 1e-9);
        // ∫ f · 200 t / T dt over the piece, in seconds.
        let (a, b, t) = (s.start as f64 / 1e6, s.end as f64 / 1e6, len as f64 / 1e6);
        independent += f * 100.0 * (b * b - a * a) / t;
        // Λ continuous and non-decreasing across the boundary at the piece's start.
        if s.start > 0 {
            let (before, at, after) = (
                shaped.cumulative(s.start - 1),
                shaped.cumulative(s.start),
                shaped.cumulative(s.start + 1),
            );
            assert!(before <= at && at <= after, "{before} {at} {after}");
            // At most 200/s for 1 µs between neighbours: no jump.
            assert!(after - before <= 200.0 * 2e-6 + 1e-9, "{before} {after}");
        }
    }
    let lambda = shaped.cumulative(len);
    assert!(
        (lambda - independent).abs() <= 1e-9 * independent,
        "{lambda} vs {independent}"
    );
    // Monotone on a fine grid too.
    let mut prev = 0.0;
    for k in 0..=10_000 {
        let x = shaped.cumulative(len / 10_000 * k);
        assert!(x >= prev);
        prev = x;
    }
    // Even arrivals land where Λ reaches their index (the inverse and its segment hint agree
    // with Λ over hundreds of segments); rounding to the µs is the only error.
    let v = arrivals(shaped.clone(), start, len, ArrivalProcess::Even);
    assert_eq!(v.len() as f64, lambda.ceil());
    for (k, t) in v.iter().enumerate().step_by(97) {
        let x = shaped.cumulative(t.since(start));
        assert!((x - k as f64).abs() < 200.0 * 1e-6, "arrival {k}: Λ = {x}");
    }
}

#[test]
fn binary_search_finds_the_same_segment_as_a_scan() {
    let c = RhythmPreset::EveningPeak.curve();
    let shaped = apply_rhythm(
        &RateProfile::constant(3.0),
        &c,
        MONDAY.plus(1),
        2 * H,
        5 * DAY,
    );
    let segs = shaped.segments();
    let scan = |t: Micros| segs.iter().rposition(|s| s.start <= t).unwrap_or(0);
    for t in (0..6 * DAY)
        .step_by(997_000_013)
        .chain(segs.iter().map(|s| s.start))
    {
        let s = &segs[scan(t)];
        assert_eq!(shaped.rate_at(t), s.r0, "t = {t}");
    }
}

#[test]
fn beyond_the_horizon_the_factor_in_force_there_stays() {
    let mut hours = [1.0; 24];
    hours[0] = 0.25;
    let c = curve(hours, [1.0; 7]);
    let base = RateProfile::constant(8.0);
    // UTC audience, phase from Monday 22:30, horizon 2 h: 22:30–23:00, 23:00–00:00 at 1, then
    // hour 0 (0.25) is in force at the horizon and stays for good.
    let start = MONDAY.plus(22 * HOUR + 30 * 60 * MICROS_PER_SEC);
    let shaped = apply_rhythm(&base, &c, start, 0, 2 * HOUR);
    let segs = shaped.segments();
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!(
        (segs[0].start, segs[0].end, segs[0].r0),
        (0, 5_400_000_000, 8.0)
    );
    assert_eq!(
        (segs[1].start, segs[1].end, segs[1].r0),
        (5_400_000_000, u64::MAX, 2.0)
    );
    assert_eq!(shaped.rate_at(30 * DAY), 2.0);
    // A zero horizon: the base times the factor at the phase start.
    let shaped = apply_rhythm(&base, &c, MONDAY, 0, 0);
    assert_eq!(shaped, RateProfile::constant(2.0));
    // No horizon at all is capped at MAX_HORIZON: one segment per hour, at most.
    let shaped = apply_rhythm(&base, &c, MONDAY, 0, u64::MAX);
    let n = shaped.segments().len() as u64;
    assert!(n <= MAX_HORIZON / HOUR + 1, "{n}");
    assert_eq!(
        n,
        2 * 400 + 1,
        "hour 0 and the other 23 hours merged, each day"
    );
}

#[test]
fn local_hours_and_weekdays() {
    let lh = |at: SimTime, off: i32| {
        let l = local_hour(at, off);
        (l.weekday, l.hour)
    };
    assert_eq!(lh(MONDAY, 0), (0, 0));
    assert_eq!(lh(MONDAY, 7 * H), (0, 7));
    assert_eq!(lh(MONDAY, -3 * H), (6, 21), "Sunday evening in Brazil");
    assert_eq!(lh(SimTime::ZERO, 0), (3, 0), "1970-01-01 was a Thursday");
    assert_eq!(lh(SimTime::ZERO, -3 * H), (2, 21), "before the epoch");
    let nepal = 5 * H + 45 * 60;
    let at = |m: u64| MONDAY.plus(m * 60 * MICROS_PER_SEC);
    assert_eq!(lh(at(18 * 60 + 14), nepal), (0, 23));
    assert_eq!(lh(at(18 * 60 + 15), nepal), (1, 0));
    // Any input, no panic.
    let _ = lh(SimTime(u64::MAX), i32::MIN);
    let _ = lh(SimTime::ZERO, i32::MAX);
    let c = curve(EXAMPLE_HOURS, [1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6]);
    assert_eq!(
        c.factor(LocalHour {
            weekday: 9,
            hour: 99
        }),
        1.0
    );
    assert_eq!(c.factor_at(MONDAY, -3 * H), 0.8 * 0.6, "Sunday 21:00");
    assert_eq!(c.max_factor(), 1.5);
}

#[test]
fn utc_offsets_parse() {
    for (text, secs) in [
        ("UTC", 0),
        ("utc", 0),
        ("Z", 0),
        ("GMT", 0),
        ("+07:00", 7 * H),
        ("-03:00", -3 * H),
        ("+05:30", 5 * H + 1800),
        ("+05:45", 5 * H + 2700),
        ("-09:30", -(9 * H + 1800)),
        ("+7", 7 * H),
        ("-3", -3 * H),
        ("+0530", 5 * H + 1800),
        ("UTC+07:00", 7 * H),
        (" utc-3 ", -3 * H),
        ("+14:00", 14 * H),
        ("-14:00", -14 * H),
    ] {
        assert_eq!(parse_utc_offset(text), Ok(secs), "{text}");
    }
    for (text, why) in [
        ("", "empty"),
        ("07:00", "no sign"),
        ("Asia/Jakarta", "no sign"),
        ("+25:00", "-14:00 to +14:00"),
        ("+14:30", "-14:00 to +14:00"),
        ("+07:60", "below 60"),
        ("+7:0:0", "one or two digits"),
        ("+530", "one or two digits"),
        ("+", "one or two digits"),
        ("+1é1", "one or two digits"),
        ("+é", "one or two digits"),
        ("+-7", "one or two digits"),
    ] {
        let e = parse_utc_offset(text).unwrap_err();
        assert!(e.contains(why), "{text}: {e}");
        assert!(e.starts_with(&format!("timezone {text:?}: ")), "{e}");
    }
}

#[test]
fn validation_names_the_problem() {
    let r = |hours: Option<Vec<f64>>, weekdays: Option<Vec<f64>>, tz: Option<&str>| Rhythm {
        profile: None,
        hours,
        weekdays,
        timezone: tz.map(str::to_string),
    };
    assert_eq!(r(None, None, None).validate(), Ok(()));
    assert_eq!(r(None, None, None).curve(), Ok(RhythmCurve::FLAT));
    assert_eq!(r(None, None, None).utc_offset(), Ok(None));
    assert_eq!(r(None, None, Some("+07:00")).utc_offset(), Ok(Some(7 * H)));
    let ok = r(
        Some(EXAMPLE_HOURS.to_vec()),
        Some(vec![1.0; 7]),
        Some("UTC"),
    );
    assert_eq!(ok.validate(), Ok(()));

    let cases: Vec<(Rhythm, &str)> = vec![
        (
            r(Some(vec![1.0; 23]), None, None),
            "hours must have exactly 24 values (local hours 0 to 23), got 23",
        ),
        (
            r(None, Some(vec![1.0; 8]), None),
            "weekdays must have exactly 7 values (Monday to Sunday), got 8",
        ),
        (
            r(Some(vec![]), None, None),
            "hours must have exactly 24 values (local hours 0 to 23), got 0",
        ),
        (
            r(
                Some((0..24).map(|h| if h == 3 { -1.0 } else { 1.0 }).collect()),
                None,
                None,
            ),
            "hours[3] must be a finite factor ≥ 0 (got -1)",
        ),
        (
            r(
                None,
                Some(vec![1.0, f64::NAN, 1.0, 1.0, 1.0, 1.0, 1.0]),
                None,
            ),
            "weekdays[1] must be a finite factor ≥ 0 (got NaN)",
        ),
        (
            r(Some(vec![f64::INFINITY; 24]), None, None),
            "hours[0] must be a finite factor ≥ 0 (got inf)",
        ),
        (
            r(Some(vec![0.0; 24]), None, None),
            "hours are all 0, so no message would ever be sent",
        ),
        (
            r(None, Some(vec![0.0; 7]), None),
            "weekdays are all 0, so no message would ever be sent",
        ),
        (
            r(None, None, Some("+7:75")),
            "timezone \"+7:75\": minutes must be below 60",
        ),
    ];
    for (rhythm, want) in cases {
        let e = rhythm.validate().unwrap_err();
        assert!(e.starts_with(want), "{e}\nwanted: {want}");
    }
    let e = r(Some(vec![1200.0; 24]), None, None)
        .validate()
        .unwrap_err();
    assert!(e.contains("hours[0] is 1200, more than 1000"), "{e}");
    assert!(e.contains("not message counts"), "{e}");
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    rhythm: Rhythm,
}

#[test]
fn parses_from_toml_with_presets_and_overrides() {
    let text =
        "rhythm = { hours = [0.2,0.1,0.1,0.1,0.1,0.2,0.5,0.9,1.2,1.4,1.5,1.5,1.4,1.4,1.5,1.5,\
                1.4,1.3,1.3,1.2,1.0,0.8,0.5,0.3], weekdays = [1,1,1,1,1,0.8,0.6], \
                timezone = \"+07:00\" }";
    let d: Doc = toml::from_str(text).unwrap();
    let c = d.rhythm.curve().unwrap();
    assert_eq!(c.hours, EXAMPLE_HOURS);
    assert_eq!(c.weekdays, [1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6]);
    assert_eq!(d.rhythm.utc_offset(), Ok(Some(7 * H)));

    // The module doc's layout: arrays over several lines inside the inline table.
    let doc = include_str!("rhythm.rs");
    let from = doc.find("//! # weekdays: Monday").unwrap();
    let to = from + doc[from..].find("//! ```").unwrap();
    let text: String = doc[from..to]
        .lines()
        .map(|l| l.strip_prefix("//! ").unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let d: Doc = toml::from_str(&text).unwrap();
    assert_eq!(d.rhythm.curve().unwrap().hours, EXAMPLE_HOURS);

    let d: Doc = toml::from_str("rhythm = { profile = \"business-hours\" }").unwrap();
    assert_eq!(d.rhythm.curve(), Ok(RhythmPreset::BusinessHours.curve()));
    // A preset's weekdays replaced, its hours kept.
    let d: Doc =
        toml::from_str("rhythm = { profile = \"evening-peak\", weekdays = [1,1,1,1,1,2,2] }")
            .unwrap();
    let c = d.rhythm.curve().unwrap();
    assert_eq!(c.hours, RhythmPreset::EveningPeak.curve().hours);
    assert_eq!(c.weekdays[5], 2.0);
    for p in [RhythmPreset::BusinessHours, RhythmPreset::EveningPeak] {
        assert_eq!(p.curve().max_factor(), 1.0, "{p:?} peaks at 1");
    }

    let e = toml::from_str::<Doc>("rhythm = { hour = [1] }").unwrap_err();
    assert!(e.to_string().contains("unknown field `hour`"), "{e}");
    let e = toml::from_str::<Doc>("rhythm = { profile = \"night-owl\" }").unwrap_err();
    assert!(e.to_string().contains("business-hours"), "{e}");
}

#[test]
fn every_priced_country_has_an_offset() {
    for w in COUNTRY_UTC_OFFSETS.windows(2) {
        assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
    }
    for (iso, _, _) in COUNTRIES {
        assert!(utc_offset_of_country(iso).is_some(), "{iso} has no offset");
    }
    assert_eq!(COUNTRY_UTC_OFFSETS.len(), COUNTRIES.len());
    for (iso, off) in COUNTRY_UTC_OFFSETS {
        assert!(
            off.abs() <= MAX_UTC_OFFSET && off % 900 == 0,
            "{iso}: {off}"
        );
    }
    for (iso, text) in [
        ("ID", "+07:00"),
        ("BR", "-03:00"),
        ("IN", "+05:30"),
        ("MX", "-06:00"),
        ("US", "-05:00"),
        ("RU", "+03:00"),
        ("AU", "+10:00"),
        ("NP", "+05:45"),
        ("GB", "UTC"),
    ] {
        assert_eq!(
            utc_offset_of_country(iso),
            parse_utc_offset(text).ok(),
            "{iso}"
        );
    }
    assert_eq!(utc_offset_of_country(" id "), Some(7 * H));
    assert_eq!(utc_offset_of_country("ZZ"), None);
    assert_eq!(utc_offset_of_country(""), None);
}
