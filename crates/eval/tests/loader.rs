//! The loader on small hand-written data directories, including malformed
//! lines, which must be reported with file and line.

use std::fs;
use std::path::{Path, PathBuf};

use hamlet_core::Role;
use hamlet_eval::{load, Category, Error};

/// A fresh directory under the target's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hamlet-eval-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("possible_answer")).expect("mkdir");
    dir
}

const CASE: &str = r#"{"id": "simple_python_0", "question": [[{"role": "system", "content": "be brief"}, {"role": "user", "content": "5!"}]], "function": [{"name": "math.factorial", "description": "n!", "parameters": {"type": "dict", "properties": {"number": {"type": "integer"}}, "required": ["number"]}}]}"#;
const ANSWER: &str = r#"{"id": "simple_python_0", "ground_truth": [{"math.factorial": {"number": [5], "unit": ["", "x"]}}]}"#;

fn write(dir: &Path, category: Category, data: &str, answers: Option<&str>) {
    fs::write(category.data_path(dir), data).expect("write");
    if let Some(a) = answers {
        fs::write(category.answer_path(dir), a).expect("write");
    }
}

fn data_error(result: Result<impl std::fmt::Debug, Error>) -> (PathBuf, usize, String) {
    match result {
        Err(Error::Data {
            path,
            line,
            message,
        }) => (path, line, message),
        other => panic!("expected a data error, got {other:?}"),
    }
}

#[test]
fn loads_and_pairs_by_id() {
    let dir = scratch("ok");
    write(
        &dir,
        Category::SimplePython,
        &format!("{CASE}\n\n"),
        Some(&format!("{ANSWER}\n")),
    );
    let cases = load(&dir, Category::SimplePython).expect("load");
    assert_eq!(cases.len(), 1);
    let (case, answer) = &cases[0];
    assert_eq!(case.id, "simple_python_0");
    assert_eq!(case.category, Category::SimplePython);
    assert_eq!(case.turns[0][0].role, Role::System);
    assert_eq!(case.turns[0][1].content, "5!");
    assert_eq!(case.functions[0].name, "math.factorial");
    let answer = answer.as_ref().expect("answer");
    assert_eq!(answer.ground_truth[0].name, "math.factorial");
    assert_eq!(
        answer.ground_truth[0].args["unit"],
        vec![serde_json::json!(""), serde_json::json!("x")]
    );
    let calls = answer.reference_calls(&case.functions);
    assert_eq!(calls[0].to_python(), "math.factorial(number=5)");
}

#[test]
fn categories_without_answers_need_no_answer_file() {
    let dir = scratch("irrelevance");
    write(&dir, Category::Irrelevance, CASE, None);
    let cases = load(&dir, Category::Irrelevance).expect("load");
    assert!(cases[0].1.is_none());
}

#[test]
fn malformed_lines_name_file_and_line() {
    let dir = scratch("bad");
    let cat = Category::SimplePython;
    write(&dir, cat, &format!("{CASE}\n{{not json\n"), Some(ANSWER));
    let (path, line, message) = data_error(load(&dir, cat));
    assert_eq!((path, line), (cat.data_path(&dir), 2));
    assert!(message.contains("invalid JSON"), "{message}");

    let bad_role = CASE.replace("\"system\"", "\"robot\"");
    write(&dir, cat, &bad_role, Some(ANSWER));
    let (_, line, message) = data_error(load(&dir, cat));
    assert_eq!(line, 1);
    assert!(message.contains("unknown role \"robot\""), "{message}");

    write(&dir, cat, &CASE.replace("\"id\"", "\"key\""), Some(ANSWER));
    assert!(data_error(load(&dir, cat))
        .2
        .contains("missing field \"id\""));

    let bad_answer = ANSWER.replace("[5]", "5");
    write(&dir, cat, CASE, Some(&format!("\n{bad_answer}")));
    let (path, line, message) = data_error(load(&dir, cat));
    assert_eq!((path, line), (cat.answer_path(&dir), 2));
    assert!(message.contains("math.factorial.number"), "{message}");

    write(
        &dir,
        cat,
        CASE,
        Some(&ANSWER.replace("simple_python_0", "other")),
    );
    let (_, line, message) = data_error(load(&dir, cat));
    assert_eq!(line, 1);
    assert!(message.contains("has no answer"), "{message}");

    write(&dir, cat, CASE, Some(&format!("{ANSWER}\n{ANSWER}")));
    assert!(data_error(load(&dir, cat))
        .2
        .contains("duplicate answer id"));
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = scratch("missing");
    let e = load(&dir, Category::Multiple).expect_err("no file");
    assert!(matches!(e, Error::Io { .. }));
    assert!(e.to_string().contains("BFCL_v4_multiple.json"), "{e}");
}

#[test]
fn category_names() {
    assert_eq!(Category::all().len(), 11);
    for &c in Category::all() {
        assert_eq!(c.as_str().parse::<Category>().expect("round trip"), c);
    }
    let e = "simple".parse::<Category>().expect_err("unknown");
    let msg = e.to_string();
    assert!(
        msg.contains("\"simple\"")
            && msg.contains("simple_python")
            && msg.contains("live_relevance"),
        "{msg}"
    );
    let without: Vec<_> = Category::all()
        .iter()
        .filter(|c| !c.has_answers())
        .map(|c| c.as_str())
        .collect();
    assert_eq!(
        without,
        ["irrelevance", "live_irrelevance", "live_relevance"]
    );
}
