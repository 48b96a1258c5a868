//! A simulated hour of a small town on the real default model (SmolLM2-135M) with the real memory
//! stream (MiniLM embeddings, SQLite, BM25): every decision goes through the grammar, one batch per
//! step, memories are written and recalled by meaning, and the log replays to the same positions.
//! Nothing here asserts on what the model chose or on time.

mod common;

use std::sync::Arc;

use hamlet_core::town::SimTime;
use hamlet_llm::{EmbedConfig, LlamaConfig, LlamaEmbedder, LlamaLlm};
use hamlet_town::{replay, LlmTownModel, Run, RunConfig, SimConfig};

#[test]
fn an_hour_of_three_agents_on_the_real_model() {
    let model = hamlet_models::ModelCache::open_default()
        .resolve("smollm2-135m")
        .expect("run scripts/test.sh to pull the model");
    let mut cfg = LlamaConfig::new(model);
    cfg.threads = hamlet_core::testing::threads();
    cfg.parallel = 3;
    cfg.context = 2048;
    let llm = Arc::new(LlamaLlm::load(cfg).expect("load model"));
    let minilm = hamlet_models::ModelCache::open_default()
        .resolve("minilm")
        .expect("run scripts/test.sh to pull MiniLM");
    let mut ecfg = EmbedConfig::new(minilm);
    ecfg.threads = 1;
    let embedder: Arc<dyn hamlet_core::Embedder> =
        Arc::new(LlamaEmbedder::load(ecfg).expect("load MiniLM"));
    let open = |dir: &std::path::Path| common::open_memory_with(dir, embedder.clone());

    let d = tempfile::tempdir().expect("tmp");
    common::tiny_world(d.path());
    let run_dir = d.path().join("run");
    let config = RunConfig {
        world: d.path().to_path_buf(),
        scenario: Some("news".into()),
        agents: Vec::new(),
        agent_count: None,
        until: Some(SimTime::parse("day 1 08:00").expect("time")),
        seed: 1,
        prompts_dir: None,
        checkpoint_every: 30,
        sim: SimConfig {
            max_turns: 4,
            ..SimConfig::default()
        },
        model: "smollm2-135m".into(),
        embedder: "minilm".into(),
    };
    let mut run = Run::create(&run_dir, &config, &open).expect("run");
    run.run(&LlmTownModel(llm.clone()), None, &mut |_| {})
        .expect("steps");
    let (m, _checks) = run.finish().expect("finish");
    eprintln!("{}", hamlet_town::metrics::table(&m));
    // Every agent planned its day and its first block through the model.
    assert!(m.model_calls >= 6, "{m:#?}");
    assert!(
        m.failed_calls * 4 <= m.model_calls,
        "most replies are valid JSON: {m:#?}"
    );
    assert!(m.tokens.completion_tokens > 0 && m.tokens.prompt_tokens > 0);
    assert!(m.calls_per_agent_step < 1.0);
    // The seeded invitation is in Ann's stream with a MiniLM vector, and a query that shares no
    // word with it still finds it by meaning.
    let q =
        hamlet_core::RecallQuery::new("a celebration this evening", 3, i64::MAX / 2).agent("Ann");
    let hits = run.memory().recall(&q).expect("recall");
    assert!(
        hits.iter()
            .any(|h| h.record.text.contains("hosting a party")),
        "{hits:#?}"
    );
    assert!(m.memories >= 3, "{m:#?}");
    let rep = replay(&run_dir, &mut |_, _| {}).expect("replay");
    for a in &run.state.agents {
        assert_eq!(rep.snapshot.agents[&a.name].tile, a.tile);
        assert!(a.planned_day == 1, "{} planned its day", a.name);
    }
}
