//! A small BFCL evaluation on the real default model, in both modes.

use hamlet_eval::data::{load, Category};
use hamlet_eval::run::{run, scores, Mode, RunOptions};
use hamlet_llm::{LlamaConfig, LlamaLlm};

fn data_dir() -> std::path::PathBuf {
    let home = hamlet_models::default_home();
    let dir = hamlet_models::datasets::dataset_dir(&home, &hamlet_models::datasets::BFCL);
    assert!(
        dir.join("possible_answer").is_dir(),
        "run `hamlet models pull bfcl` first (scripts/test.sh does)"
    );
    dir
}

#[test]
fn a_handful_of_cases_in_both_modes() {
    let model = hamlet_models::ModelCache::open_default()
        .resolve("smollm2-135m")
        .expect("run scripts/test.sh to pull the model");
    let mut cfg = LlamaConfig::new(model);
    cfg.threads = hamlet_core::testing::threads();
    cfg.parallel = 3;
    cfg.context = 4096;
    let llm = LlamaLlm::load(cfg).unwrap();
    let mut cases = Vec::new();
    for cat in [
        Category::SimplePython,
        Category::Parallel,
        Category::Irrelevance,
    ] {
        cases.extend(load(&data_dir(), cat).unwrap().into_iter().take(3));
    }
    for mode in [Mode::Constrained, Mode::Free] {
        let opts = RunOptions {
            mode,
            batch: 3,
            max_tokens: 200,
            // The 135M model repeats one call until max_tokens without a penalty.
            repeat_penalty: 1.1,
            ..RunOptions::default()
        };
        let mut seen = 0;
        let results = run(&llm, &cases, &opts, &mut |r| {
            seen += 1;
            // Every record serialises to one JSON line with the prompt and the raw reply.
            let line = serde_json::to_string(r).unwrap();
            assert!(!line.contains('\n') && line.contains("\"raw_output\""));
        });
        assert_eq!((seen, results.len()), (9, 9));
        for r in &results {
            assert!(!r.prompt.is_empty() && r.usage.prompt_tokens > 0, "{r:?}");
            if mode == Mode::Constrained {
                // The grammar guarantees a parsable reply (unless max_tokens cut it off).
                assert!(
                    r.calls.is_some() || r.reason.as_deref().unwrap_or("").contains("cut off"),
                    "{r:?}"
                );
            }
            assert!(r.valid || r.reason.is_some(), "a failure says why: {r:?}");
        }
        let s = scores(&results);
        assert_eq!(s.len(), 3);
        assert_eq!(s.iter().map(|x| x.cases).sum::<usize>(), 9);
    }
}
