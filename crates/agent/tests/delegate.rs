//! Sub-agents against a scripted model: the child's folder and carved budget, the traces linked
//! both ways, the runtime's depth and fan-out limits, resume of a run stopped inside its child,
//! and the agent-file rules of `[delegate]`.

use std::path::{Path, PathBuf};

use hamlet_agent::trace as tracefile;
use hamlet_agent::{AgentSpec, Prompts, RunOutcome, Runner};
use hamlet_core::testing::ScriptedLlm;
use hamlet_core::trace::{
    ObservationStatus, Row, RunView, StepRecord, StopReason, TraceEvent, TRACE_FILE,
};
use hamlet_tools::{Registry, ToolContext, Workspace};
use serde_json::{json, Value};

fn act(tool: &str, args: Value) -> String {
    json!({"thoughts": {"reasoning": "r", "plan": "p", "criticism": "c"}, "tool": tool, "args": args}).to_string()
}

fn reflection() -> String {
    json!({"progress": "some", "plan": "go on"}).to_string()
}

fn delegate(goal: &str) -> String {
    act("delegate", json!({"agent": "writer", "goal": goal}))
}

/// A lead agent that may delegate to a writer, both files in a temp folder.
struct Setup {
    dir: tempfile::TempDir,
    prompts: Prompts,
}

impl Setup {
    /// `lead` and `writer` are the bodies of the two agent files after their names.
    fn new(lead: &str, writer: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ws")).unwrap();
        let file = |name: &str, body: &str| {
            let text = format!("name = \"{name}\"\nrole = \"the {name}\"\n{body}");
            std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
        };
        file("lead", lead);
        file("writer", writer);
        Setup {
            dir,
            prompts: Prompts::builtin(),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn spec(&self) -> AgentSpec {
        AgentSpec::load(&self.path("lead.toml"), &Registry::builtin_names()).unwrap()
    }
    fn runner<'a>(&'a self, llm: &'a ScriptedLlm, seen: &'a mut Vec<TraceEvent>) -> Runner<'a> {
        let ctx = ToolContext::new(Workspace::new(self.path("ws")).unwrap(), Default::default());
        Runner::new(self.spec(), llm, &self.prompts, ctx).with_observer(|e| seen.push(e.clone()))
    }
    fn start(&self, replies: Vec<String>, seen: &mut Vec<TraceEvent>) -> RunOutcome {
        let llm = ScriptedLlm::new(replies);
        let goal = "Have the writer draft a note, then report it.";
        let out = self.runner(&llm, seen).start(&self.path("run"), goal);
        out.unwrap()
    }
    fn events(&self, run: &str) -> Vec<TraceEvent> {
        tracefile::read(&self.path(run)).unwrap().events
    }
}

/// The lead's agent file after its name: `budgets` and `delegate` lines added to its tables.
fn lead(budgets: &str, delegate: &str) -> String {
    format!("tools = [\"read_file\", \"delegate\", \"finish\"]\n[budgets]\n{budgets}reflect-every = 0\n[delegate]\nagents = [\"writer.toml\"]\n{delegate}")
}

const WRITER: &str =
    "tools = [\"write_file\", \"finish\"]\n[budgets]\nmax-steps = 10\nreflect-every = 0\n";

fn steps(events: &[TraceEvent]) -> Vec<&StepRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Step(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn end(events: &[TraceEvent]) -> &hamlet_core::trace::RunEnd {
    match events.last() {
        Some(TraceEvent::End(end)) => end,
        other => panic!("the trace does not end with an end event: {other:?}"),
    }
}

#[test]
fn a_child_works_in_its_folder_on_a_carved_budget_with_traces_linked_both_ways() {
    let s = Setup::new(&lead("max-steps = 6\nmax-tokens = 1000\n", ""), WRITER);
    let mut seen = Vec::new();
    let out = s.start(
        vec![
            delegate("Write notes.txt saying hi."),
            act("write_file", json!({"path": "notes.txt", "content": "hi"})),
            act("finish", json!({"answer": "wrote notes.txt"})),
            act("read_file", json!({"path": "writer-1/notes.txt"})),
            act("finish", json!({"answer": "the note says hi"})),
        ],
        &mut seen,
    );
    assert_eq!(out.end.reason, StopReason::Finished, "{:?}", out.end);
    // The child wrote in its own subfolder of the lead's workspace.
    assert_eq!(
        std::fs::read_to_string(s.path("ws/writer-1/notes.txt")).unwrap(),
        "hi"
    );
    assert!(!s.path("ws/notes.txt").exists());

    let parent = s.events("run");
    let TraceEvent::Delegate(d) = &parent[1] else {
        panic!(
            "the lead's trace has no delegate event after its start: {:?}",
            parent[1]
        )
    };
    assert_eq!((d.step, d.child.run_dir.as_str()), (1, "children/1-writer"));
    assert_eq!(d.child.workspace, "writer-1");
    // The lead's 6 steps less this one; its 1000 tokens rather than the writer's own 300000.
    assert_eq!((d.child.max_steps, d.child.max_tokens), (5, 1000));
    assert_eq!(d.child.depth_left, 0);
    let child = s.events("run/children/1-writer");
    let TraceEvent::Start(start) = &child[0] else {
        panic!()
    };
    let link = start
        .parent
        .as_ref()
        .expect("the child's start links to its parent");
    assert_eq!(
        (link.run_dir.as_str(), link.step, link.run_id.as_str()),
        ("../..", 1, "run")
    );
    assert_eq!(start.agent, "writer");
    assert!(start.workspace.ends_with("writer-1"), "{}", start.workspace);
    assert_eq!(end(&child).reason, StopReason::Finished);
    let agent_file = std::fs::read_to_string(s.path("run/children/1-writer/agent.toml")).unwrap();
    assert!(agent_file.contains("max-steps = 5"), "{agent_file}");

    // The delegating step observed the child's answer and was charged its two steps.
    let step1 = steps(&parent)[0];
    assert_eq!(step1.observation.status, ObservationStatus::Ok);
    assert!(
        step1.observation.text.contains("wrote notes.txt"),
        "{}",
        step1.observation.text
    );
    assert!(
        step1.observation.text.contains("writer-1/"),
        "{}",
        step1.observation.text
    );
    assert_eq!(step1.usage.sub_steps, 2);
    let child_tokens = end(&child).usage.total_tokens();
    assert!(child_tokens > 0 && step1.usage.total_tokens() > child_tokens);
    assert_eq!(end(&parent).usage.sub_steps, 2);

    // The observer saw the child's events nested under step 1, and the view folds them there.
    let nested: Vec<&TraceEvent> = seen
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Child(c) if c.step == 1 => Some(&*c.event),
            _ => None,
        })
        .collect();
    assert_eq!(nested.len(), child.len(), "{nested:?}");
    let mut view = RunView::default();
    seen.into_iter().for_each(|e| view.push(e));
    let depths: Vec<usize> = view.rows().iter().map(|(d, _)| *d).collect();
    assert_eq!(
        depths,
        [0, 1, 1, 1, 0, 0, 0],
        "child row, its 2 steps and end, then the lead's 3 steps"
    );
    assert!(matches!(view.rows()[3].1, Row::End(e) if e.reason == StopReason::Finished));
    // A viewer reading the folders (`hamlet watch`) rebuilds the same view.
    let mut nesting = hamlet_core::trace::Nesting::new(&s.path("run"));
    let mut read = RunView::default();
    parent
        .into_iter()
        .flat_map(|e| nesting.expand(e))
        .for_each(|e| read.push(e));
    assert_eq!(read.rows().len(), view.rows().len());
}

#[test]
fn the_runtime_enforces_depth_fan_out_and_the_parents_budget() {
    // The writer may itself delegate to a writer, three levels deep by its own file; the lead
    // allows one level and one child, and has 6 steps in all, its children's included.
    let writer = "tools = [\"write_file\", \"delegate\", \"finish\"]\n[budgets]\nmax-steps = 10\nreflect-every = 0\n[delegate]\nagents = [\"writer.toml\"]\nmax-depth = 3\n";
    let s = Setup::new(&lead("max-steps = 6\n", "max-children = 1\n"), writer);
    let mut seen = Vec::new();
    let out = s.start(
        vec![
            delegate("Write a.txt."),
            // The child tries to delegate further: refused; it reflects, writes and finishes.
            delegate("Write b.txt."),
            reflection(),
            act("write_file", json!({"path": "a.txt", "content": "a"})),
            act("finish", json!({"answer": "wrote a.txt"})),
            // Back in the lead: a second child is refused.
            delegate("Write c.txt."),
            reflection(),
            act("read_file", json!({"path": "writer-1/a.txt"})),
            act("finish", json!({"answer": "never reached"})),
        ],
        &mut seen,
    );
    let child = s.events("run/children/1-writer");
    let child_steps = steps(&child);
    assert_eq!(
        child_steps[0].observation.status,
        ObservationStatus::Refused
    );
    let text = &child_steps[0].observation.text;
    assert!(text.contains("delegate.max-depth"), "{text}");
    assert_eq!(
        end(&child).reason,
        StopReason::Finished,
        "{:?}",
        end(&child)
    );
    assert!(!s.path("run/children/1-writer/children").exists());

    let parent = s.events("run");
    let parent_steps = steps(&parent);
    assert_eq!(parent_steps[0].observation.status, ObservationStatus::Ok);
    assert_eq!(
        parent_steps[1].observation.status,
        ObservationStatus::Refused
    );
    let text = &parent_steps[1].observation.text;
    assert!(text.contains("delegate.max-children"), "{text}");
    assert_eq!(parent_steps[2].observation.status, ObservationStatus::Ok);
    // 3 steps of its own and the child's 3 are all of the lead's 6: no step 4.
    assert_eq!(out.end.reason, StopReason::MaxSteps, "{:?}", out.end);
    assert_eq!((out.end.step, out.end.usage.sub_steps), (3, 3));
}

#[test]
fn a_run_that_died_inside_its_child_resumes_the_child_then_itself() {
    let s = Setup::new(&lead("", ""), WRITER);
    let mut seen = Vec::new();
    // The model gives out after the child's first step: both runs stop, resumable.
    let out = s.start(
        vec![
            delegate("Write notes.txt."),
            act(
                "write_file",
                json!({"path": "notes.txt", "content": "draft"}),
            ),
        ],
        &mut seen,
    );
    assert_eq!(out.end.reason, StopReason::BackendError, "{:?}", out.end);
    // As if the process had died there: no end event in either trace.
    for run in ["run", "run/children/1-writer"] {
        let path = s.path(run).join(TRACE_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("\"type\":\"end\""))
            .collect();
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    }
    assert!(matches!(
        s.events("run").last(),
        Some(TraceEvent::Delegate(_))
    ));

    let llm = ScriptedLlm::new([
        act("finish", json!({"answer": "notes.txt holds the draft"})),
        act("finish", json!({"answer": "the writer drafted notes.txt"})),
    ]);
    let mut seen = Vec::new();
    let out = s.runner(&llm, &mut seen).resume(&s.path("run")).unwrap();
    assert_eq!(out.end.reason, StopReason::Finished, "{:?}", out.end);
    assert_eq!(
        out.end.answer.as_deref(),
        Some("the writer drafted notes.txt")
    );

    // The child went on in its own trace from its step 1 (the same folder, one start).
    let child = s.events("run/children/1-writer");
    let numbers: Vec<u32> = steps(&child).iter().map(|s| s.step).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(
        child
            .iter()
            .filter(|e| matches!(e, TraceEvent::Start(_)))
            .count(),
        1
    );
    let resumed = &steps(&child)[1];
    assert!(
        resumed.prompt.iter().any(|m| m.content.contains("draft")),
        "the resumed child's prompt holds its first step"
    );
    // The lead's step 1 is the one it started before dying, now with the child's answer.
    let parent = s.events("run");
    let parent_steps = steps(&parent);
    assert_eq!(parent_steps.len(), 2);
    assert_eq!(parent_steps[0].step, 1);
    assert!(parent_steps[0]
        .observation
        .text
        .contains("notes.txt holds the draft"));
    assert_eq!(parent_steps[0].usage.sub_steps, 2);
    assert_eq!(
        parent
            .iter()
            .filter(|e| matches!(e, TraceEvent::Delegate(_)))
            .count(),
        1
    );
    // Only the lead's last step asked the model for the lead: the child's step came first.
    assert_eq!(llm.requests().len(), 2);
}

#[test]
fn delegate_tables_are_checked_with_their_lines() {
    let cases: &[(&str, &[&str])] = &[
        (
            "tools = [\"delegate\"]\n",
            &["lead.toml", "tools", "[delegate]"],
        ),
        (
            "tools = []\n[delegate]\nagents = [\"writer.toml\"]\n",
            &["lead.toml:4", "delegate", "not in `tools`"],
        ),
        (
            "tools = [\"delegate\"]\n[delegate]\nagents = [\"nobody.toml\"]\n",
            &["lead.toml:4", "delegate.agents[0]", "no agent file at"],
        ),
        (
            "tools = [\"delegate\"]\n[delegate]\nagents = [\"writer.toml\"]\nmax-depth = 9\n",
            &["lead.toml:4", "delegate.max-depth", "use 1"],
        ),
        (
            "tools = [\"delegate\"]\n[delegate]\nagents = []\n",
            &["delegate.agents", "is empty"],
        ),
    ];
    for (body, wants) in cases {
        let s = Setup::new(body, WRITER);
        let err = AgentSpec::load(&s.path("lead.toml"), &Registry::builtin_names())
            .unwrap_err()
            .to_string();
        for want in *wants {
            assert!(err.contains(want), "{body:?}: {err:?} lacks {want:?}");
        }
    }
    // A run folder's copy names the same files, so it reads back to the same spec.
    let s = Setup::new(
        "tools = [\"delegate\"]\n[delegate]\nagents = [\"writer.toml\"]\n",
        WRITER,
    );
    let spec = s.spec();
    let again = AgentSpec::parse(
        &spec.to_toml().unwrap(),
        "copy.toml",
        &Registry::builtin_names(),
    )
    .unwrap();
    assert_eq!(again.delegate, spec.delegate);
    assert_eq!(again.delegate.unwrap().agents[0], s.path("writer.toml"));
    assert!(Path::new(&spec.delegate.unwrap().agents[0]).is_absolute());
}
