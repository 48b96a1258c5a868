//! A numerical gradient check of the LoRA parameters on a tiny random model in f64: the
//! hand-written RoPE (interleaved for `llama`, NEOX for `qwen2`), RMS norm, softmax,
//! cross-entropy, the projection biases and the frozen-weight matmul must give the gradients that
//! finite differences give.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use hamlet_tune::lora::Lora;
use hamlet_tune::train::batch_loss;
use hamlet_tune::{Arch, Backbone, Example, LoraConfig, ModelConfig, Rng, Tokenizer};

fn random(rng: &mut Rng, shape: (usize, usize), scale: f64) -> Tensor {
    let v: Vec<f64> = (0..shape.0 * shape.1)
        .map(|_| (rng.next_f32() as f64 * 2.0 - 1.0) * scale)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Sets every adapter tensor (A and B) to random values of the seed.
fn randomize(lora: &Lora, seed: u64) {
    let mut rng = Rng::new(seed);
    let values: HashMap<String, Tensor> = lora
        .tensors()
        .into_iter()
        .map(|(n, t)| {
            let (r, c) = t.dims2().unwrap();
            (n, random(&mut rng, (r, c), 0.3))
        })
        .collect();
    lora.load_values(&values).unwrap();
}

/// A random two-layer model; `qwen2` adds Q/K/V biases, as Qwen2 has.
fn tiny(arch: Arch) -> Backbone {
    let cfg = ModelConfig {
        arch,
        layers: 2,
        hidden: 16,
        ffn: 24,
        heads: 4,
        kv_heads: 2,
        head_dim: 4,
        rope_dims: 4,
        rope_base: 10_000.0,
        rms_eps: 1e-5,
        vocab: 40,
        context: 64,
    };
    let mut rng = Rng::new(7);
    let mut w = HashMap::new();
    w.insert(
        "token_embd.weight".to_string(),
        random(&mut rng, (40, 16), 1.0),
    );
    w.insert(
        "output_norm.weight".to_string(),
        (random(&mut rng, (1, 16), 0.2) + 1.0)
            .unwrap()
            .squeeze(0)
            .unwrap(),
    );
    for l in 0..cfg.layers {
        for (name, shape) in [
            ("attn_q", (16, 16)),
            ("attn_k", (8, 16)),
            ("attn_v", (8, 16)),
            ("attn_output", (16, 16)),
            ("ffn_gate", (24, 16)),
            ("ffn_up", (24, 16)),
            ("ffn_down", (16, 24)),
        ] {
            w.insert(
                format!("blk.{l}.{name}.weight"),
                random(&mut rng, shape, 0.4),
            );
        }
        if arch == Arch::Qwen2 {
            for (name, n) in [("attn_q", 16), ("attn_k", 8), ("attn_v", 8)] {
                let t = random(&mut rng, (1, n), 0.5).squeeze(0).unwrap();
                w.insert(format!("blk.{l}.{name}.bias"), t);
            }
        }
        for norm in ["attn_norm", "ffn_norm"] {
            let t = (random(&mut rng, (1, 16), 0.2) + 1.0)
                .unwrap()
                .squeeze(0)
                .unwrap();
            w.insert(format!("blk.{l}.{norm}.weight"), t);
        }
    }
    let header = hamlet_models::gguf_metadata(&common::chat_model()).unwrap();
    let tok = Tokenizer::from_gguf(&header.content).unwrap();
    Backbone::from_weights(cfg, tok, w, &Device::Cpu).unwrap()
}

#[test]
fn lora_gradients_match_finite_differences() {
    for arch in Arch::ALL {
        check_gradients(arch);
    }
}

fn check_gradients(arch: Arch) {
    let b = tiny(arch);
    let cfg = LoraConfig {
        rank: 2,
        alpha: 4.0,
        dropout: 0.0,
        targets: ["q", "k", "v", "o", "gate", "up", "down"]
            .map(String::from)
            .to_vec(),
    };
    let lora = Lora::new(&b, cfg, 3).unwrap();
    // Non-zero B, so that A gets a gradient too.
    randomize(&lora, 11);
    let examples = [
        Example {
            ids: vec![1, 5, 9, 2, 33, 7, 7, 12],
            target: vec![false, false, false, true, true, true, true, true],
        },
        Example {
            ids: vec![3, 8, 21, 39, 4],
            target: vec![false, false, true, true, true],
        },
    ];
    let batch: Vec<&Example> = examples.iter().collect();
    let loss = |l: &Lora| -> f64 {
        let (nll, _, _) = batch_loss(&b, Some(l), &batch, None).unwrap();
        nll.to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let (nll, _, _) = batch_loss(&b, Some(&lora), &batch, None).unwrap();
    let grads = nll.backward().unwrap();
    let mut checked = 0;
    let mut worst = 0f64;
    for (i, (name, var)) in lora.vars().into_iter().enumerate() {
        if i % 3 != 0 {
            continue; // a sample of the parameters keeps the test short
        }
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name} has no gradient"));
        let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let shape = var.as_tensor().shape().clone();
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for k in [0, base.len() / 2, base.len() - 1] {
            let eps = 1e-5;
            let mut p = base.clone();
            p[k] += eps;
            var.set(&Tensor::from_vec(p.clone(), shape.clone(), &Device::Cpu).unwrap())
                .unwrap();
            let up = loss(&lora);
            p[k] -= 2.0 * eps;
            var.set(&Tensor::from_vec(p, shape.clone(), &Device::Cpu).unwrap())
                .unwrap();
            let down = loss(&lora);
            var.set(&Tensor::from_vec(base.clone(), shape.clone(), &Device::Cpu).unwrap())
                .unwrap();
            let numeric = (up - down) / (2.0 * eps);
            let err = (numeric - g[k]).abs() / numeric.abs().max(g[k].abs()).max(1e-6);
            assert!(
                err < 1e-5 || (numeric - g[k]).abs() < 1e-8,
                "{name}[{k}]: autograd {} vs numeric {numeric}",
                g[k]
            );
            worst = worst.max(err);
            checked += 1;
        }
    }
    eprintln!("{arch}: checked {checked} LoRA gradients, worst relative error {worst:.2e}");
    assert!(checked >= 20);
}

#[test]
fn activation_checkpointing_gives_the_same_gradients() {
    use hamlet_tune::train::batch_grads;
    let b = tiny(Arch::Qwen2);
    let cfg = LoraConfig {
        rank: 2,
        alpha: 4.0,
        dropout: 0.3, // masks must be replayed exactly in the recomputation
        targets: ["q", "v", "o", "gate", "down"].map(String::from).to_vec(),
    };
    let lora = Lora::new(&b, cfg, 5).unwrap();
    randomize(&lora, 13);
    let vars = lora.vars();
    let ex = [
        Example {
            ids: vec![1, 5, 9, 2, 33, 7],
            target: vec![false, false, true, true, true, true],
        },
        Example {
            ids: vec![3, 8, 21, 39],
            target: vec![false, true, true, true],
        },
    ];
    let batch: Vec<&Example> = ex.iter().collect();
    let run = |checkpointed: bool| {
        let mut acc = vec![None; vars.len()];
        let mut rng = Rng::new(99);
        let (nll, _) = batch_grads(
            &b,
            &lora,
            &vars,
            &batch,
            Some(&mut rng),
            0.5,
            checkpointed,
            &mut acc,
        )
        .unwrap();
        // The caller's generator advances the same way in both modes.
        (nll, acc, rng.next_u64())
    };
    let (nll_a, ga, ra) = run(false);
    let (nll_b, gb, rb) = run(true);
    assert!((nll_a - nll_b).abs() < 1e-10, "{nll_a} vs {nll_b}");
    assert_eq!(ra, rb);
    for ((name, _), (a, b)) in vars.iter().zip(ga.iter().zip(&gb)) {
        let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(d < 1e-10, "{name}: max difference {d}");
    }
}
