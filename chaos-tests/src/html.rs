//! `report.html`: a self-contained page (inline SVG, no fetches) showing at a glance what a run
//! did: verdict, checks, fault bands, operation latency over time, availability per node.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::history::{Event, EventType};
use crate::report::Report;

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 70.0;
/// Latency scatter points drawn at most (evenly sampled beyond).
const POINTS_MAX: usize = 12_000;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn class_color(class: &str) -> &'static str {
    match class {
        "partition" => "#d62728",
        "kill" => "#9467bd",
        "pause" => "#8c564b",
        "clock" => "#e377c2",
        "loss" => "#ff7f0e",
        _ => "#17becf",
    }
}

/// A completed operation as drawn: (completion s, latency ms, outcome, node).
struct Drawn {
    at_s: f64,
    latency_ms: f64,
    kind: EventType,
    node: String,
}

fn drawn(events: &[Event]) -> Vec<Drawn> {
    let mut calls: HashMap<u64, u64> = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        if e.kind == EventType::Invoke {
            calls.insert(e.process, e.time_ns);
        } else if let Some(call) = calls.remove(&e.process) {
            out.push(Drawn {
                at_s: e.time_ns as f64 / 1e9,
                latency_ms: ((e.time_ns - call) as f64 / 1e6).max(0.1),
                kind: e.kind,
                node: e.node.clone().unwrap_or_default(),
            });
        }
    }
    out
}

/// Renders the page.
pub fn render(report: &Report, events: &[Event]) -> String {
    let mut h = String::new();
    let verdict = if report.passed { "PASS" } else { "FAIL" };
    let color = if report.passed { "#2ca02c" } else { "#d62728" };
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=utf-8><title>{name} {verdict}</title>\
         <style>body{{font:14px sans-serif;margin:20px;color:#222}}table{{border-collapse:collapse;margin:8px 0}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}.ok{{color:#2ca02c}}.bad{{color:#d62728;font-weight:bold}}\
         .banner{{font-size:28px;font-weight:bold;color:#fff;background:{color};padding:10px 16px;display:inline-block}}\
         pre{{background:#f6f6f6;padding:8px;overflow-x:auto}}</style></head><body>\
         <div class=banner>{verdict}</div> <b style=font-size:20px>{name}</b> seed {seed} · {n} nodes in {r} regions · \
         {c} clients on {k} keys · nemeses: {nem} · reads: {cons:?}<br>",
        name = esc(&report.name),
        seed = report.seed,
        n = report.config.nodes,
        r = report.config.regions,
        c = report.config.clients,
        k = report.config.keys,
        nem = report
            .config
            .nemeses
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", "),
        cons = report.config.read_consistency,
    );
    checks_table(&mut h, report);
    let _ = write!(h, "{}", timeline(report, events));
    tables(&mut h, report);
    h.push_str("</body></html>\n");
    h
}

fn checks_table(h: &mut String, report: &Report) {
    h.push_str("<h3>Checks</h3><table>");
    for c in &report.checks {
        let (mark, cls) = if c.passed {
            ("✔", "ok")
        } else {
            ("✘", "bad")
        };
        let _ = write!(
            h,
            "<tr><td class={cls}>{mark}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.detail)
        );
    }
    h.push_str("</table>");
}

fn timeline(report: &Report, events: &[Event]) -> String {
    let ops = drawn(events);
    let dur_s = (report.workload_ms as f64 / 1000.0).max(1.0);
    let plot_w = WIDTH - LEFT - 20.0;
    let x = |s: f64| LEFT + s / dur_s * plot_w;
    let nodes = &report.nodes;
    let (fault_y, lat_y, lat_h) = (20.0, 80.0, 220.0);
    let avail_y = lat_y + lat_h + 40.0;
    let height = avail_y + nodes.len() as f64 * 22.0 + 40.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<h3>Timeline</h3><svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' style='border:1px solid #ddd;background:#fff'>"
    );
    for f in &report.faults {
        let (Some(a), Some(b)) = (f.applied_ms, f.healed_ms) else {
            continue;
        };
        let (xa, xb) = (x(a as f64 / 1000.0), x(b as f64 / 1000.0));
        let col = class_color(f.class.name());
        let _ = write!(
            s,
            "<rect x='{xa:.1}' y='{fault_y}' width='{:.1}' height='{:.1}' fill='{col}' opacity='0.12'/>",
            xb - xa,
            height - fault_y - 25.0
        );
        let _ = write!(
            s,
            "<rect x='{xa:.1}' y='{fault_y}' width='{:.1}' height='22' fill='{col}'><title>{}</title></rect>",
            xb - xa,
            esc(&f.detail)
        );
        let targets: Vec<String> = f.targets.iter().map(|t| format!("n{t}")).collect();
        let label = match f.fault {
            crate::nemesis::Fault::Partition { shape } => format!("{shape:?}"),
            _ => format!("{} {}", f.class.name(), targets.join(",")),
        };
        let _ = write!(
            s,
            "<text x='{:.1}' y='{}' font-size='11' fill='#fff'>{}</text>",
            xa + 3.0,
            fault_y + 15.0,
            esc(&label)
        );
    }
    let _ = write!(
        s,
        "<text x='5' y='{}' font-size='12'>faults</text>",
        fault_y + 15.0
    );
    // Latency: log scale 1 ms .. 10 s.
    let ly = |ms: f64| lat_y + lat_h - (ms.clamp(1.0, 10_000.0).log10() / 4.0) * lat_h;
    for (ms, label) in [
        (1.0, "1ms"),
        (10.0, "10ms"),
        (100.0, "100ms"),
        (1000.0, "1s"),
        (10_000.0, "10s"),
    ] {
        let _ = write!(
            s,
            "<line x1='{LEFT}' x2='{:.1}' y1='{y:.1}' y2='{y:.1}' stroke='#eee'/><text x='30' y='{ty:.1}' font-size='10'>{label}</text>",
            LEFT + plot_w,
            y = ly(ms),
            ty = ly(ms) + 3.0
        );
    }
    let _ = write!(
        s,
        "<text x='5' y='{}' font-size='12'>op latency</text>",
        lat_y - 12.0
    );
    let step = (ops.len() / POINTS_MAX).max(1);
    for op in ops.iter().step_by(step) {
        let col = match op.kind {
            EventType::Ok => "#2ca02c",
            EventType::Fail => "#d62728",
            _ => "#ff7f0e",
        };
        let _ = write!(
            s,
            "<circle cx='{:.1}' cy='{:.1}' r='1.6' fill='{col}' opacity='0.6'/>",
            x(op.at_s),
            ly(op.latency_ms)
        );
    }
    availability(&mut s, nodes, &ops, dur_s, avail_y, &x);
    for t in (0..=dur_s as u64).step_by(if dur_s > 120.0 { 30 } else { 10 }) {
        let _ = write!(
            s,
            "<text x='{:.1}' y='{:.1}' font-size='10'>{t}s</text>",
            x(t as f64) - 6.0,
            height - 8.0
        );
    }
    let _ = write!(
        s,
        "<text x='{:.1}' y='{:.1}' font-size='11'>● ok <tspan fill='#d62728'>● fail</tspan> <tspan fill='#ff7f0e'>● info (unknown)</tspan> · availability: share of ok ops per node per second (grey = no ops)</text>",
        LEFT,
        height - 22.0
    );
    s.push_str("</svg>");
    s
}

fn availability(
    s: &mut String,
    nodes: &[crate::cluster::NodeInfo],
    ops: &[Drawn],
    dur_s: f64,
    y0: f64,
    x: &dyn Fn(f64) -> f64,
) {
    let secs = dur_s.ceil() as usize + 1;
    for (row, node) in nodes.iter().enumerate() {
        let mut cells = vec![(0u32, 0u32); secs];
        for op in ops.iter().filter(|o| o.node == node.name) {
            let c = &mut cells[(op.at_s as usize).min(secs - 1)];
            c.1 += 1;
            if op.kind == EventType::Ok {
                c.0 += 1;
            }
        }
        let y = y0 + row as f64 * 22.0;
        let _ = write!(
            s,
            "<text x='5' y='{:.1}' font-size='12'>{} ({})</text>",
            y + 14.0,
            node.name,
            esc(&node.region)
        );
        for (sec, (ok, all)) in cells.iter().enumerate() {
            let fill = if *all == 0 {
                "#ccc".to_string()
            } else {
                let f = *ok as f64 / *all as f64;
                format!(
                    "rgb({},{},60)",
                    (220.0 * (1.0 - f)) as u8 + 30,
                    (180.0 * f) as u8 + 40
                )
            };
            let (xa, xb) = (x(sec as f64), x(sec as f64 + 1.0));
            let _ = write!(
                s,
                "<rect x='{xa:.1}' y='{y:.1}' width='{:.1}' height='18' fill='{fill}'><title>{}: {ok}/{all} ok at {sec}s</title></rect>",
                (xb - xa).max(0.5),
                node.name
            );
        }
    }
}

fn tables(h: &mut String, report: &Report) {
    h.push_str("<h3>Operations</h3><table><tr><th>f</th><th>outcome counts</th></tr>");
    for (f, by) in &report.ops {
        let line: Vec<String> = by.iter().map(|(o, n)| format!("{o}: {n}")).collect();
        let _ = write!(h, "<tr><td>{f}</td><td>{}</td></tr>", line.join(", "));
    }
    h.push_str("</table><h3>Faults</h3><table><tr><th>#</th><th>class</th><th>applied</th><th>healed</th><th>recovery</th><th>detail</th></tr>");
    for f in &report.faults {
        let rec = report
            .recoveries
            .iter()
            .find(|r| r.fault == f.id)
            .and_then(|r| r.recovery_ms);
        let _ = write!(
            h,
            "<tr><td>{}</td><td style='color:{}'>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            f.id,
            class_color(f.class.name()),
            f.class.name(),
            f.applied_ms.map_or("NOT APPLIED".into(), |m| format!(
                "{:.1}s",
                m as f64 / 1000.0
            )),
            f.healed_ms.map_or("NOT HEALED".into(), |m| format!(
                "{:.1}s",
                m as f64 / 1000.0
            )),
            rec.map_or("none".into(), |m| format!("{m} ms")),
            esc(&f.detail),
            esc(&f.errors.join("; ")),
        );
    }
    h.push_str("</table><h3>Linearizability per key</h3><table>");
    for k in &report.keys {
        let cls = if k.verdict == crate::linearizability::Verdict::Linearizable {
            "ok"
        } else {
            "bad"
        };
        let window = k.window.as_ref().map_or(String::new(), |w| {
            format!("failing window: history ops {:?}", w.ops)
        });
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{} ops</td><td class={cls}>{:?}</td><td>{window}</td></tr>",
            esc(&k.key),
            k.ops,
            k.verdict
        );
    }
    h.push_str("</table>");
    if !report.anomalies.is_empty() {
        let _ = write!(
            h,
            "<h3 class=bad>Anomalies</h3><pre>{}</pre>",
            esc(&report.anomalies.join("\n"))
        );
    }
}
