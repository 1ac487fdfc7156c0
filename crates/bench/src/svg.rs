//! A handwritten SVG of one run: acknowledged writes and errors per 100 ms slot over time (and
//! acknowledged writes that were lost, by the slot they were sent in), the longest window
//! without a write shaded, and a vertical marker for each failover milestone the Sentinels
//! announced (first occurrence of each), plus the benchmark's own `SENTINEL FAILOVER`.
//! Every marker is a `<g class="marker" data-event="…">` so tools can find them.

use std::fmt::Write as _;

use crate::report::Report;

const W: f64 = 960.0;
const H: f64 = 460.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 116.0;
const BOTTOM: f64 = 64.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// 1, 2, 5 × 10^n at or above `x`.
fn nice_ceil(x: f64) -> f64 {
    if x <= 1.0 {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= x {
            return m * p;
        }
    }
    10.0 * p
}

/// The milestones to mark: (time ms, event name, label).
pub fn markers(r: &Report) -> Vec<(f64, String, String)> {
    let mut out: Vec<(f64, String, String)> = Vec::new();
    if let Some(t) = r.trigger_ms {
        out.push((t, "SENTINEL FAILOVER".into(), "SENTINEL FAILOVER".into()));
    }
    for e in r.events.iter().filter(|e| e.is_milestone()) {
        if out.iter().any(|(_, name, _)| *name == e.event) {
            continue;
        }
        out.push((e.t_ms, e.event.clone(), e.event.clone()));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// One run as an SVG document.
pub fn render(r: &Report) -> String {
    render_all(&[r])
}

/// Several runs stacked in one SVG document (e.g. the proxy above HAProxy), each on its own
/// scale.
pub fn render_all(reports: &[&Report]) -> String {
    let total_h = H * reports.len().max(1) as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{total_h}" viewBox="0 0 {W} {total_h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{W}" height="{total_h}" fill="#ffffff"/>"##
    );
    for (i, r) in reports.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<g class="run" data-label="{}" transform="translate(0 {})">"#,
            esc(&r.label),
            H * i as f64
        );
        panel(&mut s, r);
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, r: &Report) {
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let span_ms = r
        .slots
        .last()
        .map(|s| s.t_ms as f64 + 100.0)
        .unwrap_or(100.0)
        .max(r.duration_ms)
        .max(100.0);
    let ymax = nice_ceil(
        r.slots
            .iter()
            .map(|s| s.ok.max(s.errors).max(s.lost))
            .max()
            .unwrap_or(1) as f64,
    );
    let x = |t_ms: f64| LEFT + plot_w * (t_ms / span_ms).clamp(0.0, 1.0);
    let y = |v: f64| TOP + plot_h * (1.0 - v / ymax);

    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{}: writes per 100 ms through {}</text>"#,
        esc(&r.label),
        esc(&r.target)
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="38" fill="#444">{} writers · {} acknowledged · {} errors · {} reconnects · {} lost ({} after +switch-master) · longest gap {:.0} ms</text>"##,
        r.writers,
        r.acknowledged,
        r.errors_total,
        r.reconnects,
        r.lost,
        r.lost_after_switch,
        r.longest_gap.ms
    );

    // Longest window without a write.
    if r.longest_gap.ms > 0.0 {
        let _ = writeln!(
            s,
            r##"<rect class="gap" x="{:.1}" y="{TOP}" width="{:.1}" height="{plot_h}" fill="#f2e6ff"><title>longest window without a write: {:.0} ms</title></rect>"##,
            x(r.longest_gap.from_ms),
            (x(r.longest_gap.to_ms) - x(r.longest_gap.from_ms)).max(1.0),
            r.longest_gap.ms
        );
    }

    // Axes and grid.
    for i in 0..=4 {
        let v = ymax * i as f64 / 4.0;
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0,
            v as u64
        );
    }
    let step_s = nice_ceil(span_ms / 1000.0 / 12.0).max(1.0);
    let mut t = 0.0;
    while t * 1000.0 <= span_ms + 1.0 {
        let xx = x(t * 1000.0);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#444"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle" fill="#444">{t}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 5.0,
            TOP + plot_h + 18.0
        );
        t += step_s;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#444"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#444"/>"##,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h,
        TOP + plot_h
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#444">seconds since start</text>"##,
        LEFT + plot_w / 2.0,
        H - 24.0
    );
    let _ = writeln!(
        s,
        r##"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle" fill="#444">per 100 ms</text>"##,
        TOP + plot_h / 2.0
    );

    // Series as step lines.
    let series = |get: &dyn Fn(&crate::report::Slot) -> u64| -> String {
        let mut pts = String::new();
        for sl in &r.slots {
            let v = get(sl) as f64;
            let _ = write!(
                pts,
                "{:.1},{:.1} {:.1},{:.1} ",
                x(sl.t_ms as f64),
                y(v),
                x(sl.t_ms as f64 + 100.0),
                y(v)
            );
        }
        pts.trim_end().to_string()
    };
    if r.lost > 0 {
        // Lost writes as a filled area under the line of acknowledged writes.
        let _ = writeln!(
            s,
            r##"<polygon class="series" data-series="lost" fill="#ef6c00" fill-opacity="0.35" stroke="#ef6c00" stroke-width="1" points="{:.1},{:.1} {} {:.1},{:.1}"/>"##,
            x(0.0),
            y(0.0),
            series(&|sl| sl.lost),
            x(r.slots
                .last()
                .map(|sl| sl.t_ms as f64 + 100.0)
                .unwrap_or(0.0)),
            y(0.0)
        );
    }

    let _ = writeln!(
        s,
        r##"<polyline class="series" data-series="ok" fill="none" stroke="#2e7d32" stroke-width="1.5" points="{}"/>"##,
        series(&|sl| sl.ok)
    );
    let _ = writeln!(
        s,
        r##"<polyline class="series" data-series="errors" fill="none" stroke="#c62828" stroke-width="1.5" points="{}"/>"##,
        series(&|sl| sl.errors)
    );
    // Event markers; labels stacked in rows above the plot so they do not overlap.
    let mut row_end: Vec<f64> = Vec::new();
    for (t_ms, name, label) in markers(r) {
        let xx = x(t_ms);
        let text = format!("{label} {:.2} s", t_ms / 1e3);
        let text_w = text.chars().count() as f64 * 6.6;
        // The first row with room; with four rows taken, the one that ends furthest left.
        let row = match row_end.iter().position(|end| *end < xx - 4.0) {
            Some(i) => i,
            None if row_end.len() < 4 => {
                row_end.push(f64::MIN);
                row_end.len() - 1
            }
            None => row_end
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .unwrap_or(0),
        };
        // A label that would run off the right edge is drawn to the left of its line.
        let (anchor, tx) = if xx + text_w > W - 4.0 {
            ("end", xx - 3.0)
        } else {
            ("start", xx + 3.0)
        };
        row_end[row] = if anchor == "start" { xx + text_w } else { xx };
        let ty = TOP - 8.0 - 15.0 * row as f64;
        let colour = match name.as_str() {
            "+switch-master" => "#1565c0",
            "SENTINEL FAILOVER" => "#000000",
            n if n.starts_with("-failover-abort") => "#c62828",
            n if n.contains("down") => "#6d4c41",
            _ => "#555555",
        };
        let _ = writeln!(
            s,
            r##"<g class="marker" data-event="{}"><line x1="{xx:.1}" y1="{ty:.1}" x2="{xx:.1}" y2="{:.1}" stroke="{colour}" stroke-dasharray="3 3"/><text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}" fill="{colour}">{}</text></g>"##,
            esc(&name),
            TOP + plot_h,
            ty - 2.0,
            esc(&text)
        );
    }

    // Legend.
    let ly = H - 8.0;
    let mut lx = LEFT;
    for (colour, label) in [("#2e7d32", "acknowledged writes"), ("#c62828", "errors")] {
        let _ = writeln!(
            s,
            r##"<line x1="{lx}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{ly}">{label}</text>"##,
            ly - 4.0,
            lx + 18.0,
            ly - 4.0,
            lx + 22.0
        );
        lx += 40.0 + label.len() as f64 * 6.6;
    }
    for (fill, opacity, label) in [
        ("#ef6c00", "0.35", "acknowledged, then lost (by slot sent)"),
        ("#f2e6ff", "1", "longest window without a write"),
    ] {
        let _ = writeln!(
            s,
            r##"<rect x="{lx}" y="{:.1}" width="14" height="10" fill="{fill}" fill-opacity="{opacity}"/><text x="{:.1}" y="{ly}">{label}</text>"##,
            ly - 10.0,
            lx + 18.0
        );
        lx += 40.0 + label.len() as f64 * 6.6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::report::{Gap, Latency, Report, Slot};

    fn report() -> Report {
        let ev = |t: f64, e: &str, p: &str| Event {
            t_ms: t,
            sentinel: "127.0.0.1:26379".into(),
            event: e.into(),
            payload: p.into(),
        };
        Report {
            schema: 1,
            label: "a <b> & c".into(),
            target: "127.0.0.1:1".into(),
            master_name: "mymaster".into(),
            writers: 2,
            client_timeout_ms: 2000,
            trigger: Some("sentinel-failover".into()),
            duration_ms: 1000.0,
            master_before: None,
            master_after: None,
            acknowledged: 10,
            errors_total: 1,
            errors: vec![],
            reconnects: 0,
            keys_checked: 2,
            lost: 1,
            lost_after_switch: 1,
            longest_gap: Gap {
                ms: 200.0,
                from_ms: 300.0,
                to_ms: 500.0,
            },
            latency_us: Latency::default(),
            trigger_ms: Some(200.0),
            switch_master_ms: Some(480.0),
            trigger_to_switch_ms: Some(280.0),
            switch_to_first_write_ms: Some(20.0),
            switch_to_first_kept_write_ms: Some(20.0),
            slots: (0..10)
                .map(|i| Slot {
                    slot: i,
                    t_ms: i * 100,
                    ok: i,
                    errors: (i == 4) as u64,
                    lost: (i == 5) as u64,
                })
                .collect(),
            events: vec![
                ev(210.0, "+new-epoch", "1"),
                ev(220.0, "+try-failover", "master mymaster 127.0.0.1 1"),
                ev(480.0, "+switch-master", "mymaster 127.0.0.1 1 127.0.0.1 2"),
                ev(481.0, "+switch-master", "mymaster 127.0.0.1 1 127.0.0.1 2"),
                ev(490.0, "+failover-end", "master mymaster 127.0.0.1 1"),
            ],
            notes: vec![],
        }
    }

    #[test]
    fn svg_parses_and_marks_each_milestone_once() {
        let svg = render(&report());
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let marks: Vec<&str> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("marker"))
            .filter_map(|n| n.attribute("data-event"))
            .collect();
        assert_eq!(
            marks,
            [
                "SENTINEL FAILOVER",
                "+try-failover",
                "+switch-master",
                "+failover-end"
            ]
        );
        let series: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("data-series"))
            .collect();
        assert_eq!(series, ["lost", "ok", "errors"]);
    }

    #[test]
    fn several_runs_stack_in_one_document() {
        let (a, mut b) = (report(), report());
        b.label = "haproxy".into();
        let svg = render_all(&[&a, &b]);
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let runs: Vec<&str> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("run"))
            .filter_map(|n| n.attribute("data-label"))
            .collect();
        assert_eq!(runs, ["a <b> & c", "haproxy"]);
        let switches = doc
            .descendants()
            .filter(|n| n.attribute("data-event") == Some("+switch-master"))
            .count();
        assert_eq!(switches, 2);
    }

    #[test]
    fn nice_axis_maxima() {
        assert_eq!(nice_ceil(0.0), 1.0);
        assert_eq!(nice_ceil(7.0), 10.0);
        assert_eq!(nice_ceil(130.0), 200.0);
        assert_eq!(nice_ceil(450.0), 500.0);
    }
}
