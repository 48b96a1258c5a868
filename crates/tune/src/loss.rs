//! Losses and gradients of a batch: reply-token NLL, plain or with activation checkpointing.

use candle_core::{DType, Tensor, Var};

use crate::data::Example;
use crate::lora::Lora;
use crate::model::Backbone;
use crate::ops::cross_entropy_sum;
use crate::{Error, Result, Rng};

struct Prepared {
    ids: Tensor,
    rows: Tensor,
    targets: Tensor,
    n: usize,
    tokens: usize,
}

fn prepare(backbone: &Backbone, batch: &[&Example]) -> Result<Prepared> {
    let t = batch.iter().map(|e| e.len()).max().unwrap_or(0);
    if t < 2 {
        return Err(Error::Config("an example needs at least two tokens".into()));
    }
    let (mut inputs, mut rows, mut targets, mut tokens) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for (r, e) in batch.iter().enumerate() {
        tokens += e.len();
        for i in 0..t - 1 {
            inputs.push(e.ids.get(i).copied().unwrap_or(0));
        }
        for i in 1..e.len() {
            if e.target[i] {
                rows.push((r * (t - 1) + i - 1) as u32);
                targets.push(e.ids[i]);
            }
        }
    }
    let dev = backbone.device();
    let n = rows.len();
    Ok(Prepared {
        ids: Tensor::from_vec(inputs, (batch.len(), t - 1), dev)?,
        rows: Tensor::from_vec(rows, n, dev)?,
        targets: Tensor::from_vec(targets, n, dev)?,
        n,
        tokens,
    })
}

/// Sum of NLL over the prepared targets, from final hidden states `(b, t, hidden)`.
fn head_loss(backbone: &Backbone, hidden: &Tensor, p: &Prepared) -> Result<Tensor> {
    let (b, t, h) = hidden.dims3()?;
    let picked = hidden.reshape((b * t, h))?.index_select(&p.rows, 0)?;
    let logits = backbone.logits(&picked)?;
    Ok(cross_entropy_sum(&logits, &p.targets)?)
}

/// Sum of reply-token NLL over a batch of examples, the number of those tokens and of all tokens.
pub fn batch_loss(
    backbone: &Backbone,
    lora: Option<&Lora>,
    batch: &[&Example],
    rng: Option<&mut Rng>,
) -> Result<(Tensor, usize, usize)> {
    let p = prepare(backbone, batch)?;
    let hidden = backbone.hidden(&p.ids, lora, rng)?;
    Ok((head_loss(backbone, &hidden, &p)?, p.n, p.tokens))
}

fn add_grads(
    acc: &mut [Option<Tensor>],
    vars: &[(String, Var)],
    g: &candle_core::backprop::GradStore,
) -> Result<()> {
    for (slot, (_, var)) in acc.iter_mut().zip(vars) {
        if let Some(gv) = g.get(var.as_tensor()) {
            *slot = Some(match slot.take() {
                Some(a) => (a + gv)?,
                None => gv.clone(),
            });
        }
    }
    Ok(())
}

/// Gradients of `scale · (sum of reply-token NLL)` for `vars`, added into `acc`; returns the NLL sum
/// and the number of tokens. With `checkpointed`, only each layer's input is kept during the
/// forward pass, and each layer is run again during the backward pass (activation
/// checkpointing): memory for one layer's activations instead of all of them, for about a third
/// more compute. Dropout masks are replayed, so both ways give the same gradients.
#[allow(clippy::too_many_arguments)]
pub fn batch_grads(
    backbone: &Backbone,
    lora: &Lora,
    vars: &[(String, Var)],
    batch: &[&Example],
    rng: Option<&mut Rng>,
    scale: f64,
    checkpointed: bool,
    acc: &mut [Option<Tensor>],
) -> Result<(f64, usize)> {
    let p = prepare(backbone, batch)?;
    if !checkpointed {
        let hidden = backbone.hidden(&p.ids, Some(lora), rng)?;
        let nll = head_loss(backbone, &hidden, &p)?;
        add_grads(acc, vars, &(&nll * scale)?.backward()?)?;
        return Ok((nll.to_dtype(DType::F64)?.to_scalar::<f64>()?, p.tokens));
    }
    let mut rng = rng;
    let ctx = backbone.layer_context(p.ids.dim(1)?)?;
    let mut inputs = vec![backbone.embed(&p.ids)?];
    let mut rngs = Vec::new();
    for l in 0..backbone.config.layers {
        rngs.push(rng.as_deref().cloned());
        let y = backbone.layer(l, &inputs[l], &ctx, Some(lora), rng.as_deref_mut())?;
        inputs.push(y.detach());
    }
    let last = Var::from_tensor(&inputs[backbone.config.layers])?;
    let nll = head_loss(backbone, &backbone.final_norm(last.as_tensor())?, &p)?;
    let g = (&nll * scale)?.backward()?;
    let mut grad_out = g
        .get(last.as_tensor())
        .cloned()
        .ok_or_else(|| Error::Config("no gradient reached the last layer".into()))?;
    for l in (0..backbone.config.layers).rev() {
        let x = Var::from_tensor(&inputs[l])?;
        let mut r = rngs[l].clone();
        let y = backbone.layer(l, x.as_tensor(), &ctx, Some(lora), r.as_mut())?;
        let g = (y * &grad_out)?.sum_all()?.backward()?;
        add_grads(acc, vars, &g)?;
        if l > 0 {
            grad_out = g
                .get(x.as_tensor())
                .cloned()
                .ok_or_else(|| Error::Config(format!("no gradient reached layer {l}")))?;
        }
    }
    Ok((nll.to_dtype(DType::F64)?.to_scalar::<f64>()?, p.tokens))
}

/// Mean reply-token NLL over `examples` (no dropout, no gradients); `None` when there are none.
pub fn eval_loss(
    backbone: &Backbone,
    lora: Option<&Lora>,
    examples: &[Example],
    batch: usize,
) -> Result<Option<f32>> {
    let lora = lora.map(Lora::detached);
    let (mut sum, mut count) = (0f64, 0usize);
    let mut order: Vec<&Example> = examples.iter().collect();
    order.sort_by_key(|e| e.len());
    for chunk in order.chunks(batch.max(1)) {
        let (nll, n, _) = batch_loss(backbone, lora.as_ref(), chunk, None)?;
        sum += nll.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        count += n;
    }
    Ok((count > 0).then(|| (sum / count as f64) as f32))
}
