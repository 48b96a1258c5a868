//! `hamlet run`: pursue a goal with an agent, printing each step; `--resume` continues a run.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use hamlet_agent::runner::load_run;
use hamlet_agent::{AgentSpec, Approval, Approver, Prompts, Runner};
use hamlet_core::trace::{Action, ObservationStatus, TraceEvent};
use hamlet_core::{Llm, MemoryStream};
use hamlet_tools::{Recall, Registry, Remember, Tool, ToolContext, Workspace};

use crate::cmd::clip;
use crate::opts::{load_embedder, LoraOpts, ModelOpts, DEFAULT_EMBED_MODEL};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the agent should achieve.
    #[arg(long, required_unless_present = "resume")]
    pub goal: Option<String>,
    /// An agent file (default: a general assistant with the file tools and a calculator).
    #[arg(long, value_name = "FILE")]
    pub agent: Option<PathBuf>,
    /// The folder the agent's file tools work in (default: RUN_DIR/workspace).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Where the trace goes (default: $HAMLET_HOME/runs/<time>-<agent>).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Continue an interrupted run.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["goal", "agent", "workspace", "run_dir"])]
    pub resume: Option<PathBuf>,
    /// With --resume: accept a run folder whose agent.toml allows more than the agent file it
    /// was started from (by default that is refused: a run folder may have been tampered with).
    #[arg(long, requires = "resume")]
    pub trust_run_folder: bool,
    /// Override the agent's step budget.
    #[arg(long)]
    pub max_steps: Option<u32>,
    /// Run actions without asking: `--yes` for all, `--yes N` for the next N.
    #[arg(long, short = 'y', num_args = 0..=1, default_missing_value = "all", value_name = "N")]
    pub yes: Option<String>,
    /// Long-term memory store for remember/recall: a directory, or a PostgreSQL database
    /// (postgres://…, see `hamlet memory --help`); default: $HAMLET_HOME/memory.
    #[arg(long, value_name = "DIR|URL", env = "HAMLET_MEMORY_DB", value_parser = parse_db)]
    pub memory: Option<hamlet_memory::Db>,
    /// Embedding model for the memory store.
    #[arg(long, default_value = DEFAULT_EMBED_MODEL)]
    pub embed_model: String,
    /// A directory whose agent/*.j2 files replace the built-in prompt templates.
    #[arg(long, value_name = "DIR", env = "HAMLET_PROMPTS")]
    pub prompts: Option<PathBuf>,
    #[command(flatten)]
    pub lora: LoraOpts,
    /// Print only the final answer.
    #[arg(long, short)]
    pub quiet: bool,
    /// Watch the run in the terminal UI and approve actions there.
    #[arg(long, conflicts_with_all = ["quiet", "web"])]
    pub tui: bool,
    /// With --web: watch the run in a web browser and approve actions there.
    #[command(flatten)]
    pub web: crate::cmd::web::WebArgs,
    #[command(flatten)]
    pub model: ModelOpts,
}

/// Actions approved in advance: `--yes` all of them (`None`), `--yes N` the next N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approved(pub Option<u32>);

impl Approved {
    /// Parses `--yes`: absent, every action is asked about.
    pub fn parse(yes: &Option<String>) -> Result<Self> {
        match yes.as_deref() {
            None => Ok(Approved(Some(0))),
            Some("all") => Ok(Approved(None)),
            Some(n) => Ok(Approved(Some(n.parse().with_context(|| {
                format!("--yes takes a number of actions, not {n:?}")
            })?))),
        }
    }

    /// Uses up one advance approval: whether the next action runs without asking.
    pub fn take(&mut self) -> bool {
        match &mut self.0 {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }
}

/// Approval at the terminal, AutoGPT-style: y, n [feedback], y N, a(ll), q(uit).
struct TerminalApprover {
    approved: Approved,
}

impl Approver for TerminalApprover {
    fn approve(&mut self, step: u32, action: &Action) -> Approval {
        if self.approved.take() {
            return Approval::Run;
        }
        let stdin = std::io::stdin();
        loop {
            eprint!("step {step}: run {} {}? [y]es, [n]o (+ feedback), y N (this and N-1 more), [a]ll, [q]uit: ", action.tool, action.args);
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
                return Approval::Quit;
            }
            let line = line.trim();
            let (word, rest) = line
                .split_once(' ')
                .map(|(w, r)| (w, r.trim()))
                .unwrap_or((line, ""));
            match word.to_lowercase().as_str() {
                "y" | "yes" | "" => {
                    if let Ok(n) = rest.trim_start_matches('-').parse::<u32>() {
                        self.approved = Approved(Some(n.saturating_sub(1)));
                    }
                    return Approval::Run;
                }
                "a" | "all" => {
                    self.approved = Approved(None);
                    return Approval::Run;
                }
                "n" | "no" => {
                    return Approval::Decline {
                        feedback: rest.to_string(),
                    }
                }
                "q" | "quit" => return Approval::Quit,
                _ => eprintln!("answer y, n, y N, a or q"),
            }
        }
    }
}

fn approver(yes: &Option<String>) -> Result<TerminalApprover> {
    let approved = Approved::parse(yes)?;
    if yes.is_none() && !std::io::stdin().is_terminal() {
        bail!("approving each action needs a terminal; pass --yes to run without asking (or --yes N for the next N actions)");
    }
    Ok(TerminalApprover { approved })
}

/// `YYYYMMDD-HHMMSS` in UTC, for run folder names.
pub fn timestamp() -> String {
    // "2026-11-29T05:42:56Z" -> "20261129-054256"
    hamlet_models::now_rfc3339()
        .chars()
        .filter_map(|c| match c {
            'T' => Some('-'),
            c if c.is_ascii_digit() => Some(c),
            _ => None,
        })
        .collect()
}

/// Prints an event readably.
pub fn print_event(e: &TraceEvent) {
    print!("{}", event_text(e));
}

/// An event as `print_event` shows it; a sub-agent's events are indented under a bar.
fn event_text(e: &TraceEvent) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let o = &mut out;
    match e {
        TraceEvent::Start(s) => {
            _ = writeln!(
                o,
                "goal: {}\nagent: {} · model: {} · workspace: {}",
                s.goal, s.agent, s.model, s.workspace
            )
        }
        TraceEvent::Step(s) => {
            _ = writeln!(o, "\n── step {} ──", s.step);
            match &s.action {
                Some(a) => {
                    for (label, text) in a.thoughts.labelled() {
                        _ = writeln!(o, "{:>11}: {}", label.to_lowercase(), clip(text, 200));
                    }
                    _ = writeln!(
                        o,
                        "{:>11}: {} {}",
                        "action",
                        a.tool,
                        clip(&a.args.to_string(), 200)
                    );
                }
                None => _ = writeln!(o, "{:>11}: {}", "reply", clip(&s.raw, 200)),
            }
            let status = match s.observation.status {
                ObservationStatus::Ok => "ok",
                ObservationStatus::ToolError => "error",
                ObservationStatus::Refused => "refused",
                ObservationStatus::Declined => "declined",
                ObservationStatus::Invalid => "invalid",
            };
            _ = writeln!(
                o,
                "{:>11}: ({status}) {}",
                "observation",
                clip(&s.observation.text, 300)
            );
        }
        TraceEvent::Reflect(r) => {
            _ = writeln!(
                o,
                "\n── reflection ({}) ──\n{:>11}: {}",
                r.reason,
                "plan",
                clip(&r.plan, 300)
            )
        }
        TraceEvent::Delegate(d) => {
            let c = &d.child;
            _ = writeln!(o, "\n── step {}: sub-agent {} ──\n{:>11}: {}\n{:>11}: {} steps · {} tokens · {} s · workspace {}/", d.step, c.agent, "goal", clip(&c.goal, 300), "budget", c.max_steps, c.max_tokens, c.max_wall_secs, c.workspace);
        }
        TraceEvent::Child(c) => {
            for line in event_text(&c.event).lines() {
                _ = writeln!(o, "    │ {line}");
            }
        }
        TraceEvent::End(end) => {
            let u = end.usage;
            let children = match u.sub_steps {
                0 => String::new(),
                n => format!(" (+{n} by sub-agents)"),
            };
            _ = writeln!(o,
                "\n{}\nsteps: {}{children} · tokens: {} ({} prompt, {} cached, {} generated) · model {:.1} s · tools {:.1} s",
                end.message, end.step, u.total_tokens(), u.tokens.prompt_tokens, u.tokens.cached_tokens, u.tokens.completion_tokens, u.model_ms / 1e3, u.tool_ms / 1e3
            );
        }
    }
    out
}

fn parse_db(s: &str) -> std::result::Result<hamlet_memory::Db, String> {
    hamlet_memory::Db::parse(s).map_err(|e| e.to_string())
}

fn open_memory(
    db: &hamlet_memory::Db,
    embed_model: &str,
    threads: usize,
    llm: Arc<dyn Llm>,
) -> Result<Arc<dyn MemoryStream>> {
    let embedder = load_embedder(embed_model, threads)?;
    let store = hamlet_memory::Store::open(db, Arc::new(embedder), Default::default())
        .with_context(|| format!("opening the memory store {db}"))?;
    // Facts the agent remembers without an importance are rated by the run's model.
    let rater = hamlet_memory::ImportanceRater::new(llm);
    Ok(Arc::new(hamlet_memory::Rated::new(store, rater)))
}

pub fn run(a: Args) -> Result<()> {
    let registry = Registry::builtin();
    let names = registry.names();
    let approver = if a.web.web || a.tui {
        None
    } else {
        Some(approver(&a.yes)?)
    };
    let prompts = Prompts::load(a.prompts.as_deref())?;
    let (mut spec, run_dir, workspace, resume) = match &a.resume {
        Some(dir) => {
            let (spec, start) = load_run(dir)?;
            if !a.trust_run_folder {
                // The run folder is data: an edit to its agent.toml must not widen what the
                // agent may do beyond the agent file the run was started from.
                let (original, from) = match &start.agent_file {
                    Some(f) => (
                        AgentSpec::load(Path::new(f), &names).with_context(|| {
                            "checking the run against its agent file (resume with --trust-run-folder if it moved)"
                        })?,
                        f.clone(),
                    ),
                    None => (AgentSpec::default_agent(), "the built-in agent".to_string()),
                };
                let wider = spec.wider_than(&original);
                if !wider.is_empty() {
                    bail!(
                        "{}: allows more than {from} does ({}); if you made that change, resume with --trust-run-folder",
                        dir.join(hamlet_agent::runner::SPEC_FILE).display(),
                        wider.join("; ")
                    );
                }
            }
            (spec, dir.clone(), PathBuf::from(start.workspace), true)
        }
        None => {
            let spec = match &a.agent {
                Some(path) => AgentSpec::load(path, &names)?,
                None => AgentSpec::default_agent(),
            };
            let run_dir = a.run_dir.clone().unwrap_or_else(|| {
                hamlet_models::default_home().join("runs").join(format!(
                    "{}-{}",
                    timestamp(),
                    spec.name
                ))
            });
            let ws = a
                .workspace
                .clone()
                .unwrap_or_else(|| run_dir.join("workspace"));
            (spec, run_dir, ws, false)
        }
    };
    if let Some(n) = a.max_steps {
        spec.budgets.max_steps = n;
        spec.check(&names).map_err(|e| e.at("--max-steps"))?;
    }
    let mut model = a.model.clone();
    if let (Some(m), Some(_)) = (&spec.model, a.agent.as_ref()) {
        if std::env::var_os("HAMLET_MODEL").is_none() && model.model == crate::opts::DEFAULT_MODEL {
            model.model = m.clone();
        }
    }
    model.context = model.context.max(spec.context);
    let llm: Arc<dyn Llm> = Arc::from(model.backend(1, &a.lora)?);
    let info = llm.info();
    if (info.context_length as u32) < spec.context {
        spec.context = info.context_length as u32;
        let model = format!("the {}-token context of {}", spec.context, info.name);
        spec.check(&names).map_err(|e| e.at(model))?;
    }

    let workspace = Workspace::new(&workspace)
        .with_context(|| format!("opening workspace {}", workspace.display()))?;
    let mut ctx = ToolContext::new(workspace, spec.policy.clone());
    if spec
        .tools
        .iter()
        .any(|t| t == Remember::NAME || t == Recall::NAME)
    {
        // --memory, else the agent file's memory-db, else the default store.
        let db = match (&a.memory, &spec.memory_db) {
            (Some(db), _) => db.clone(),
            (None, Some(db)) => hamlet_memory::Db::parse(db).with_context(|| {
                format!(
                    "memory-db in the agent file {}",
                    spec.source.as_deref().unwrap_or("(built in)")
                )
            })?,
            (None, None) => hamlet_memory::Db::Dir(hamlet_models::default_home().join("memory")),
        };
        ctx = ctx.with_memory(
            open_memory(&db, &a.embed_model, model.threads(), llm.clone())?,
            spec.name.clone(),
        );
    }

    let interrupt = Arc::new(AtomicBool::new(false));
    // Ctrl-C after the run: the web viewer stops serving.
    let ended = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let done = ended.clone();
    // The page's approvals (`--web`): Ctrl-C answers a waiting one with "stop".
    let approvals = hamlet_web::Approvals::new();
    let asking = approvals.clone();
    let _ = ctrlc::set_handler(move || {
        if done.load(Ordering::SeqCst) {
            std::process::exit(0);
        }
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopped");
            std::process::exit(130);
        }
        asking.close();
        eprintln!("\nstopping after this step (Ctrl-C again to quit at once)");
    });

    let quiet = a.quiet;
    let tui = match a.tui {
        true => Some(crate::cmd::watch::LiveAgent::start(
            &run_dir,
            spec.budgets.max_steps,
            spec.budgets.max_tokens,
            &a.yes,
            interrupt.clone(),
        )?),
        false => None,
    };
    let web = if a.web.web {
        let budget = hamlet_core::trace::Budget {
            max_steps: Some(spec.budgets.max_steps),
            max_tokens: Some(spec.budgets.max_tokens),
        };
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        let kind = hamlet_web::Kind::Agent {
            budget,
            approvals: Some(approvals.clone()),
        };
        Some(crate::cmd::web::start(&run_dir, kind, &a.web)?)
    } else {
        None
    };
    let runner = Runner::new(spec, &*llm, &prompts, ctx)
        .with_registry(registry)
        .with_interrupt(interrupt);
    let print = move |e: &TraceEvent| {
        if !quiet {
            print_event(e);
        }
    };
    let mut runner = match (&tui, approver) {
        (Some(t), _) => runner
            .with_approver(t.approver())
            .with_observer(t.observer()),
        (None, Some(approver)) => runner.with_approver(approver).with_observer(print),
        (None, None) => runner
            .with_approver(crate::cmd::web::WebApprover {
                approvals: approvals.clone(),
                approved: Approved::parse(&a.yes)?,
            })
            .with_observer(print),
    };
    let outcome = if resume {
        runner.resume(&run_dir)
    } else {
        runner.start(&run_dir, a.goal.as_deref().unwrap_or_default())
    };
    drop(runner);
    ended.store(true, Ordering::SeqCst);
    let outcome = outcome.map_err(anyhow::Error::from);
    if let Some(t) = tui {
        t.finish(&match &outcome {
            Ok(o) => o.end.message.clone(),
            Err(e) => format!("run failed: {e:#}"),
        })?;
    }
    let outcome = outcome?;
    match &outcome.end.answer {
        Some(answer) if quiet => println!("{answer}"),
        Some(answer) => println!("\nanswer: {answer}"),
        None if quiet => eprintln!("{}", outcome.end.message),
        None => {}
    }
    if !quiet {
        println!("run: {}", outcome.run_dir.display());
    }
    if outcome.end.reason.resumable() {
        eprintln!(
            "continue with: hamlet run --resume {}",
            outcome.run_dir.display()
        );
    }
    if let Some(server) = web {
        eprintln!("the viewer keeps serving {} until Ctrl-C", server.url());
        server.wait();
    }
    Ok(())
}
