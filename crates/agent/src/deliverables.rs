//! The files a goal asks for, so that a run cannot finish with one of them never written.
//!
//! Small models often know the answer before they have written it down: they read the input,
//! then finish with the right value in the answer while the goal said to save it to a file. The
//! loop refuses the first such `finish` with an observation naming the missing files, and the
//! next step may not finish (see `policy::barred_tool`); a later `finish` goes through, so a goal
//! that only mentions a file it does not want written costs two steps, never the run. This is a pure function of the goal and the workspace.

/// Extensions that make a word of the goal a file name (and not a version, a domain or a number).
const FILE_EXTENSIONS: &[&str] = &[
    "txt", "md", "csv", "tsv", "json", "jsonl", "yaml", "yml", "toml", "ini", "cfg", "conf", "xml",
    "html", "htm", "log", "py", "js", "ts", "rs", "go", "c", "h", "cpp", "hpp", "java", "rb", "sh",
    "sql", "svg", "tex", "rst", "dat", "out",
];

/// The relative file paths a goal names, in order, without repeats.
pub fn named_files(goal: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in goal.split_whitespace() {
        const AROUND: &str = "\"'`()[]{}<>,;:!?*";
        let word = word
            .trim_start_matches(|c: char| AROUND.contains(c))
            .trim_end_matches(|c: char| AROUND.contains(c) || c == '.');
        if is_file_name(word) && !out.iter().any(|w| w == word) {
            out.push(word.to_string());
        }
    }
    out
}

fn is_file_name(word: &str) -> bool {
    if word.contains("://") || word.starts_with('/') || word.contains("..") || word.contains('\\') {
        return false;
    }
    let Some((stem, ext)) = word.rsplit_once('.') else {
        return false;
    };
    let stem_ok = stem.rsplit('/').next().is_some_and(|s| {
        !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c))
    });
    stem_ok
        && word
            .chars()
            .all(|c| c.is_alphanumeric() || "_-./".contains(c))
        && FILE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
}

/// The files the goal names that do not exist (by `exists`, relative to the workspace).
pub fn missing_files(goal: &str, exists: impl Fn(&str) -> bool) -> Vec<String> {
    named_files(goal)
        .into_iter()
        .filter(|f| !exists(f))
        .collect()
}

/// How [`refusal`] begins, so the loop can tell that a finish was refused for this already.
pub const REFUSAL_START: &str = "finish refused: the goal names";

/// The observation that refuses a finish while `missing` files are not written.
pub fn refusal(missing: &[String]) -> String {
    let list = missing.join(", ");
    let (noun, verb) = if missing.len() == 1 {
        ("file", "does")
    } else {
        ("files", "do")
    };
    format!(
        "{REFUSAL_START} the {noun} {list}, which {verb} not exist in the workspace yet. \
         Write what the goal asks into it with write_file now, then finish. If the goal does not \
         ask for it, do your next step and call finish again after it."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_found_and_other_dotted_words_are_not() {
        assert_eq!(
            named_files(
                "Read data/sales.csv and write the total to \"total.txt\". Then summarise notes.md, see \
                 https://example.com/page.html, python 3.11, e.g. version 1.2.3, /etc/passwd, ../x.txt."
            ),
            ["data/sales.csv", "total.txt", "notes.md"]
        );
        assert_eq!(
            named_files("Save it as `report.JSON`; then report.JSON again."),
            ["report.JSON"]
        );
        assert!(named_files("Compute 3.5 * 2.0 and say hello.world").is_empty());
    }

    #[test]
    fn only_files_not_in_the_workspace_are_missing() {
        let goal = "Read input.txt and write the word count to count.txt";
        assert_eq!(missing_files(goal, |f| f == "input.txt"), ["count.txt"]);
        assert!(missing_files(goal, |_| true).is_empty());
        assert!(missing_files("Say hello", |_| false).is_empty());
    }

    #[test]
    fn the_refusal_names_the_files_and_the_way_out() {
        let r = refusal(&["count.txt".into()]);
        assert!(
            r.contains("the file count.txt, which does not exist"),
            "{r}"
        );
        assert!(r.contains("call finish again"), "{r}");
        let r = refusal(&["a.txt".into(), "b.md".into()]);
        assert!(r.contains("files a.txt, b.md, which do not"), "{r}");
    }
}
