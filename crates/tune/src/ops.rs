//! The tensor operations of the trainable forward pass, all with working gradients.
//!
//! candle-nn's fast `rope_i`, `rope`, `rms_norm` and `softmax_last_dim` are built without a backward pass,
//! so a LoRA on Q would silently get no gradient through them; these are written from plain tensor
//! ops instead. [`frozen_linear`] is a matmul whose backward returns only the input's gradient:
//! candle's own matmul also computes the gradient of the (frozen) weight, which doubled peak
//! memory and cost ~20% of the step time for nothing.

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CudaStorage, CustomOp2, DType, Device, Layout, MetalStorage, Result, Shape, Tensor,
    D,
};

/// `x (m, k) @ w (n, k)ᵀ`, with no gradient for `w`.
struct FrozenMatmul;

fn frozen_dims(l1: &Layout, l2: &Layout) -> Result<(usize, usize, usize, Layout)> {
    let (m, k) = l1.shape().dims2()?;
    let (n, k2) = l2.shape().dims2()?;
    if k != k2 {
        candle_core::bail!("frozen matmul: input has {k} features, weight expects {k2}");
    }
    Ok((m, n, k, l2.transpose(0, 1)?))
}

impl CustomOp2 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, n, k, wt) = frozen_dims(l1, l2)?;
        Ok((s1.matmul(s2, (1, m, n, k), l1, &wt)?, Shape::from((m, n))))
    }

    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        let (m, n, k, wt) = frozen_dims(l1, l2)?;
        Ok((s1.matmul(s2, (1, m, n, k), l1, &wt)?, Shape::from((m, n))))
    }

    fn metal_fwd(
        &self,
        s1: &MetalStorage,
        l1: &Layout,
        s2: &MetalStorage,
        l2: &Layout,
    ) -> Result<(MetalStorage, Shape)> {
        let (m, n, k, wt) = frozen_dims(l1, l2)?;
        Ok((s1.matmul(s2, (1, m, n, k), l1, &wt)?, Shape::from((m, n))))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.matmul(w)?), None))
    }
}

/// `x (..., k) @ w (n, k)ᵀ` → `(..., n)`; `w` gets no gradient.
pub(crate) fn frozen_linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let k = dims[dims.len() - 1];
    let rows = x.elem_count() / k.max(1);
    let x2 = x.reshape((rows, k))?.contiguous()?;
    let y = x2.apply_op2(w, FrozenMatmul)?;
    let mut out = dims;
    let last = out.len() - 1;
    out[last] = w.dim(0)?;
    y.reshape(out)
}

/// RMS norm over the last dimension, then a per-feature scale.
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    let inv = (ms + eps)?.sqrt()?.recip()?;
    x.broadcast_mul(&inv)?.broadcast_mul(weight)
}

/// Softmax over the last dimension.
pub(crate) fn softmax(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    let sum = e.sum_keepdim(D::Minus1)?;
    e.broadcast_div(&sum)
}

/// Cosines and sines `(t, rot/2)` for rotary embeddings (frequency `i` for pair `i`, either layout).
pub(crate) fn rope_tables(
    t: usize,
    rot: usize,
    base: f32,
    dtype: DType,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = rot / 2;
    let mut cos = Vec::with_capacity(t * half);
    let mut sin = Vec::with_capacity(t * half);
    for p in 0..t {
        for i in 0..half {
            let freq = (base as f64).powf(-((2 * i) as f64) / rot as f64);
            let a = p as f64 * freq;
            cos.push(a.cos());
            sin.push(a.sin());
        }
    }
    let cos = Tensor::from_vec(cos, (t, half), device)?.to_dtype(dtype)?;
    let sin = Tensor::from_vec(sin, (t, half), device)?.to_dtype(dtype)?;
    Ok((cos, sin))
}

/// Interleaved RoPE (pairs `2i, 2i+1`, as llama.cpp's "norm" rope type) on `x (b, h, t, d)`.
pub(crate) fn rope_interleaved(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = x.dims4()?;
    let pairs = x.reshape((b, h, t, d / 2, 2))?;
    let x0 = pairs.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?;
    let x1 = pairs.narrow(D::Minus1, 1, 1)?.squeeze(D::Minus1)?;
    let y0 = (x0.broadcast_mul(cos)? - x1.broadcast_mul(sin)?)?;
    let y1 = (x0.broadcast_mul(sin)? + x1.broadcast_mul(cos)?)?;
    Tensor::stack(&[y0, y1], D::Minus1)?.reshape((b, h, t, d))
}

/// NEOX RoPE (pairs `i, i + d/2`, as llama.cpp's NEOX rope type and candle's `rope`) on
/// `x (b, h, t, d)`.
pub(crate) fn rope_neox(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let x0 = x.narrow(D::Minus1, 0, half)?;
    let x1 = x.narrow(D::Minus1, half, half)?;
    let y0 = (x0.broadcast_mul(cos)? - x1.broadcast_mul(sin)?)?;
    let y1 = (x0.broadcast_mul(sin)? + x1.broadcast_mul(cos)?)?;
    Tensor::cat(&[y0, y1], D::Minus1)
}

/// Mean negative log-likelihood of `targets (n,)` under `logits (n, vocab)`, and the sum.
pub(crate) fn cross_entropy_sum(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let picked = shifted.gather(&targets.unsqueeze(1)?, 1)?;
    (lse - picked)?.sum_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_linear_matches_matmul_and_has_input_gradient_only() -> Result<()> {
        let dev = Device::Cpu;
        let x =
            candle_core::Var::from_tensor(&Tensor::arange(0f64, 12., &dev)?.reshape((2, 2, 3))?)?;
        let w = candle_core::Var::from_tensor(&Tensor::arange(0f64, 6., &dev)?.reshape((2, 3))?)?;
        let y = frozen_linear(x.as_tensor(), w.as_tensor())?;
        let want = x.as_tensor().broadcast_matmul(&w.as_tensor().t()?)?;
        assert_eq!(y.to_vec3::<f64>()?, want.to_vec3::<f64>()?);
        let grads = y.sum_all()?.backward()?;
        let gx = grads.get(x.as_tensor()).map(|g| g.to_vec3::<f64>());
        let want_gx = want.sum_all()?.backward()?;
        let want_gx = want_gx.get(x.as_tensor()).map(|g| g.to_vec3::<f64>());
        assert_eq!(gx.transpose()?, want_gx.transpose()?);
        assert!(
            grads.get(w.as_tensor()).is_none(),
            "the frozen weight got a gradient"
        );
        Ok(())
    }

    /// NEOX RoPE is interleaved RoPE with the halves of a head laid out as pairs.
    #[test]
    fn neox_rope_is_interleaved_rope_on_paired_halves() -> Result<()> {
        let dev = Device::Cpu;
        let (t, d) = (3, 8);
        let x = Tensor::arange(0f64, (2 * t * d) as f64, &dev)?
            .sin()?
            .reshape((1, 2, t, d))?;
        let (cos, sin) = rope_tables(t, d, 10_000.0, DType::F64, &dev)?;
        let halves_to_pairs = |z: &Tensor| -> Result<Tensor> {
            let a = z.narrow(D::Minus1, 0, d / 2)?;
            let b = z.narrow(D::Minus1, d / 2, d / 2)?;
            Tensor::stack(&[a, b], D::Minus1)?.reshape((1, 2, t, d))
        };
        let pairs_to_halves = |z: &Tensor| -> Result<Tensor> {
            let p = z.reshape((1, 2, t, d / 2, 2))?;
            let a = p.narrow(D::Minus1, 0, 1)?.squeeze(D::Minus1)?;
            let b = p.narrow(D::Minus1, 1, 1)?.squeeze(D::Minus1)?;
            Tensor::cat(&[a, b], D::Minus1)
        };
        let want = pairs_to_halves(&rope_interleaved(&halves_to_pairs(&x)?, &cos, &sin)?)?;
        let got = rope_neox(&x, &cos, &sin)?;
        let diff = (got - want)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(diff < 1e-12, "max difference {diff}");
        // Position 0 is left alone.
        let first = rope_neox(&x, &cos, &sin)?.narrow(2, 0, 1)?;
        let diff = (first - x.narrow(2, 0, 1)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f64>()?;
        assert!(diff < 1e-12);
        Ok(())
    }

    #[test]
    fn softmax_rows_sum_to_one() -> Result<()> {
        let x = Tensor::new(&[[1f32, 2., 3.], [0., 0., 0.]], &Device::Cpu)?;
        let s = softmax(&x)?.sum(1)?.to_vec1::<f32>()?;
        assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-6));
        Ok(())
    }
}
