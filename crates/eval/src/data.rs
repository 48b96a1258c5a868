//! Loading BFCL data files: questions, function docs and possible answers.
//!
//! BFCL stores each category as JSON lines in `BFCL_v4_<category>.json`, and
//! the possible answers (for categories that have them) under
//! `possible_answer/BFCL_v4_<category>.json`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hamlet_core::{Message, Role};
use serde_json::Value;

use crate::error::{Error, Result};

/// A BFCL test category (single-turn, Python only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// `simple_python`: one function, one call.
    SimplePython,
    /// `multiple`: several functions, one call.
    Multiple,
    /// `parallel`: one function, several calls.
    Parallel,
    /// `parallel_multiple`: several functions, several calls.
    ParallelMultiple,
    /// `irrelevance`: no function fits; no call expected.
    Irrelevance,
    /// `live_simple`: user-contributed, one call.
    LiveSimple,
    /// `live_multiple`: user-contributed, several functions, one call.
    LiveMultiple,
    /// `live_parallel`: user-contributed, several calls.
    LiveParallel,
    /// `live_parallel_multiple`: user-contributed, several functions and calls.
    LiveParallelMultiple,
    /// `live_irrelevance`: user-contributed, no call expected.
    LiveIrrelevance,
    /// `live_relevance`: user-contributed, at least one call expected.
    LiveRelevance,
}

const ALL: [Category; 11] = [
    Category::SimplePython,
    Category::Multiple,
    Category::Parallel,
    Category::ParallelMultiple,
    Category::Irrelevance,
    Category::LiveSimple,
    Category::LiveMultiple,
    Category::LiveParallel,
    Category::LiveParallelMultiple,
    Category::LiveIrrelevance,
    Category::LiveRelevance,
];

impl Category {
    /// All categories in scope, in BFCL's usual order.
    pub fn all() -> &'static [Category] {
        &ALL
    }

    /// BFCL's name of the category, as used in file names and ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::SimplePython => "simple_python",
            Category::Multiple => "multiple",
            Category::Parallel => "parallel",
            Category::ParallelMultiple => "parallel_multiple",
            Category::Irrelevance => "irrelevance",
            Category::LiveSimple => "live_simple",
            Category::LiveMultiple => "live_multiple",
            Category::LiveParallel => "live_parallel",
            Category::LiveParallelMultiple => "live_parallel_multiple",
            Category::LiveIrrelevance => "live_irrelevance",
            Category::LiveRelevance => "live_relevance",
        }
    }

    /// Whether BFCL ships possible answers for the category (false for the
    /// irrelevance and relevance categories, which are judged by call count).
    pub fn has_answers(self) -> bool {
        !matches!(
            self,
            Category::Irrelevance | Category::LiveIrrelevance | Category::LiveRelevance
        )
    }

    /// Whether several calls may be expected (the `parallel` categories).
    pub fn is_parallel(self) -> bool {
        matches!(
            self,
            Category::Parallel
                | Category::ParallelMultiple
                | Category::LiveParallel
                | Category::LiveParallelMultiple
        )
    }

    /// The path of the category's question file under `data_dir`.
    pub fn data_path(self, data_dir: &Path) -> PathBuf {
        data_dir.join(format!("BFCL_v4_{}.json", self.as_str()))
    }

    /// The path of the category's possible-answer file under `data_dir`.
    pub fn answer_path(self, data_dir: &Path) -> PathBuf {
        data_dir
            .join("possible_answer")
            .join(format!("BFCL_v4_{}.json", self.as_str()))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ALL.iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| Error::UnknownCategory {
                name: s.to_string(),
                valid: ALL.map(Category::as_str).join(", "),
            })
    }
}

/// One function offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDoc {
    /// The name, possibly dotted (`math.factorial`).
    pub name: String,
    /// What the function does.
    pub description: String,
    /// BFCL's parameter schema (`{"type": "dict", "properties", "required"}`).
    pub parameters: Value,
}

/// One test case: the conversation and the functions on offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// BFCL's id, like `simple_python_0`.
    pub id: String,
    /// The category the case came from.
    pub category: Category,
    /// The question: a list of turns, each a list of messages.
    pub turns: Vec<Vec<Message>>,
    /// The functions on offer.
    pub functions: Vec<FunctionDoc>,
}

/// One call the possible answer expects.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedCall {
    /// The function's name, as in its [`FunctionDoc`].
    pub name: String,
    /// For each argument, its allowed values; `""` among them means the
    /// argument may be omitted.
    pub args: BTreeMap<String, Vec<Value>>,
}

/// The possible answer of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The case's id.
    pub id: String,
    /// The expected calls (one, or several for parallel categories).
    pub ground_truth: Vec<ExpectedCall>,
}

/// Loads a category's cases from `data_dir`, each paired (by id) with its
/// possible answer when the category has answers.
///
/// Errors name the file, the line and what is wrong.
pub fn load(data_dir: &Path, category: Category) -> Result<Vec<(Case, Option<Answer>)>> {
    let data_path = category.data_path(data_dir);
    let cases = read_lines(&data_path, |line, v| parse_case(category, line, v))?;
    if !category.has_answers() {
        return Ok(cases.into_iter().map(|(_, c)| (c, None)).collect());
    }
    let answer_path = category.answer_path(data_dir);
    let mut answers: HashMap<String, Answer> = HashMap::new();
    for (line, answer) in read_lines(&answer_path, |_, v| parse_answer(v))? {
        if answers.contains_key(&answer.id) {
            let message = format!("duplicate answer id {:?}", answer.id);
            return Err(data_err(&answer_path, line, message));
        }
        answers.insert(answer.id.clone(), answer);
    }
    let mut out = Vec::with_capacity(cases.len());
    for (line, case) in cases {
        let Some(answer) = answers.remove(&case.id) else {
            let message = format!(
                "case {:?} has no answer in {}",
                case.id,
                answer_path.display()
            );
            return Err(data_err(&data_path, line, message));
        };
        out.push((case, Some(answer)));
    }
    Ok(out)
}

fn data_err(path: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Reads a JSON-lines file, skipping blank lines, and parses each line with
/// `parse`; returns `(line number, item)` pairs.
fn read_lines<T>(
    path: &Path,
    parse: impl Fn(usize, &Value) -> std::result::Result<T, String>,
) -> Result<Vec<(usize, T)>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(raw)
            .map_err(|e| data_err(path, line, format!("invalid JSON: {e}")))?;
        let item = parse(line, &value).map_err(|m| data_err(path, line, m))?;
        out.push((line, item));
    }
    Ok(out)
}

fn field<'a>(v: &'a Value, key: &str) -> std::result::Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing field {key:?}"))
}

fn str_field(v: &Value, key: &str) -> std::result::Result<String, String> {
    field(v, key)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("field {key:?} is not a string"))
}

/// The list in field `key`; `what` says what it should be a list of, for the error.
fn list_field<'a>(
    v: &'a Value,
    key: &str,
    what: &str,
) -> std::result::Result<&'a Vec<Value>, String> {
    field(v, key)?
        .as_array()
        .ok_or_else(|| format!("field {key:?} is not a list{what}"))
}

fn parse_role(role: &str) -> Option<Role> {
    match role {
        "user" => Some(Role::User),
        "system" => Some(Role::System),
        "assistant" => Some(Role::Assistant),
        "tool" => Some(Role::Tool),
        _ => None,
    }
}

fn parse_case(category: Category, _line: usize, v: &Value) -> std::result::Result<Case, String> {
    let id = str_field(v, "id")?;
    let question = list_field(v, "question", " of turns")?;
    let mut turns = Vec::with_capacity(question.len());
    for (t, turn) in question.iter().enumerate() {
        let turn = turn
            .as_array()
            .ok_or_else(|| format!("question turn {t} is not a list of messages"))?;
        let mut messages = Vec::with_capacity(turn.len());
        for (m, msg) in turn.iter().enumerate() {
            let at = |e: String| format!("question turn {t}, message {m}: {e}");
            let role = str_field(msg, "role").map_err(at)?;
            let role = parse_role(&role).ok_or_else(|| at(format!("unknown role {role:?}")))?;
            let content = str_field(msg, "content").map_err(at)?;
            messages.push(Message::new(role, content));
        }
        turns.push(messages);
    }
    let functions = list_field(v, "function", "")?
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let at = |e: String| format!("function {i}: {e}");
            let name = str_field(f, "name").map_err(at)?;
            let description = match f.get("description") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(at("field \"description\" is not a string".into())),
            };
            let parameters = field(f, "parameters").map_err(at)?.clone();
            if !parameters.is_object() {
                return Err(at("field \"parameters\" is not an object".into()));
            }
            Ok(FunctionDoc {
                name,
                description,
                parameters,
            })
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    Ok(Case {
        id,
        category,
        turns,
        functions,
    })
}

fn parse_answer(v: &Value) -> std::result::Result<Answer, String> {
    let id = str_field(v, "id")?;
    let gt = list_field(v, "ground_truth", "")?;
    let mut ground_truth = Vec::with_capacity(gt.len());
    for (i, call) in gt.iter().enumerate() {
        let obj = call
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or_else(|| format!("ground_truth[{i}] is not an object with one function name"))?;
        for (name, args) in obj {
            let args = args.as_object().ok_or_else(|| {
                format!("ground_truth[{i}]: arguments of {name:?} are not an object")
            })?;
            let mut allowed = BTreeMap::new();
            for (arg, values) in args {
                let values = values.as_array().ok_or_else(|| {
                    format!("ground_truth[{i}]: allowed values of {name}.{arg} are not a list")
                })?;
                allowed.insert(arg.clone(), values.clone());
            }
            ground_truth.push(ExpectedCall {
                name: name.clone(),
                args: allowed,
            });
        }
    }
    Ok(Answer { id, ground_truth })
}
