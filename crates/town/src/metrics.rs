//! Run metrics, scenario checks, the summary table and the diffusion picture (hand-written SVG).

use std::fmt::Write as _;

use hamlet_core::town::{RunMetrics, SimTime};

use crate::spec::{CheckKind, Scenario};
use crate::state::WorldState;

/// Density of a set of pairs among `n` agents.
fn density(pairs: usize, n: usize) -> f64 {
    if n < 2 {
        0.0
    } else {
        pairs as f64 / (n * (n - 1) / 2) as f64
    }
}

/// Wall time spent stepping, and how much of it went to the model and to the memory stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Wall {
    pub total: f64,
    pub model: f64,
    pub memory: f64,
}

/// The figures of a run so far.
pub fn compute(st: &WorldState, wall: Wall) -> RunMetrics {
    let wall_secs = wall.total;
    let c = &st.counters;
    let n = st.agents.len();
    let hours = st.time.0.saturating_sub(st.start.0) as f64 / 3600.0;
    let per_hour = |x: f64| if hours > 0.0 { x / hours } else { 0.0 };
    RunMetrics {
        agents: n as u32,
        steps: c.steps,
        simulated_hours: hours,
        model_calls: c.calls,
        failed_calls: c.failed,
        calls_per_agent_step: if c.steps == 0 || n == 0 {
            0.0
        } else {
            c.calls as f64 / (c.steps as f64 * n as f64)
        },
        tokens: c.tokens,
        tokens_per_sim_hour: per_hour(c.tokens.total() as f64),
        wall_secs,
        wall_secs_per_sim_hour: per_hour(wall_secs),
        model_secs: wall.model,
        memory_secs: wall.memory,
        conversations: c.conversations,
        utterances: c.utterances,
        memories: c.memories,
        reflections: c.reflections,
        density_before: density(st.related_before.len(), n),
        density_after: density(st.related.len(), n),
        diffusion: st.diffusion.clone(),
        attendance: st
            .attendance
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
            .collect(),
    }
}

/// One evaluated check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// Evaluates the scenario's checks against the state.
pub fn checks(sc: &Scenario, st: &WorldState) -> Vec<CheckOutcome> {
    sc.checks
        .iter()
        .map(|c| match &c.kind {
            CheckKind::Knows { topic, by, exclude } => {
                let who: Vec<String> = st
                    .diffusion
                    .get(topic)
                    .into_iter()
                    .flatten()
                    .filter(|l| !exclude.contains(&l.agent) && by.is_none_or(|b| l.time <= b))
                    .map(|l| l.agent.clone())
                    .collect();
                let when = by.map(|b| format!(" by {b}")).unwrap_or_default();
                let incomplete = by.is_some_and(|b| st.time < b) && who.len() < c.at_least;
                CheckOutcome {
                    name: c.name.clone(),
                    passed: who.len() >= c.at_least,
                    detail: format!(
                        "{} of at least {} know \"{topic}\"{when}{}: {}",
                        who.len(),
                        c.at_least,
                        if incomplete {
                            " (run ended before the deadline)"
                        } else {
                            ""
                        },
                        if who.is_empty() {
                            "nobody".into()
                        } else {
                            who.join(", ")
                        }
                    ),
                }
            }
            CheckKind::Attends { gathering } => {
                let who: Vec<String> = st
                    .attendance
                    .get(gathering)
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                CheckOutcome {
                    name: c.name.clone(),
                    passed: who.len() >= c.at_least,
                    detail: format!(
                        "{} of at least {} came to {gathering}: {}",
                        who.len(),
                        c.at_least,
                        if who.is_empty() {
                            "nobody".into()
                        } else {
                            who.join(", ")
                        }
                    ),
                }
            }
        })
        .collect()
}

/// The metrics as a plain-text table.
pub fn table(m: &RunMetrics) -> String {
    let mut s = String::new();
    let mut row = |k: &str, v: String| {
        let _ = writeln!(s, "  {k:<32} {v}");
    };
    row("agents", m.agents.to_string());
    row(
        "steps (simulated hours)",
        format!("{} ({:.2} h)", m.steps, m.simulated_hours),
    );
    row(
        "model calls (failed)",
        format!("{} ({})", m.model_calls, m.failed_calls),
    );
    row(
        "model calls per agent-step",
        format!("{:.4}", m.calls_per_agent_step),
    );
    row(
        "tokens prompt / cached / generated",
        format!(
            "{} / {} / {}",
            m.tokens.prompt_tokens, m.tokens.cached_tokens, m.tokens.completion_tokens
        ),
    );
    row(
        "tokens per simulated hour",
        format!("{:.0}", m.tokens_per_sim_hour),
    );
    row(
        "wall time per simulated hour",
        format!("{:.1} s", m.wall_secs_per_sim_hour),
    );
    if m.wall_secs > 0.0 {
        let share = |x: f64| 100.0 * x / m.wall_secs;
        row(
            "  in the model / memory / rest",
            format!(
                "{:.0} % / {:.0} % / {:.0} %",
                share(m.model_secs),
                share(m.memory_secs),
                (100.0 - share(m.model_secs) - share(m.memory_secs)).max(0.0)
            ),
        );
    }
    row(
        "conversations / utterances",
        format!("{} / {}", m.conversations, m.utterances),
    );
    row(
        "memories / reflections",
        format!("{} / {}", m.memories, m.reflections),
    );
    row(
        "relationship density",
        format!("{:.3} -> {:.3}", m.density_before, m.density_after),
    );
    for (topic, learned) in &m.diffusion {
        let chain: Vec<String> = learned
            .iter()
            .map(|l| match &l.from {
                Some(f) => format!("{} ({} from {f})", l.agent, short(l.time)),
                None => format!("{} (seeded)", l.agent),
            })
            .collect();
        row(
            &format!("knows \"{topic}\" ({})", learned.len()),
            chain.join(", "),
        );
    }
    for (g, who) in &m.attendance {
        row(&format!("attended {g} ({})", who.len()), who.join(", "));
    }
    s
}

fn short(t: SimTime) -> String {
    format!("d{} {}", t.day(), t.clock())
}

/// Agents knowing each topic over time, as an SVG line chart.
pub fn diffusion_svg(m: &RunMetrics, start: SimTime, end: SimTime, agents: u32) -> String {
    let (w, h, pad) = (640.0, 360.0, 50.0);
    let span = end.0.saturating_sub(start.0).max(1) as f64;
    let ymax = f64::from(agents.max(1));
    let x = |t: SimTime| pad + (t.0.saturating_sub(start.0) as f64 / span) * (w - 2.0 * pad);
    let y = |n: f64| h - pad - n / ymax * (h - 2.0 * pad);
    let colours = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd"];
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let _ = writeln!(s, "<text x=\"{pad}\" y=\"20\" font-size=\"14\">Information diffusion: agents who know each topic</text>");
    let _ = writeln!(
        s,
        "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        h - pad,
        w - pad,
        h - pad
    );
    let _ = writeln!(
        s,
        "<line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{}\" stroke=\"black\"/>",
        h - pad
    );
    let _ = writeln!(s, "<text x=\"{pad}\" y=\"{}\">{start}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{end}</text>", h - pad + 18.0, w - pad, h - pad + 18.0);
    let _ = writeln!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{agents}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>", pad - 6.0, y(ymax) + 4.0, pad - 6.0, y(0.0) + 4.0);
    for (k, (topic, learned)) in m.diffusion.iter().enumerate() {
        let colour = colours[k % colours.len()];
        let mut pts = vec![(x(start), y(0.0))];
        let mut n = 0.0;
        for l in learned {
            let t = if l.time < start { start } else { l.time };
            pts.push((x(t), y(n)));
            n += 1.0;
            pts.push((x(t), y(n)));
        }
        pts.push((x(end), y(n)));
        let points: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" fill=\"{colour}\">{} ({})</text>",
            w - pad - 120.0,
            pad + 16.0 * k as f64,
            xml(topic),
            learned.len()
        );
    }
    s.push_str("</svg>\n");
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
