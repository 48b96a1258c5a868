//! The cost of one decode step at N sequences, straight on llama-cpp-2, and whether sequence 0's
//! logits stay the same as N changes. It separates the engine's own batching behaviour from
//! Hamlet's (docs/BENCHMARKS.md, "Batching on Qwen2.5-Coder-1.5B").
//!
//! `cargo run --release -p hamlet-llm --example decode_steps -- MODEL.gguf`
//! (`THREADS=N`, default 2; `UNIFIED=1` for one KV cache shared by all sequences).
use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: decode_steps MODEL.gguf")?;
    let unified = std::env::var_os("UNIFIED").is_some();
    let threads: i32 = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let backend = LlamaBackend::init()?;
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
    let model = LlamaModel::load_from_file(&backend, &path, &LlamaModelParams::default())?;
    let nmax = 16u32;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(512 * nmax))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_seq_max(nmax)
        .with_kv_unified(unified)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = model.new_context(&backend, params)?;
    let prompt = model.vocab().tokenize(b"<|im_start|>user\nWrite a short story about a lighthouse keeper and the sea.<|im_end|>\n<|im_start|>assistant\n", true, true);
    let mut batch = LlamaBatch::new(512, 1);
    // prefill every sequence alone
    for s in 0..nmax as i32 {
        batch.clear();
        for (i, t) in prompt.iter().enumerate() {
            batch.add(*t, i as i32, &[s], i == prompt.len() - 1)?;
        }
        ctx.decode(&mut batch)?;
    }
    let tok = prompt[3];
    let pos = prompt.len() as i32;
    let mut base: Vec<f32> = Vec::new();
    for &n in &[1usize, 3, 4, 5, 6, 7, 8, 9, 12, 16] {
        let reps = 8;
        let mut ms = Vec::new();
        let mut diff = 0f32;
        for r in 0..reps {
            for s in 0..n as i32 {
                ctx.clear_kv_cache_seq(Some(s as u32), Some(pos as u32), None)?;
            }
            batch.clear();
            for s in 0..n as i32 {
                batch.add(tok, pos, &[s], true)?;
            }
            let t = Instant::now();
            ctx.decode(&mut batch)?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            let l = ctx.get_logits_ith(0).to_vec();
            if base.is_empty() {
                base = l.clone();
            }
            if r == 0 {
                diff = l
                    .iter()
                    .zip(&base)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
            }
        }
        ms.sort_by(f64::total_cmp);
        let med = ms[reps / 2];
        println!("batch {n:2}: {med:7.1} ms/step, {:6.1} tok/s, seq0 max |logit diff| vs batch 1 = {diff:e}", n as f64 / med * 1e3);
    }
    Ok(())
}
