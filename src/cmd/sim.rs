//! `hamlet sim`: run a town (new, resumed or replayed) and print its metrics and checks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use hamlet_core::testing::HashEmbedder;
use hamlet_core::town::{SimTime, TownEvent};
use hamlet_core::{Embedder, Llm, SnapshotStream};
use hamlet_memory::MemoryStore;
use hamlet_town::metrics::{table, CheckOutcome};
use hamlet_town::testing::TownFake;
use hamlet_town::{replay, LlmTownModel, Run, RunConfig, SimConfig, TownModel};
use indicatif::{ProgressBar, ProgressStyle};

use crate::opts::{load_embedder, LoraOpts, ModelOpts, DEFAULT_EMBED_MODEL};

/// The model name a run records when it runs on the stand-in model.
const FAKE: &str = "fake";
/// The embedder of fake-model runs: a hashing embedder, so the mechanics need no model file.
const FAKE_EMBEDDER: &str = "hash-64";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The world directory (e.g. worlds/smallville).
    #[arg(required_unless_present_any = ["resume", "replay"])]
    pub world: Option<PathBuf>,
    /// Scenario name (WORLD/scenarios/NAME.toml) or path.
    #[arg(long)]
    pub scenario: Option<String>,
    /// How many agents (the scenario's first, then personas by file name; default: all).
    #[arg(long)]
    pub agents: Option<usize>,
    /// Stop at this simulated time, e.g. "day 2 20:00" (default: the scenario's end, else one day).
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where the event log, checkpoints and metrics go (default: runs/sim-<world>-<scenario>-<seed>).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["world", "scenario", "agents", "until", "run_dir", "replay"])]
    pub resume: Option<PathBuf>,
    /// Replay a run's event log without a model and print its conversations and metrics.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["world", "scenario", "agents", "until", "run_dir"])]
    pub replay: Option<PathBuf>,
    /// Simulated minutes between checkpoints.
    #[arg(long, default_value_t = 30)]
    pub checkpoint_mins: u64,
    /// Utterances after which a conversation ends.
    #[arg(long, default_value_t = 8)]
    pub max_turns: usize,
    /// Use the deterministic stand-in model instead of a real one (mechanics only). A run
    /// started with it is resumed with it.
    #[arg(long)]
    pub fake_model: bool,
    /// The embedding model of the agents' memory stream (a name in the model cache or a path).
    #[arg(long, default_value = DEFAULT_EMBED_MODEL)]
    pub embed_model: String,
    /// Override prompt templates from DIR/town/*.j2.
    #[arg(long, value_name = "DIR", env = "HAMLET_PROMPTS")]
    pub prompts: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Watch the town in the terminal UI while it runs (quitting the UI stops the run at a
    /// checkpoint; continue it with --resume).
    #[arg(long, conflicts_with = "web")]
    pub tui: bool,
    #[command(flatten)]
    pub web: crate::cmd::web::WebArgs,
    #[command(flatten)]
    pub model: ModelOpts,
}

pub fn run(a: Args) -> Result<()> {
    if let Some(dir) = &a.replay {
        return replay_cmd(dir);
    }
    // A resumed run keeps the model and embedder it was started with.
    let (fake, model_name, embed_name) = match &a.resume {
        Some(dir) => {
            let c = Run::config_of(dir).with_context(|| format!("resuming {}", dir.display()))?;
            if a.fake_model && c.model != FAKE {
                bail!(
                    "{} was started with the model {:?}; resume it without --fake-model",
                    dir.display(),
                    c.model
                );
            }
            let model = if c.model.is_empty() {
                a.model.model.clone()
            } else {
                c.model
            };
            let embedder = if c.embedder.is_empty() {
                a.embed_model.clone()
            } else {
                c.embedder
            };
            (model == FAKE, model, embedder)
        }
        None if a.fake_model => (true, FAKE.to_string(), FAKE_EMBEDDER.to_string()),
        None => (false, a.model.model.clone(), a.embed_model.clone()),
    };
    let mut model_opts = a.model.clone();
    model_opts.model = model_name.clone();
    let embedder: Arc<dyn Embedder> = if fake {
        Arc::new(HashEmbedder::new(64))
    } else {
        Arc::new(load_embedder(&embed_name, model_opts.threads())?)
    };
    let open = |dir: &Path| -> std::result::Result<
        Box<dyn SnapshotStream>,
        Box<dyn std::error::Error + Send + Sync>,
    > {
        let store = MemoryStore::open(dir, embedder.clone())?;
        store.set_embedder_name(&embed_name)?;
        Ok(Box::new(store))
    };
    let mut run = match &a.resume {
        Some(dir) => {
            Run::resume(dir, &open).with_context(|| format!("resuming {}", dir.display()))?
        }
        None => {
            let world = a
                .world
                .clone()
                .context("give a world directory, e.g. worlds/smallville")?;
            let until = a
                .until
                .as_deref()
                .map(SimTime::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!("--until: {e}"))?;
            let name = world
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "town".into());
            let run_dir = a.run_dir.clone().unwrap_or_else(|| {
                PathBuf::from("runs").join(format!(
                    "sim-{name}-{}-{}",
                    a.scenario.as_deref().unwrap_or("free"),
                    a.seed
                ))
            });
            let config = RunConfig {
                world,
                scenario: a.scenario.clone(),
                agents: Vec::new(),
                agent_count: a.agents,
                until,
                seed: a.seed,
                prompts_dir: a.prompts.clone(),
                checkpoint_every: 1,
                sim: SimConfig {
                    max_turns: a.max_turns.max(2),
                    ..SimConfig::default()
                },
                model: model_name.clone(),
                embedder: embed_name.clone(),
            };
            let mut run = Run::create(&run_dir, &config, &open).context("starting the run")?;
            run.config.checkpoint_every =
                (a.checkpoint_mins.max(1) * 60 / u64::from(run.town.world.step_secs)).max(1);
            run.checkpoint()?;
            run
        }
    };
    if run.is_done() {
        let (m, checks) = run.finish()?;
        print_summary(&run, &m, &checks);
        return Ok(());
    }
    // A pool of servers is kept by hand too: its per-server figures go into the metrics.
    let mut pool: Option<Arc<hamlet_llm::PoolLlm>> = None;
    let model: Box<dyn TownModel> = if fake {
        let news: Vec<String> = run
            .town
            .scenario
            .iter()
            .flat_map(|s| s.topics.iter().flat_map(|t| t.keywords.clone()))
            .collect();
        Box::new(TownFake::new().with_news(news))
    } else {
        let mut m = model_opts.clone();
        // One KV slot per agent; the town's prompts are short.
        m.context = m.context.min(2048);
        let llm: Arc<dyn Llm> = if m.server_urls()?.len() > 1 {
            let p = Arc::new(m.pool()?);
            pool = Some(p.clone());
            p
        } else {
            Arc::from(m.backend(run.state.agents.len() as u32, &LoraOpts::default())?)
        };
        Box::new(LlmTownModel(llm))
    };
    eprintln!(
        "town {} · {} agents · {} → {} · run dir {}",
        run.town.world.name,
        run.state.agents.len(),
        run.state.time,
        run.until(),
        run.dir().display()
    );
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let live = if a.tui {
        Some(crate::cmd::watch::LiveTown::start(run.dir(), stop.clone())?)
    } else {
        None
    };
    let web = if a.web.web {
        Some(crate::cmd::web::start(
            run.dir(),
            hamlet_web::Kind::Town,
            &a.web,
        )?)
    } else {
        None
    };
    let total = run.until().0.saturating_sub(run.state.start.0);
    let pb = if a.quiet || live.is_some() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {percent}% {elapsed} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    while !run.is_done() {
        if stop.load(Ordering::SeqCst) {
            run.checkpoint()?;
            pb.finish_and_clear();
            if let Some(l) = live {
                l.finish()?;
            }
            eprintln!(
                "stopped at {}; continue with: hamlet sim --resume {}",
                run.state.time,
                run.dir().display()
            );
            return Ok(());
        }
        run.step(model.as_ref())?;
        let s = &run.state;
        pb.set_position(s.time.0.saturating_sub(s.start.0));
        if s.step % 6 == 0 {
            pb.set_message(format!("{} · {} calls", s.time, s.counters.calls));
        }
    }
    pb.finish_and_clear();
    let (m, checks) = run.finish()?;
    if let Some(l) = live {
        l.finish()?;
    }
    print_summary(&run, &m, &checks);
    if let Some(pool) = &pool {
        servers_into_metrics(run.dir(), &pool.stats())?;
    }
    if let Some(server) = web {
        crate::cmd::web::serve_until(server, &stop);
    }
    Ok(())
}

fn print_summary(run: &Run, m: &hamlet_core::town::RunMetrics, checks: &[CheckOutcome]) {
    println!(
        "town {} · ended {} · run dir {}",
        run.town.world.name,
        run.state.time,
        run.dir().display()
    );
    print!("{}", table(m));
    for c in checks {
        println!(
            "  check {:<26} {} {}",
            c.name,
            if c.passed { "PASS" } else { "FAIL" },
            c.detail
        );
    }
    println!(
        "  wrote {}, {}, {}",
        run.dir().join("events.jsonl").display(),
        run.dir().join(hamlet_town::METRICS_FILE).display(),
        run.dir().join(hamlet_town::SVG_FILE).display()
    );
}

/// Adds the pool's per-server figures to the run's metrics file (as `servers`) and prints them.
fn servers_into_metrics(dir: &std::path::Path, stats: &[hamlet_llm::ServerStats]) -> Result<()> {
    let path = dir.join(hamlet_town::METRICS_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut metrics: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    metrics["servers"] = serde_json::to_value(stats)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&metrics)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    for s in stats {
        let cached = 100.0 * s.cached_tokens as f64 / s.prompt_tokens.max(1) as f64;
        println!(
            "  server {} · {} requests, {} answered, {} errors ({} moved to another server, {} taken over) · {cached:.0}% of prompt tokens cached · {:.0} ms mean{}",
            s.url,
            s.requests,
            s.ok,
            s.errors,
            s.moved_away,
            s.taken_over,
            s.latency_ms / s.ok.max(1) as f64,
            if s.down { " · down at the end" } else { "" }
        );
    }
    Ok(())
}

fn replay_cmd(dir: &std::path::Path) -> Result<()> {
    let mut last_minute = u64::MAX;
    let rep = replay(dir, &mut |rec, snap| {
        if let TownEvent::Utterance {
            speaker,
            listener,
            text,
            ..
        } = &rec.event
        {
            println!("{} {speaker} → {listener}: {text}", rec.time);
        }
        if let TownEvent::TopicLearned {
            agent, topic, from, ..
        } = &rec.event
        {
            println!(
                "{} {agent} learns \"{topic}\"{}",
                rec.time,
                from.as_deref()
                    .map(|f| format!(" from {f}"))
                    .unwrap_or_default()
            );
        }
        let minute = rec.time.0 / 3600;
        if minute != last_minute && matches!(rec.event, TownEvent::Tick) {
            last_minute = minute;
            let busy: Vec<String> = snap
                .agents
                .iter()
                .map(|(n, a)| format!("{n}: {}", a.action))
                .collect();
            println!("{} · {}", rec.time, busy.join(" · "));
        }
    })
    .with_context(|| format!("replaying {}", dir.display()))?;
    if rep.events == 0 {
        bail!("{} has an empty event log", dir.display());
    }
    println!("replayed {} events up to {}", rep.events, rep.snapshot.time);
    if let Some(m) = &rep.metrics {
        print!("{}", table(m));
    }
    for (name, passed, detail) in &rep.snapshot.checks {
        println!(
            "  check {:<26} {} {}",
            name,
            if *passed { "PASS" } else { "FAIL" },
            detail
        );
    }
    Ok(())
}
