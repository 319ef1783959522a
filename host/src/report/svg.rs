//! Minimal SVG charts: line charts and heatmaps for run reports.
//!
//! Written by hand on purpose: plotters needs a font backend with font files to measure
//! text, and the machines this runs on have no system fonts; SVG text is laid out by the
//! browser that shows the report, so plain SVG needs nothing.

use std::fmt::Write as _;

const W: f64 = 720.0;
const H: f64 = 320.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 40.0;
const COLORS: [&str; 10] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

fn bounds(series: &[Series]) -> (f64, f64, f64, f64) {
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    if x1 == x0 {
        x1 = x0 + 1.0;
    }
    if y1 == y0 {
        y1 = y0 + 1.0;
    }
    (x0, x1, y0, y1)
}

/// A line chart with axes, tick labels and a legend. Each point is also marked, so a series
/// with gaps (a language routed at some steps only) shows the steps it really has.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    chart(title, x_label, y_label, series, true)
}

/// Points only: each series a colour, no lines.
pub fn scatter(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    chart(title, x_label, y_label, series, false)
}

fn chart(title: &str, x_label: &str, y_label: &str, series: &[Series], lines: bool) -> String {
    let (x0, x1, y0, y1) = bounds(series);
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(s, r#"<text x="{}" y="18" font-size="14" text-anchor="middle">{}</text>"#, W / 2.0, escape(title));
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    for i in 0..=4 {
        let fy = y0 + (y1 - y0) * i as f64 / 4.0;
        let fx = x0 + (x1 - x0) * i as f64 / 4.0;
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end">{fy:.3}</text>"#, LEFT - 4.0, py(fy) + 4.0);
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="middle">{fx:.0}</text>"#, px(fx), H - BOTTOM + 14.0);
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 6.0,
        escape(x_label)
    );
    let _ = write!(
        s,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{}</text>"#,
        H / 2.0,
        H / 2.0,
        escape(y_label)
    );
    for (i, ser) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        if lines {
            let pts: Vec<String> = ser.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
            let _ =
                write!(s, r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#, pts.join(" "));
        }
        let r = if lines { 2.0 } else { 3.5 };
        for &(x, y) in &ser.points {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{color}"><title>{} ({x}, {y:.4})</title></circle>"#,
                px(x),
                py(y),
                escape(&ser.name)
            );
        }
        let ly = TOP + 12.0 + 14.0 * i as f64;
        let _ = write!(s, r#"<rect x="{}" y="{}" width="10" height="10" fill="{color}"/>"#, W - RIGHT + 10.0, ly - 9.0);
        let _ = write!(s, r#"<text x="{}" y="{ly}">{}</text>"#, W - RIGHT + 24.0, escape(&ser.name));
    }
    s.push_str("</svg>\n");
    s
}

/// A heatmap: one row per label, one column per logged step placed at that step (a column
/// reaches to the next logged step), colour from white (0) to blue (the largest value shown),
/// with that scale drawn beside it, values marked. Router probabilities sit near 1/15, so a
/// fixed [0, 1] scale would show them all as white.
pub fn heatmap(title: &str, rows: &[String], steps: &[u64], values: &[Vec<f64>]) -> String {
    let plot_w = W - LEFT - RIGHT;
    let cell_h = 16.0;
    let height = TOP + BOTTOM + cell_h * rows.len().max(4) as f64;
    let top = values.iter().flatten().copied().filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    let scale = if top > 0.0 { top } else { 1.0 };
    let shade = |v: f64| (255.0 * (1.0 - (v / scale).clamp(0.0, 1.0))) as u8;
    let (first, last) = (steps.first().copied().unwrap_or(0), steps.last().copied().unwrap_or(0));
    // Column c spans [steps[c], steps[c + 1]); the last one a single step.
    let span = (last - first + 1) as f64;
    let px = |step: u64| LEFT + (step - first) as f64 / span * plot_w;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(s, r#"<text x="{}" y="18" font-size="14" text-anchor="middle">{}</text>"#, W / 2.0, escape(title));
    for (r, label) in rows.iter().enumerate() {
        let y = TOP + cell_h * r as f64;
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, LEFT - 4.0, y + 12.0, escape(label));
        for (c, v) in values.get(r).into_iter().flatten().enumerate() {
            let Some(&step) = steps.get(c) else { continue };
            let next = steps.get(c + 1).copied().unwrap_or(step + 1);
            let g = shade(*v);
            let _ = write!(
                s,
                r#"<rect x="{:.2}" y="{y}" width="{:.2}" height="{cell_h}" fill="rgb({g},{g},255)"><title>{} step {step}: {v:.4}</title></rect>"#,
                px(step),
                (px(next) - px(step)).max(0.5),
                escape(label),
            );
        }
    }
    let y = TOP + cell_h * rows.len() as f64 + 14.0;
    let _ = write!(
        s,
        r#"<text x="{LEFT}" y="{y}">step {first}</text><text x="{}" y="{y}" text-anchor="end">step {last}</text>"#,
        W - RIGHT
    );
    // The colour scale: five swatches from 0 to the largest value, each labelled.
    for i in 0..5 {
        let v = scale * (4 - i) as f64 / 4.0;
        let g = shade(v);
        let sy = TOP + 14.0 * i as f64;
        let _ = write!(
            s,
            r##"<rect x="{}" y="{sy}" width="14" height="14" fill="rgb({g},{g},255)" stroke="#999"/><text x="{}" y="{}">{v:.3}</text>"##,
            W - RIGHT + 10.0,
            W - RIGHT + 30.0,
            sy + 11.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// One group's value in a bar chart, with an interval drawn as a whisker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// Grouped bars on a [0, 1] axis: one group per category, one bar per series (a `None` bar is
/// left out), each with its interval as a whisker.
pub fn bar_chart(title: &str, y_label: &str, categories: &[String], series: &[(String, Vec<Option<Bar>>)]) -> String {
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let py = |y: f64| H - BOTTOM - y.clamp(0.0, 1.0) * plot_h;
    let group_w = plot_w / categories.len().max(1) as f64;
    let bar_w = group_w * 0.8 / series.len().max(1) as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(s, r#"<text x="{}" y="18" font-size="14" text-anchor="middle">{}</text>"#, W / 2.0, escape(title));
    let _ = write!(s, r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>"##);
    for i in 0..=4 {
        let y = i as f64 / 4.0;
        let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="end">{y:.2}</text>"#, LEFT - 4.0, py(y) + 4.0);
    }
    let _ = write!(
        s,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{}</text>"#,
        H / 2.0,
        H / 2.0,
        escape(y_label)
    );
    for (c, category) in categories.iter().enumerate() {
        let x0 = LEFT + group_w * c as f64 + group_w * 0.1;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            LEFT + group_w * (c as f64 + 0.5),
            H - BOTTOM + 14.0,
            escape(category)
        );
        for (k, (name, bars)) in series.iter().enumerate() {
            let Some(bar) = bars.get(c).copied().flatten() else { continue };
            let color = COLORS[k % COLORS.len()];
            let x = x0 + bar_w * k as f64;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{} {}: {:.3} ({:.3} to {:.3})</title></rect>"#,
                py(bar.value),
                (bar_w - 2.0).max(1.0),
                (py(0.0) - py(bar.value)).max(0.0),
                escape(name),
                escape(category),
                bar.value,
                bar.low,
                bar.high
            );
            let mid = x + (bar_w - 2.0).max(1.0) / 2.0;
            let _ = write!(
                s,
                r#"<line x1="{mid:.1}" x2="{mid:.1}" y1="{:.1}" y2="{:.1}" stroke="black"/>"#,
                py(bar.low),
                py(bar.high)
            );
        }
    }
    for (k, (name, _)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let ly = TOP + 12.0 + 14.0 * k as f64;
        let _ = write!(s, r#"<rect x="{}" y="{}" width="10" height="10" fill="{color}"/>"#, W - RIGHT + 10.0, ly - 9.0);
        let _ = write!(s, r#"<text x="{}" y="{ly}">{}</text>"#, W - RIGHT + 24.0, escape(name));
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_svg() {
        let s = line_chart(
            "r <&>",
            "step",
            "reward",
            &[Series { name: "all".into(), points: vec![(1.0, 0.2), (2.0, 0.4)] }],
        );
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("r &lt;&amp;&gt;"));
        assert!(s.contains("<polyline"));
        let h = heatmap("p", &["en".into(), "zh".into()], &[1, 2], &[vec![0.05, 0.1], vec![0.05, 0.0]]);
        // Four cells and five swatches of the scale, which tops out at the largest value.
        assert_eq!(h.matches("<rect").count(), 9);
        assert!(h.contains(">0.100</text>") && h.contains(">0.050</text>"), "{h}");
        assert!(h.contains(r#"fill="rgb(0,0,255)"><title>en step 2: 0.1000"#), "the largest value is full blue");
        // Columns sit at their steps: logged at 1, 2 and 10, the third column starts 9/10 across.
        let h = heatmap("p", &["en".into()], &[1, 2, 10], &[vec![0.1, 0.1, 0.1]]);
        let x = LEFT + 9.0 / 10.0 * (W - LEFT - RIGHT);
        assert!(h.contains(&format!(r#"<rect x="{x:.2}""#)), "{h}");
        let sc = scatter("s", "p", "r", &[Series { name: "t".into(), points: vec![(0.1, 0.5), (0.2, 0.6)] }]);
        assert_eq!((sc.matches("<circle").count(), sc.matches("<polyline").count()), (2, 0));
        let bar = |v: f64| Some(Bar { value: v, low: v - 0.1, high: v + 0.1 });
        let b = bar_chart(
            "acc",
            "accuracy",
            &["de".into(), "zh".into()],
            &[("model".into(), vec![bar(0.5), None]), ("baseline".into(), vec![bar(0.25), bar(1.0)])],
        );
        // Three bars with whiskers, a frame and two legend boxes.
        assert_eq!((b.matches("<line").count(), b.matches("<rect").count()), (3, 6));
        assert!(b.contains("baseline zh: 1.000"));
    }
}
