//! The web viewer (`hamlet watch --web`, `hamlet run --web`) in a real headless Chromium, driven
//! through WebDriver: a recorded town run of 12 agents (the fake model), markers checked against
//! the tiles the log says at a sought time, an agent's plan in the side panel, playback, a live
//! log with a torn last line that grows while the page is open, and an agent run whose approval
//! is answered in the page. Bad input (not a run, a busy port) is checked without a browser.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/setup.sh `ensure_browser`).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use hamlet_core::journal::Journal;
use hamlet_core::town::{EventRecord, Extra, SimTime, Tile, TownSnapshot};
use serde_json::Value;

mod common;
mod web;
use common::{hamlet_cmd, one_line_error, text};
use web::{click, js, open_viewer, wait_for, Chromedriver, Viewer};

/// One browser test at a time: two Chromiums on two cores make both slow.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const AT: &str = "day 1 08:00";

/// The recorded town run, made once per test binary: smallville, 12 agents, fake model.
fn recorded_town() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &RUN.get_or_init(|| {
        let d = tempfile::tempdir().expect("tmp");
        let run = d.path().join("town");
        let world = concat!(env!("CARGO_MANIFEST_DIR"), "/worlds/smallville");
        let o = hamlet_cmd(&[
            "sim",
            world,
            "--scenario",
            "valentines",
            "--until",
            "day 1 09:00",
            "--seed",
            "5",
            "--run-dir",
            run.to_str().expect("utf-8"),
            "--fake-model",
            "-q",
        ])
        .output()
        .expect("run hamlet sim");
        assert!(o.status.success(), "hamlet sim failed: {}", text(&o.stderr));
        (d, run)
    })
    .1
}

fn records(run: &Path) -> Vec<EventRecord> {
    Journal::<EventRecord>::read_all(&run.join("events.jsonl"))
        .expect("read the event log")
        .records
}

/// The town as the log says it is at `time`, folded here independently of the server.
fn expected_at(recs: &[EventRecord], time: SimTime) -> (TownSnapshot, Extra) {
    let mut snap = TownSnapshot::default();
    let mut extra = Extra::default();
    for r in recs.iter().filter(|r| r.time <= time) {
        snap.apply(r);
        extra.fold(r);
    }
    (snap, extra)
}

fn watch_web(run: &Path) -> Viewer {
    Viewer::start(hamlet_cmd(&[
        "watch",
        run.to_str().expect("utf-8"),
        "--web",
        "--port",
        "0",
    ]))
}

/// `data-agent → (data-x, data-y)` of every marker on the map.
async fn markers(c: &fantoccini::Client) -> BTreeMap<String, Tile> {
    let v = js(c, "return [...document.querySelectorAll('#markers [data-agent]')].map(g => [g.dataset.agent, +g.dataset.x, +g.dataset.y])").await;
    v.as_array()
        .expect("an array")
        .iter()
        .map(|m| {
            let n = |i: usize| m[i].as_u64().expect("a tile coordinate") as u16;
            (
                m[0].as_str().expect("a name").to_string(),
                Tile::new(n(1), n(2)),
            )
        })
        .collect()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

#[test]
fn a_recorded_town_shows_agents_at_their_logged_tiles_plans_and_plays() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = recorded_town();
    let recs = records(run);
    let at = SimTime::parse(AT).expect("time");
    let (want, want_extra) = expected_at(&recs, at);
    assert!(
        want.agents.len() >= 12,
        "the run has {} agents",
        want.agents.len()
    );
    let viewer = watch_web(run);
    let driver = Chromedriver::start();
    block_on(async {
        let c = open_viewer(&driver, &viewer.url).await;
        let n = wait_for(
            &c,
            "document.querySelectorAll('#markers [data-agent]').length",
            "markers",
            20,
        )
        .await;
        assert!(n.as_u64() >= Some(12), "{n} markers");

        // Seek to a time: every marker stands on the tile the log says.
        let input = c
            .find(fantoccini::Locator::Css("#seek-time"))
            .await
            .expect("seek box");
        input.send_keys(AT).await.expect("type a time");
        click(&c, "#seek-go").await;
        wait_for(
            &c,
            &format!(
                "+document.getElementById('clock').dataset.time === {}",
                at.0
            ),
            "the clock at the sought time",
            20,
        )
        .await;
        let shown = markers(&c).await;
        let want_tiles: BTreeMap<String, Tile> = want
            .agents
            .iter()
            .map(|(n, a)| (n.clone(), a.tile))
            .collect();
        assert_eq!(shown, want_tiles, "markers at {AT}");
        let clock = js(&c, "return document.getElementById('clock').textContent").await;
        assert_eq!(clock, Value::from(AT));

        // Click an agent that is awake (it has made its hourly plan), one standing alone if any.
        // (The fake model's day plans, the broad strokes, are empty; its hours are not.)
        let planned: Vec<(&String, Tile)> = want
            .agents
            .iter()
            .filter(|(_, a)| !a.plan.is_empty())
            .map(|(n, a)| (n, a.tile))
            .collect();
        assert!(
            planned.len() >= 3,
            "agents with plans at {AT}: {}",
            planned.len()
        );
        let alone = |(n, t): &&(&String, Tile)| {
            want.agents
                .iter()
                .all(|(m, b)| m == *n || t.dist(b.tile) > 2)
        };
        let (name, _) = *planned.iter().find(alone).unwrap_or(&planned[0]);
        let day_plan = want_extra
            .day_plan
            .get(name.as_str())
            .cloned()
            .unwrap_or_default();
        click(&c, &format!("#markers [data-agent=\"{name}\"]")).await;
        wait_for(
            &c,
            &format!("document.getElementById('agent-panel').dataset.agent === {name:?}"),
            "the side panel",
            10,
        )
        .await;
        let panel = js(
            &c,
            "return document.getElementById('agent-day-plan').textContent",
        )
        .await;
        let panel = panel.as_str().unwrap_or_default();
        for item in &day_plan {
            assert!(
                panel.contains(&item.description),
                "{:?} not in the panel: {panel}",
                item.description
            );
        }
        let hourly = js(
            &c,
            "return document.getElementById('agent-hour-plan').textContent",
        )
        .await;
        for item in &want.agents[name.as_str()].plan {
            assert!(
                hourly
                    .as_str()
                    .unwrap_or_default()
                    .contains(&item.description),
                "hourly plan {:?}",
                item.description
            );
        }
        // Hovering a marker shows what the agent is doing (and its emoji).
        let hover = format!(
            "const g = document.querySelector('#markers [data-agent=\"{name}\"]'); \
             g.dispatchEvent(new MouseEvent('mouseenter')); \
             const t = document.getElementById('tooltip'); return t.hidden ? null : t.textContent"
        );
        let tip = js(&c, &hover).await;
        let agent = &want.agents[name.as_str()];
        let action = if agent.action.is_empty() {
            "idle"
        } else {
            agent.action.as_str()
        };
        let tip = tip.as_str().unwrap_or_default().to_string();
        assert!(
            tip.contains(action),
            "{action:?} not in the tooltip {tip:?}"
        );
        if let Some(emoji) = &agent.emoji {
            assert!(
                tip.contains(emoji.as_str()),
                "{emoji} not in the tooltip {tip:?}"
            );
        }
        let memories = js(
            &c,
            "return document.querySelectorAll('#agent-memories li[data-importance]').length",
        )
        .await;
        assert!(memories.as_u64() > Some(0), "memories with importance");

        // The screenshot of the README, taken here.
        let png = c.screenshot().await.expect("a screenshot");
        std::fs::create_dir_all(web::docs()).expect("docs/");
        std::fs::write(web::docs().join("web-viewer.png"), png).expect("write docs/web-viewer.png");

        // Play: the clock moves on.
        click(&c, "#play").await;
        wait_for(
            &c,
            &format!(
                "+document.getElementById('clock').dataset.time > {}",
                at.0 + 60
            ),
            "the clock to advance",
            20,
        )
        .await;
        click(&c, "#play").await;
        let playing = js(&c, "return document.getElementById('play').dataset.playing").await;
        assert_eq!(playing, Value::from("false"));
        c.close().await.expect("close the browser");
    });
}

#[test]
fn a_live_log_with_a_torn_last_line_updates_the_page_as_it_grows() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let full = std::fs::read_to_string(recorded_town().join("events.jsonl")).expect("log");
    let lines: Vec<&str> = full.lines().collect();
    let recs = records(recorded_town());
    let early = SimTime::parse("day 1 07:00").expect("time");
    let cut = recs.partition_point(|r| r.time <= early);
    let d = tempfile::tempdir().expect("tmp");
    let log = d.path().join("events.jsonl");
    // The first records, then half of the next line: a torn write the viewer must wait out.
    let torn = &lines[cut][..lines[cut].len() / 2];
    std::fs::write(&log, format!("{}\n{torn}", lines[..cut].join("\n"))).expect("write the log");
    let viewer = watch_web(d.path());
    let driver = Chromedriver::start();
    block_on(async {
        let c = open_viewer(&driver, &viewer.url).await;
        assert_eq!(
            js(&c, "return document.getElementById('live').hidden").await,
            Value::from(false)
        );
        let t0 = recs[cut - 1].time.0;
        wait_for(
            &c,
            &format!("+document.getElementById('clock').dataset.time === {t0}"),
            "the newest complete record",
            20,
        )
        .await;

        // The run goes on: the rest of the torn line, then more records.
        let later = SimTime::parse("day 1 07:30").expect("time");
        let upto = recs.partition_point(|r| r.time <= later);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open the log");
        write!(
            f,
            "{}\n{}\n",
            &lines[cut][torn.len()..],
            lines[cut + 1..upto].join("\n")
        )
        .expect("append");
        f.sync_all().expect("sync");
        let t1 = recs[upto - 1].time.0;
        wait_for(
            &c,
            &format!("+document.getElementById('clock').dataset.time === {t1}"),
            "the page to follow the log",
            30,
        )
        .await;
        let (want, _) = expected_at(&recs, recs[upto - 1].time);
        let shown = markers(&c).await;
        for (name, a) in &want.agents {
            assert_eq!(shown.get(name), Some(&a.tile), "{name} after the log grew");
        }
        c.close().await.expect("close the browser");
    });
}

#[test]
fn sim_with_web_shows_the_town_live_until_the_run_ends() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().expect("tmp");
    let run = d.path().join("town");
    let world = concat!(env!("CARGO_MANIFEST_DIR"), "/worlds/smallville");
    let viewer = Viewer::start(hamlet_cmd(&[
        "sim",
        world,
        "--until",
        "day 1 12:00",
        "--seed",
        "2",
        "--run-dir",
        run.to_str().expect("utf-8"),
        "--fake-model",
        "-q",
        "--web",
        "--port",
        "0",
    ]));
    let driver = Chromedriver::start();
    block_on(async {
        let c = open_viewer(&driver, &viewer.url).await;
        let n = js(
            &c,
            "return document.querySelectorAll('#markers [data-agent]').length",
        )
        .await;
        assert!(n.as_u64() >= Some(12), "{n} markers");
        // The page follows the run to its end without a reload.
        wait_for(
            &c,
            "document.getElementById('live').hidden",
            "the run to end",
            120,
        )
        .await;
        let end = SimTime::parse("day 1 12:00").expect("time").0;
        wait_for(
            &c,
            &format!("+document.getElementById('clock').dataset.time === {end}"),
            "the clock at the run's end",
            20,
        )
        .await;
        c.close().await.expect("close the browser");
    });
    let last = records(&run).last().map(|r| r.event.clone());
    assert!(
        matches!(last, Some(hamlet_core::town::TownEvent::Metrics { .. })),
        "the run finished"
    );
}

#[test]
fn an_agent_run_started_with_web_is_approved_in_the_page() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let model_url = web::scripted_model();
    let d = tempfile::tempdir().expect("tmp");
    let run = d.path().join("run");
    let mut cmd = hamlet_cmd(&[
        "run",
        "--goal",
        "Write the word hi into hello.txt",
        "--run-dir",
        run.to_str().expect("utf-8"),
        "--max-steps",
        "6",
        "--web",
        "--port",
        "0",
        "--server",
        &model_url,
        "--model",
        "scripted",
    ]);
    cmd.env("HAMLET_HOME", d.path().join("home"));
    let viewer = Viewer::start(cmd);
    let driver = Chromedriver::start();
    block_on(async {
        let c = open_viewer(&driver, &viewer.url).await;
        let goal = wait_for(
            &c,
            "document.getElementById('goal').textContent",
            "the goal",
            20,
        )
        .await;
        assert_eq!(goal, Value::from("Write the word hi into hello.txt"));
        wait_for(&c, "!document.getElementById('approval').hidden && document.getElementById('approval').dataset.tool === 'write_file'", "the approval prompt", 30).await;
        assert!(
            !run.join("workspace/hello.txt").exists(),
            "nothing runs before the answer"
        );
        click(&c, "#approve-run").await;
        let reason = wait_for(&c, "!document.getElementById('end').hidden && document.getElementById('end').dataset.reason", "the run to end", 30).await;
        assert_eq!(reason, Value::from("finished"));
        let steps = js(
            &c,
            "return [...document.querySelectorAll('#steps li.step')].map(s => s.dataset.status)",
        )
        .await;
        assert_eq!(steps, serde_json::json!(["ok", "ok"]));
        let used = js(
            &c,
            "return document.getElementById('budget-steps').textContent",
        )
        .await;
        assert_eq!(used, Value::from("2 / 6"));
        let tokens = js(
            &c,
            "return document.getElementById('budget-tokens').textContent",
        )
        .await;
        assert!(
            tokens.as_str().unwrap_or_default().contains(" / "),
            "tokens against the budget: {tokens}"
        );
        c.close().await.expect("close the browser");
    });
    assert_eq!(
        std::fs::read_to_string(run.join("workspace/hello.txt"))
            .ok()
            .as_deref(),
        Some("hi")
    );
    drop(viewer);
}

#[test]
fn bad_input_gives_one_clear_error() {
    let d = tempfile::tempdir().expect("tmp");
    let o = hamlet_cmd(&["watch", d.path().to_str().expect("utf-8"), "--web"])
        .output()
        .expect("run");
    let err = one_line_error(&o);
    assert!(
        err.contains("is not a run folder") && err.contains("hamlet sim"),
        "{err}"
    );

    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    std::fs::write(d.path().join("events.jsonl"), "{\"step\":0,").expect("write");
    let o = hamlet_cmd(&[
        "watch",
        d.path().to_str().expect("utf-8"),
        "--web",
        "--port",
        &port,
    ])
    .output()
    .expect("run");
    let err = one_line_error(&o);
    assert!(
        err.contains(&format!("port {port} is already in use")) && err.contains("--port"),
        "{err}"
    );

    let o = hamlet_cmd(&[
        "watch",
        d.path().to_str().expect("utf-8"),
        "--web",
        "--host",
        "localhost:1",
    ])
    .output()
    .expect("run");
    let err = one_line_error(&o);
    assert!(err.contains("not an address"), "{err}");
}
