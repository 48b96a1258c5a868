//! A small labelled retrieval set on the real embedding model (MiniLM): 30 memories, 16 queries
//! with the memories that should come back. Prints precision@3, recall@3 and MRR for vector, BM25
//! and hybrid retrieval under both fusions (reciprocal-rank and weighted sum), and asserts lower
//! bounds that a broken index or a random ranking cannot reach (random: recall@3 ≈ 0.1).

use std::sync::Arc;

use hamlet_core::{Embedder, MemoryKind, NewMemory, RecallQuery};
use hamlet_llm::{EmbedConfig, LlamaEmbedder};
use hamlet_memory::{Fusion, MemoryConfig, MemoryStore, Scoring, SearchMode};

const MEMORIES: [&str; 30] = [
    "Isabella is planning a Valentine's Day party at Hobbs Cafe on February 14 from 5pm.",
    "Isabella asked Maria to help decorate the cafe for the party.",
    "Klaus Mueller is writing a research paper on gentrification in low-income neighborhoods.",
    "Klaus spent the afternoon at the Oak Hill College library reading about urban housing.",
    "Sam Moore announced he is running for mayor in the local election.",
    "Sam talked with Tom about his campaign plans to fix the roads.",
    "The pharmacy on Main Street closes at 8pm on weekdays.",
    "John Lin works at the pharmacy and helps customers with their prescriptions.",
    "Mei Lin cooked dumplings for dinner with her son Eddy.",
    "Eddy Lin is practising piano for a music composition class.",
    "A storm knocked down the old oak tree in Johnson Park.",
    "The park's playground was closed after the tree fell.",
    "Carmen bought fresh tomatoes and basil at the farmers' market.",
    "The farmers' market sells honey, vegetables and bread every Saturday morning.",
    "Jennifer painted a watercolor landscape of the river at sunset.",
    "Jennifer is preparing her paintings for an art exhibition next month.",
    "Wolfgang jogged five kilometres along the river trail before breakfast.",
    "Wolfgang is training for the town marathon in the spring.",
    "The bakery ran out of croissants by nine in the morning.",
    "Ryan fixed the leaking kitchen faucet in the apartment.",
    "Ayesha is studying for her final chemistry exam on Thursday.",
    "Ayesha felt anxious about the exam and could not sleep.",
    "Tom Moreno complained that the rent in the neighborhood keeps rising.",
    "Abigail is designing a video game about dragons.",
    "Latoya photographed birds at the lake for her portfolio.",
    "Giorgio taught a math lesson on prime numbers.",
    "Hailey wrote a poem about the first snow of winter.",
    "Arthur serves drinks at the Rose and Crown pub every evening.",
    "Francisco and Rajiv played guitar together at the open mic night.",
    "Adam Smith has been reading philosophy books about free will.",
];

/// (query, ids of the memories that answer it; ids are 1-based positions in MEMORIES)
const QUERIES: [(&str, &[i64]); 16] = [
    (
        "Who is organising a celebration for the fourteenth of February?",
        &[1, 2],
    ),
    ("gentrification research", &[3, 4]),
    ("Who wants to become the town's leader?", &[5, 6]),
    ("What time does the pharmacy close?", &[7]),
    ("weather damage in the park", &[11, 12]),
    ("Where can I buy fresh produce?", &[13, 14]),
    ("Jennifer's art", &[15, 16]),
    ("exercise and running", &[17, 18]),
    ("Ayesha exam stress", &[21, 22]),
    ("housing costs are going up", &[23]),
    ("musical performances", &[10, 29]),
    ("Rose and Crown", &[28]),
    // Agents often recall by name or place: exact terms matter.
    ("Tom", &[6, 23]),
    ("Oak Hill College", &[4]),
    ("What is Eddy Lin up to?", &[9, 10]),
    ("Hobbs Cafe", &[1, 2]),
];

const K: usize = 3;

#[derive(Debug, Default, Clone, Copy)]
struct Metrics {
    precision: f64,
    recall: f64,
    mrr: f64,
}

fn evaluate(store: &MemoryStore, vectors: &[Vec<f32>], mode: SearchMode) -> Metrics {
    let mut m = Metrics::default();
    for ((q, want), v) in QUERIES.iter().zip(vectors) {
        let got: Vec<i64> = store
            .search_with_vector(&RecallQuery::new(*q, K, 0), v, mode)
            .unwrap()
            .into_iter()
            .map(|h| h.0)
            .collect();
        let hits = got.iter().filter(|id| want.contains(id)).count() as f64;
        m.precision += hits / K as f64;
        m.recall += hits / want.len() as f64;
        m.mrr += got
            .iter()
            .position(|id| want.contains(id))
            .map_or(0.0, |p| 1.0 / (p + 1) as f64);
    }
    let n = QUERIES.len() as f64;
    Metrics {
        precision: m.precision / n,
        recall: m.recall / n,
        mrr: m.mrr / n,
    }
}

fn embedder() -> LlamaEmbedder {
    let path = hamlet_models::ModelCache::open_default()
        .resolve("minilm")
        .unwrap_or_else(|e| panic!("{e}\nThis test needs the embedding model: run `hamlet models pull minilm` (scripts/test.sh does)."));
    let mut c = EmbedConfig::new(path);
    c.threads = hamlet_core::testing::threads();
    LlamaEmbedder::load(c).expect("load MiniLM")
}

#[test]
fn labelled_set_on_minilm() {
    let e = embedder();
    let texts: Vec<&str> = MEMORIES.to_vec();
    let mem_vecs = e.embed(&texts).unwrap();
    let queries: Vec<&str> = QUERIES.iter().map(|q| q.0).collect();
    let q_vecs = e.embed(&queries).unwrap();
    let e: Arc<dyn Embedder> = Arc::new(e);

    let mut results = Vec::new();
    for (name, fusion) in [
        ("rrf", Fusion::Rrf { k: 60.0 }),
        ("weighted 0.5", Fusion::Weighted { vector: 0.5 }),
        ("weighted 0.7", Fusion::Weighted { vector: 0.7 }),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = MemoryConfig {
            scoring: Scoring {
                fusion,
                ..Scoring::default()
            },
            ..MemoryConfig::default()
        };
        let store = MemoryStore::open_with(dir.path(), e.clone(), config).unwrap();
        let ids = store
            .add_embedded(
                MEMORIES
                    .iter()
                    .zip(&mem_vecs)
                    .map(|(t, v)| {
                        (
                            NewMemory::new("town", MemoryKind::Observation, *t, 0).importance(5),
                            v.clone(),
                        )
                    })
                    .collect(),
            )
            .unwrap();
        assert_eq!(ids, (1..=30).collect::<Vec<i64>>());
        for mode in SearchMode::ALL {
            if mode != SearchMode::Hybrid && name != "rrf" {
                continue; // vector and BM25 alone do not depend on the fusion
            }
            let label = if mode == SearchMode::Hybrid {
                format!("hybrid ({name})")
            } else {
                mode.as_str().to_string()
            };
            results.push((label, evaluate(&store, &q_vecs, mode)));
        }
    }
    println!(
        "\nlabelled set: {} memories, {} queries, k = {K}",
        MEMORIES.len(),
        QUERIES.len()
    );
    println!("| retrieval | precision@{K} | recall@{K} | MRR |\n|---|---|---|---|");
    for (label, m) in &results {
        println!(
            "| {label} | {:.3} | {:.3} | {:.3} |",
            m.precision, m.recall, m.mrr
        );
    }
    let get = |l: &str| results.iter().find(|r| r.0 == l).unwrap().1;
    let (v, b, rrf, ws) = (
        get("vector"),
        get("bm25"),
        get("hybrid (rrf)"),
        get("hybrid (weighted 0.5)"),
    );
    assert!(v.recall >= 0.6, "vector recall@{K} {:.3}", v.recall);
    assert!(b.recall >= 0.4, "bm25 recall@{K} {:.3}", b.recall);
    assert!(
        rrf.recall >= 0.6 && ws.recall >= 0.6,
        "hybrid recall@{K} {rrf:?} {ws:?}"
    );
    assert!(v.mrr >= 0.6 && rrf.mrr >= 0.6, "MRR {v:?} {rrf:?}");
}
