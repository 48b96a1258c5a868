//! The loop's rules, as pure functions of the steps so far.
//!
//! Nothing here runs a tool or calls the model: each rule reads the trace (and, for a write, the
//! file it would replace) and says what the runner should do. The runner applies them in the same
//! order on a fresh run and on a resumed one, so both make the same decisions.

use hamlet_core::trace::{Action, ObservationStatus, StepRecord, StopReason, Usage};
use hamlet_tools::{AppendFile, Effect, Tool, WriteFile};
use serde_json::Value;

use crate::action::call_key;
use crate::deliverables;
use crate::AgentSpec;

/// What the trace says should happen next, before the next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The last step called the finishing tool, and it succeeded: its observation is the answer.
    Finish(String),
    Act,
    Reflect(String),
    Stop(StopReason, String),
}

/// Whether `steps[i]` repeats an earlier call with nothing changed since: the step number of the
/// earlier call, if so (see [`repeat_of`]).
pub fn is_repeat(
    steps: &[&StepRecord],
    i: usize,
    effect_of: &dyn Fn(&str) -> Effect,
) -> Option<u32> {
    repeat_of(&steps[..i], steps[i].action.as_ref()?, effect_of)
}

/// Whether `action` repeats a call of `earlier` with nothing changed since: that call's step
/// number, if so. Every call since the last successful mutating one is compared, so cycles
/// (read a, read b, read a, ...) are caught as well as plain repeats. The earlier call counts when
/// it ran, whether it succeeded or failed (the same call fails the same way).
pub fn repeat_of(
    earlier: &[&StepRecord],
    action: &Action,
    effect_of: &dyn Fn(&str) -> Effect,
) -> Option<u32> {
    let key = call_key(action);
    for s in earlier.iter().rev() {
        let Some(a) = &s.action else { continue };
        let ran = matches!(
            s.observation.status,
            ObservationStatus::Ok | ObservationStatus::ToolError
        );
        if call_key(a) == key && ran {
            return Some(s.step);
        }
        if s.observation.is_ok() && effect_of(&a.tool) == Effect::Mutating {
            return None;
        }
    }
    None
}

/// Why the runtime will not run `action` at all, before anyone is asked, as the observation
/// the model sees: a tool outside the agent's list (`known`: whether the registry has it), a
/// repeat with nothing changed since, or a `write_file` that would erase an append. `current`
/// is the text of the file such a write would replace, when it can be read.
pub fn refusal(
    spec: &AgentSpec,
    steps: &[&StepRecord],
    action: &Action,
    known: bool,
    effect_of: &dyn Fn(&str) -> Effect,
    current: Option<&str>,
) -> Option<String> {
    if !spec.tools.contains(&action.tool) {
        let what = match known {
            true => "is not one of this agent's tools",
            false => "does not exist",
        };
        let tools = spec.tools.join(", ");
        return Some(format!(
            "The runtime refused {:?}: it {what}. Your tools are: {tools}.",
            action.tool
        ));
    }
    if let Some(earlier) = repeat_of(steps, action, effect_of) {
        let result = steps
            .iter()
            .find(|s| s.step == earlier)
            .map(|s| s.observation.text.as_str())
            .unwrap_or("");
        let result: String = result.chars().take(spec.observation_chars).collect();
        return Some(format!("You already ran exactly this at step {earlier} and nothing has changed since, so the runtime did not run it again. Its result was:\n{result}\nUse that result: take the next step of your goal with a different action, or call finish if the goal is met."));
    }
    let appended = erases_appended(steps, action, current)?;
    let path = str_arg(action, "path").unwrap_or("");
    Some(format!("The runtime refused this write_file: it would replace {path} and erase the text you appended to it at step {appended}. write_file replaces the whole file; your addition is already in it. To add more, use append_file; if the goal is met, call finish."))
}

/// Why a finish is refused while files the goal names are `missing` (see [`deliverables`]): the
/// first time only, so a second finish ends the run whatever the goal's words.
pub fn unwritten_files(steps: &[&StepRecord], missing: &[String]) -> Option<String> {
    let refused_before = steps.iter().any(|s| refused_unwritten(s));
    (!missing.is_empty() && !refused_before).then(|| deliverables::refusal(missing))
}

/// Whether this step was a finish refused by [`unwritten_files`].
fn refused_unwritten(s: &StepRecord) -> bool {
    s.observation.status == ObservationStatus::Refused
        && s.observation.text.starts_with(deliverables::REFUSAL_START)
}

/// Whether a call of a tool with this effect waits for approval: all do but the finishing one,
/// which only hands back the answer.
pub fn needs_approval(effect: Effect) -> bool {
    effect != Effect::Finishing
}

/// The longest cycle of calls [`cycle`] looks for.
pub const MAX_CYCLE: usize = 4;

/// The period of the cycle the run has fallen into, if any: the last `p` steps (`p` ≤
/// [`MAX_CYCLE`]) made the same successful calls as the `p` before them and saw the same results (a single
/// call must come round three times: writing a file again once, unchanged, is common and
/// harmless). The repeat rule does not catch such a cycle when it writes (a write is a change),
/// but a write of what was already there changes nothing the agent sees, so the next round would
/// go the same way.
pub fn cycle(steps: &[&StepRecord]) -> Option<usize> {
    let n = steps.len();
    (1..=MAX_CYCLE).find(|&p| {
        let rounds = if p == 1 { 3 } else { 2 };
        n >= rounds * p
            && (0..(rounds - 1) * p).all(|k| {
                let (now, then) = (steps[n - 1 - k], steps[n - 1 - k - p]);
                match (&now.action, &then.action) {
                    // Calls that ran and succeeded: failures and refusals have their own rules.
                    (Some(a), Some(b)) => {
                        call_key(a) == call_key(b)
                            && now.observation.is_ok()
                            && then.observation.is_ok()
                            && now.observation.text == then.observation.text
                    }
                    _ => false,
                }
            })
    })
}

/// Whether the last step was a repeat that the runtime refused.
fn refused_repeat(steps: &[&StepRecord], i: usize, effect_of: &dyn Fn(&str) -> Effect) -> bool {
    steps[i].observation.status == ObservationStatus::Refused
        && is_repeat(&steps[..=i], i, effect_of).is_some()
}

/// The next move after `steps` (the last event being a reflection when `after_reflection`).
pub fn next_move(
    spec: &AgentSpec,
    steps: &[&StepRecord],
    after_reflection: bool,
    effect_of: &dyn Fn(&str) -> Effect,
) -> Next {
    let Some(last) = steps.last() else {
        return Next::Act;
    };
    let finishing = |a: &Action| effect_of(&a.tool) == Effect::Finishing;
    if last.observation.is_ok() && last.action.as_ref().is_some_and(finishing) {
        return Next::Finish(last.observation.text.clone());
    }
    let failures = steps
        .iter()
        .rev()
        .take_while(|s| !s.observation.is_ok())
        .count() as u32;
    let repeats = (0..steps.len())
        .rev()
        .take_while(|&i| refused_repeat(steps, i, effect_of))
        .count();
    if repeats >= 2 {
        return Next::Stop(
            StopReason::Loop,
            format!(
                "the agent kept repeating the same action ({}) after reflecting on it",
                last.action.as_ref().map(|a| a.tool.as_str()).unwrap_or("?")
            ),
        );
    }
    if let Some(period) = cycle(steps) {
        let calls: Vec<&str> = steps[steps.len() - period..]
            .iter()
            .filter_map(|s| s.action.as_ref().map(|a| a.tool.as_str()))
            .collect();
        return Next::Stop(
            StopReason::Loop,
            format!(
                "the agent went round the same {period} action(s) ({}) twice and saw the same results",
                calls.join(", ")
            ),
        );
    }
    if failures >= spec.budgets.max_failures {
        let why: String = last.observation.text.chars().take(200).collect();
        return Next::Stop(
            StopReason::Stuck,
            format!("{failures} failed or invalid actions in a row; the last: {why}"),
        );
    }
    // After a finish refused for an unwritten file the refusal is the guidance, and the next
    // step acts on it with finish out of the grammar. A reflection there was measured to do
    // harm: Qwen2.5-Coder-1.5B "remembered" writing the file and finished again at once.
    if after_reflection || refused_unwritten(last) {
        return Next::Act;
    }
    let reason = if repeats == 1 {
        Some("repeated action".to_string())
    } else if failures > 0 && failures + 1 == spec.budgets.max_failures {
        Some("before giving up".to_string())
    } else if failures > 0 {
        Some("after a failed action".to_string())
    } else if spec.budgets.reflect_every > 0 && last.step % spec.budgets.reflect_every == 0 {
        Some(format!("every {} steps", spec.budgets.reflect_every))
    } else {
        None
    };
    reason.map(Next::Reflect).unwrap_or(Next::Act)
}

/// The tool the next step may not call: the one whose repeat the runtime just refused, or the
/// finish just refused because a file the goal names is not written. Taking it out of the grammar
/// makes the model do something else instead of asking again (a second finish, a step later,
/// goes through).
pub fn barred_tool(steps: &[&StepRecord], effect_of: &dyn Fn(&str) -> Effect) -> Option<String> {
    let i = steps.len().checked_sub(1)?;
    let tool = steps[i].action.as_ref()?.tool.clone();
    let repeat = refused_repeat(steps, i, effect_of) && effect_of(&tool) != Effect::Finishing;
    (repeat || refused_unwritten(steps[i])).then_some(tool)
}

/// A budget the run has used up, with the message that says which; `steps` counts its
/// sub-agents' steps too.
pub fn budget_stop(spec: &AgentSpec, steps: u32, usage: &Usage) -> Option<(StopReason, String)> {
    let b = &spec.budgets;
    if steps >= b.max_steps {
        let by_children = match usage.sub_steps {
            0 => String::new(),
            n => format!(", {n} of them by sub-agents"),
        };
        return Some((
            StopReason::MaxSteps,
            format!(
                "used all {} steps{by_children} without finishing (raise budgets.max-steps or --max-steps)",
                b.max_steps
            ),
        ));
    }
    if usage.total_tokens() >= b.max_tokens {
        return Some((
            StopReason::MaxTokens,
            format!(
                "used {} tokens, over the budget of {} (budgets.max-tokens)",
                usage.total_tokens(),
                b.max_tokens
            ),
        ));
    }
    let spent = (usage.model_ms + usage.tool_ms) / 1000.0;
    if spent >= b.max_wall_secs as f64 {
        return Some((StopReason::WallTime, format!("spent {spent:.0} s in the model and tools, over the budget of {} s (budgets.max-wall-secs)", b.max_wall_secs)));
    }
    None
}

fn same_path(a: &str, b: &str) -> bool {
    let norm = |p: &str| p.trim().trim_start_matches("./").to_string();
    norm(a) == norm(b)
}

fn str_arg<'a>(action: &'a Action, key: &str) -> Option<&'a str> {
    action.args.get(key).and_then(Value::as_str)
}

/// Whether `action` is a `write_file` that would erase text this run appended to the same file
/// (since the file was last replaced): the step of that append, if so. `current` is the file's
/// text now, when it can be read: the write must keep all of it. Work the agent already committed
/// is not thrown away by a replace it did not mean.
pub fn erases_appended(
    steps: &[&StepRecord],
    action: &Action,
    current: Option<&str>,
) -> Option<u32> {
    if action.tool != WriteFile::NAME {
        return None;
    }
    let path = str_arg(action, "path")?;
    let content = str_arg(action, "content").unwrap_or("");
    for s in steps.iter().rev() {
        let Some(a) = &s.action else { continue };
        if !s.observation.is_ok() || !str_arg(a, "path").is_some_and(|p| same_path(p, path)) {
            continue;
        }
        if a.tool == WriteFile::NAME {
            return None;
        }
        if a.tool == AppendFile::NAME {
            let added = str_arg(a, "content").unwrap_or("").trim();
            let keep = current.map(str::trim).unwrap_or(added);
            if !added.is_empty() && !content.contains(keep) {
                return Some(s.step);
            }
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use hamlet_core::trace::{Observation, Thoughts};
    use serde_json::json;

    fn effect(tool: &str) -> Effect {
        match tool {
            "write_file" | "append_file" => Effect::Mutating,
            "finish" => Effect::Finishing,
            _ => Effect::Read,
        }
    }

    fn step(n: u32, tool: &str, args: Value, status: ObservationStatus) -> StepRecord {
        StepRecord {
            step: n,
            at: 0,
            prompt: Vec::new(),
            raw: String::new(),
            action: Some(Action {
                thoughts: Thoughts::default(),
                tool: tool.into(),
                args,
            }),
            observation: Observation {
                status,
                text: "x".into(),
                truncated_from: None,
            },
            usage: Usage::default(),
        }
    }

    use ObservationStatus::{Ok as Fine, Refused};

    #[test]
    fn a_read_repeated_with_nothing_changed_is_a_repeat_and_a_write_resets_it() {
        let read = || json!({"path": "a.txt"});
        let s1 = step(1, "read_file", read(), Fine);
        let s2 = step(2, "read_file", read(), Fine);
        assert_eq!(is_repeat(&[&s1, &s2], 1, &effect), Some(1));
        let w = step(
            2,
            "write_file",
            json!({"path": "a.txt", "content": "y"}),
            Fine,
        );
        let s3 = step(3, "read_file", read(), Fine);
        assert_eq!(is_repeat(&[&s1, &w, &s3], 2, &effect), None);
        let other = step(2, "read_file", json!({"path": "b.txt"}), Fine);
        assert_eq!(is_repeat(&[&s1, &other], 1, &effect), None);
        // A call that failed fails again: asking for it unchanged is a repeat too.
        let calc = || json!({"expression": "SUM(B)"});
        let f1 = step(1, "calculator", calc(), ObservationStatus::ToolError);
        let f2 = step(2, "calculator", calc(), Fine);
        assert_eq!(is_repeat(&[&f1, &f2], 1, &effect), Some(1));
        // One the user declined was never run.
        let d1 = step(1, "calculator", calc(), ObservationStatus::Declined);
        assert_eq!(is_repeat(&[&d1, &f2], 1, &effect), None);
        // A cycle of four different reads comes back to the first: a repeat.
        let search = |p: &str| json!({"pattern": p});
        let cycle: Vec<StepRecord> = ["region", "price", "quantity", "product", "region"]
            .iter()
            .enumerate()
            .map(|(n, p)| step(n as u32 + 1, "search_files", search(p), Fine))
            .collect();
        let refs: Vec<&StepRecord> = cycle.iter().collect();
        assert_eq!(is_repeat(&refs, 4, &effect), Some(1));
        assert_eq!(is_repeat(&refs, 3, &effect), None);
    }

    #[test]
    fn a_refused_repeat_bars_its_tool_for_the_next_step_then_two_stop_the_run() {
        let spec = AgentSpec::default_agent();
        let read = || json!({"path": "a.txt"});
        let s1 = step(1, "read_file", read(), Fine);
        let s2 = step(2, "read_file", read(), Refused);
        let steps = [&s1, &s2];
        assert_eq!(barred_tool(&steps, &effect).as_deref(), Some("read_file"));
        assert_eq!(
            next_move(&spec, &steps, false, &effect),
            Next::Reflect("repeated action".into())
        );
        assert_eq!(next_move(&spec, &steps, true, &effect), Next::Act);
        let s3 = step(3, "read_file", read(), Refused);
        assert!(matches!(
            next_move(&spec, &[&s1, &s2, &s3], true, &effect),
            Next::Stop(StopReason::Loop, _)
        ));
        // An ordinary refusal (a tool outside the agent's list) bars nothing.
        let shell = step(2, "shell", json!({"command": "ls"}), Refused);
        assert_eq!(barred_tool(&[&s1, &shell], &effect), None);
    }

    #[test]
    fn a_finish_refused_for_an_unwritten_file_bars_finish_once_without_a_reflection() {
        let spec = AgentSpec::default_agent();
        let calc = step(1, "calculator", json!({"expression": "800/3200*100"}), Fine);
        let missing = ["answer.txt".to_string()];
        let text = unwritten_files(&[&calc], &missing).expect("refused");
        let mut refused = step(2, "finish", json!({"answer": "25"}), Refused);
        refused.observation.text = text;
        let steps = [&calc, &refused];
        assert_eq!(next_move(&spec, &steps, false, &effect), Next::Act);
        assert_eq!(barred_tool(&steps, &effect).as_deref(), Some("finish"));
        // Only once: after another action, finish is back, and is no longer refused.
        let read = step(3, "read_file", json!({"path": "budget.txt"}), Fine);
        let steps = [&calc, &refused, &read];
        assert_eq!(barred_tool(&steps, &effect), None);
        assert_eq!(unwritten_files(&steps, &missing), None);
    }

    #[test]
    fn failures_in_a_row_reflect_then_stop() {
        let spec = AgentSpec::default_agent();
        let bad = |n| {
            step(
                n,
                "read_file",
                json!({"path": "x"}),
                ObservationStatus::ToolError,
            )
        };
        let (a, b, c, d) = (bad(1), bad(2), bad(3), bad(4));
        assert_eq!(
            next_move(&spec, &[&a], false, &effect),
            Next::Reflect("after a failed action".into())
        );
        assert_eq!(
            next_move(&spec, &[&a, &b, &c], false, &effect),
            Next::Reflect("before giving up".into())
        );
        assert!(matches!(
            next_move(&spec, &[&a, &b, &c, &d], false, &effect),
            Next::Stop(StopReason::Stuck, _)
        ));
    }

    #[test]
    fn budgets_stop_with_a_reason_naming_the_setting() {
        let spec = AgentSpec::default_agent();
        let (reason, msg) = budget_stop(&spec, spec.budgets.max_steps, &Usage::default()).unwrap();
        assert_eq!(reason, StopReason::MaxSteps);
        assert!(msg.contains("max-steps"), "{msg}");
        let heavy = Usage {
            tokens: hamlet_core::TokenUsage::new(spec.budgets.max_tokens, 0, 0),
            ..Usage::default()
        };
        assert_eq!(
            budget_stop(&spec, 1, &heavy).map(|s| s.0),
            Some(StopReason::MaxTokens)
        );
        assert_eq!(budget_stop(&spec, 1, &Usage::default()), None);
    }

    #[test]
    fn a_write_that_drops_an_append_is_caught_and_one_that_keeps_it_is_not() {
        let append = step(
            1,
            "append_file",
            json!({"path": "log.txt", "content": "done\n"}),
            Fine,
        );
        let erases = |steps: &[&StepRecord], content: &str, path: &str, now: Option<&str>| {
            let write = Action {
                thoughts: Thoughts::default(),
                tool: "write_file".into(),
                args: json!({"path": path, "content": content}),
            };
            erases_appended(steps, &write, now)
        };
        assert_eq!(erases(&[&append], "done", "log.txt", None), None);
        assert_eq!(erases(&[&append], "x", "./log.txt", None), Some(1));
        assert_eq!(erases(&[&append], "x", "other.txt", None), None);
        // With the file's text known, the write must keep all of it, not only the appended part.
        let now = Some("buy milk\ndone\n");
        assert_eq!(erases(&[&append], "buy milk done", "log.txt", now), Some(1));
        assert_eq!(
            erases(&[&append], "buy milk\ndone\nmore", "log.txt", now),
            None
        );
        // After the file was replaced, the earlier append is gone anyway.
        let replaced = step(
            2,
            "write_file",
            json!({"path": "log.txt", "content": "new"}),
            Fine,
        );
        assert_eq!(erases(&[&append, &replaced], "x", "log.txt", None), None);
        // A failed append added nothing.
        let failed = step(
            1,
            "append_file",
            json!({"path": "log.txt", "content": "done"}),
            Refused,
        );
        assert_eq!(erases(&[&failed], "x", "log.txt", None), None);
    }

    #[test]
    fn a_successful_finish_ends_the_run_with_its_answer_and_a_failed_one_does_not() {
        let spec = AgentSpec::default_agent();
        let read = step(1, "read_file", json!({"path": "a.txt"}), Fine);
        let mut done = step(2, "finish", json!({"answer": "42"}), Fine);
        done.observation.text = "42".into();
        assert_eq!(
            next_move(&spec, &[&read, &done], false, &effect),
            Next::Finish("42".into())
        );
        let bad = step(2, "finish", json!({}), ObservationStatus::ToolError);
        assert_eq!(
            next_move(&spec, &[&read, &bad], false, &effect),
            Next::Reflect("after a failed action".into())
        );
        assert!(!needs_approval(Effect::Finishing));
        assert!(needs_approval(Effect::Read) && needs_approval(Effect::Mutating));
    }

    #[test]
    fn refusals_say_why_and_what_to_do_instead() {
        let spec = AgentSpec::default_agent();
        let call = |tool: &str, args: Value| Action {
            thoughts: Thoughts::default(),
            tool: tool.into(),
            args,
        };
        let refuse = |steps: &[&StepRecord], a: &Action, known: bool, now: Option<&str>| {
            refusal(&spec, steps, a, known, &effect, now)
        };
        let shell = call("shell", json!({"command": "ls"}));
        let e = refuse(&[], &shell, true, None).unwrap();
        assert!(
            e.contains("not one of this agent's tools") && e.contains("finish"),
            "{e}"
        );
        let e = refuse(&[], &call("browse", json!({})), false, None).unwrap();
        assert!(e.contains("does not exist"), "{e}");
        let mut read = step(1, "read_file", json!({"path": "a.txt"}), Fine);
        read.observation.text = "alpha".into();
        let again = call("read_file", json!({"path": "a.txt"}));
        assert_eq!(repeat_of(&[&read], &again, &effect), Some(1));
        let e = refuse(&[&read], &again, true, None).unwrap();
        assert!(e.contains("at step 1") && e.contains("alpha"), "{e}");
        let append = step(
            1,
            "append_file",
            json!({"path": "log.txt", "content": "done"}),
            Fine,
        );
        let write = call("write_file", json!({"path": "log.txt", "content": "x"}));
        let e = refuse(&[&append], &write, true, Some("done")).unwrap();
        assert!(e.contains("log.txt") && e.contains("append_file"), "{e}");
        let keep = call("write_file", json!({"path": "log.txt", "content": "done!"}));
        assert_eq!(refuse(&[&append], &keep, true, Some("done")), None);
    }

    #[test]
    fn a_cycle_that_writes_the_same_thing_again_stops_the_run() {
        let write = || json!({"path": "a.txt", "content": "1"});
        let read = || json!({"path": "a.txt"});
        let list = || json!({});
        let mut steps = Vec::new();
        for (i, (tool, args)) in [
            ("write_file", write()),
            ("read_file", read()),
            ("list_dir", list()),
            ("write_file", write()),
            ("read_file", read()),
            ("list_dir", list()),
        ]
        .into_iter()
        .enumerate()
        {
            steps.push(step(i as u32 + 1, tool, args, Fine));
        }
        let all: Vec<&StepRecord> = steps.iter().collect();
        assert_eq!(cycle(&all[..5]), None, "one round and a bit is not a cycle");
        assert_eq!(cycle(&all), Some(3));
        let spec = AgentSpec::default_agent();
        match next_move(&spec, &all, false, &effect) {
            Next::Stop(StopReason::Loop, why) => {
                assert!(
                    why.contains("3 action(s) (write_file, read_file, list_dir)"),
                    "{why}"
                )
            }
            other => panic!("expected a loop stop, got {other:?}"),
        }
        // The same calls with a result that changed are progress, not a cycle.
        let mut changed = steps.clone();
        changed[4].observation.text = "2".into();
        let all: Vec<&StepRecord> = changed.iter().collect();
        assert_eq!(cycle(&all), None);
        // One call must come round three times.
        let same: Vec<StepRecord> = (0..3)
            .map(|i| step(i + 1, "write_file", write(), Fine))
            .collect();
        let same: Vec<&StepRecord> = same.iter().collect();
        assert_eq!(cycle(&same[..2]), None);
        assert_eq!(cycle(&same), Some(1));
        // Four different calls, twice, are found too; five are not looked for.
        // Writes of `period` different files, round and round, `n` steps.
        let rounds = |period: u32, n: u32| -> Vec<StepRecord> {
            let write = |i: u32| json!({"path": format!("{}.txt", i % period)});
            (0..n)
                .map(|i| step(i + 1, "write_file", write(i), Fine))
                .collect()
        };
        let four = rounds(4, 8);
        assert_eq!(cycle(&four.iter().collect::<Vec<_>>()), Some(4));
        let five = rounds(5, 10);
        assert_eq!(cycle(&five.iter().collect::<Vec<_>>()), None);
    }
}
