//! Reading GGUF headers and writing llama.cpp LoRA adapters.
//!
//! Shapes: candle writes a tensor's dimensions reversed, so a candle tensor of
//! shape `(rows, cols)` becomes a ggml tensor with `ne = [cols, rows]`.
//! llama.cpp (`src/llama-adapter.cpp`) wants, for a base weight with
//! `ne = [in, out]`, `lora_a` with `ne = [in, r]` and `lora_b` with
//! `ne = [r, out]`: so `lora_a` is a candle `(r, in)` tensor and `lora_b` a
//! candle `(out, r)` tensor.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Tensor};

use crate::fetch::PartFile;
use crate::{Error, Result};

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// A parsed GGUF header.
#[derive(Debug)]
pub struct GgufInfo {
    /// `general.architecture`, if present.
    pub architecture: Option<String>,
    /// Metadata and tensor infos as read by candle.
    pub content: Content,
}

impl GgufInfo {
    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// A string metadata value.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// A tensor's dimensions in ggml order (`ne[0]` first) and its type.
    pub fn tensor_ggml_dims(&self, name: &str) -> Option<(Vec<usize>, GgmlDType)> {
        self.content.tensor_infos.get(name).map(|ti| {
            let mut dims = ti.shape.dims().to_vec();
            dims.reverse();
            (dims, ti.ggml_dtype)
        })
    }
}

/// Fails with a clear error unless `path` starts with the GGUF magic.
pub fn check_gguf_magic(path: &Path) -> Result<()> {
    let mut file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    if got == 4 && &magic == GGUF_MAGIC {
        return Ok(());
    }
    let shown = if got == 0 {
        "none: empty file".to_string()
    } else {
        let bytes = &magic[..got];
        format!(
            "{:?} = 0x{}",
            String::from_utf8_lossy(bytes),
            hex::encode(bytes)
        )
    };
    Err(Error::NotGguf {
        path: path.to_path_buf(),
        magic: shown,
    })
}

/// Reads the header (metadata and tensor infos, not the data) of a GGUF file.
pub fn gguf_metadata(path: &Path) -> Result<GgufInfo> {
    check_gguf_magic(path)?;
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut reader = std::io::BufReader::new(file);
    let content = Content::read(&mut reader)?;
    let architecture = match content.metadata.get("general.architecture") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(GgufInfo {
        architecture,
        content,
    })
}

/// Writes a llama.cpp LoRA adapter: metadata `general.architecture = arch`,
/// `general.type = "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha`
/// (F32), and every tensor as F32. Names must end in `.lora_a` (candle shape
/// `(r, in)`) or `.lora_b` (candle shape `(out, r)`), in matching pairs, e.g.
/// `blk.0.attn_q.weight.lora_a`. The file is written atomically.
pub fn write_lora_adapter(
    path: &Path,
    arch: &str,
    alpha: f32,
    tensors: &[(String, Tensor)],
) -> Result<()> {
    let mut pairs: HashMap<&str, [Option<&Tensor>; 2]> = HashMap::new();
    for (name, t) in tensors {
        let (base, slot) = if let Some(b) = name.strip_suffix(".lora_a") {
            (b, 0)
        } else if let Some(b) = name.strip_suffix(".lora_b") {
            (b, 1)
        } else {
            return Err(Error::Unsupported(format!(
                "adapter tensor '{name}' must end in .lora_a or .lora_b"
            )));
        };
        if t.rank() != 2 {
            return Err(Error::Unsupported(format!(
                "adapter tensor '{name}' has shape {:?}, expected 2 dimensions",
                t.dims()
            )));
        }
        let entry = pairs.entry(base).or_default();
        if entry[slot].replace(t).is_some() {
            return Err(Error::Unsupported(format!(
                "adapter tensor '{name}' appears twice"
            )));
        }
    }
    for (base, [a, b]) in &pairs {
        let (Some(a), Some(b)) = (a, b) else {
            return Err(Error::Unsupported(format!(
                "adapter weight '{base}' needs both .lora_a and .lora_b"
            )));
        };
        // a: (r, in), b: (out, r)
        if a.dims()[0] != b.dims()[1] {
            return Err(Error::Unsupported(format!(
                "adapter weight '{base}': lora_a {:?} and lora_b {:?} disagree on the rank",
                a.dims(),
                b.dims()
            )));
        }
    }
    let mut qtensors = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.to_dtype(DType::F32)?.contiguous()?;
        qtensors.push((name.as_str(), QTensor::quantize(&t, GgmlDType::F32)?));
    }
    let metadata = [
        ("general.architecture", Value::String(arch.to_string())),
        ("general.type", Value::String("adapter".into())),
        ("adapter.type", Value::String("lora".into())),
        ("adapter.lora.alpha", Value::F32(alpha)),
    ];
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = qtensors.iter().map(|(k, t)| (*k, t)).collect();
    let mut buf = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut buf, &md, &ts)?;
    let mut part = PartFile::create(path)?;
    std::io::Write::write_all(&mut part, buf.get_ref()).map_err(|e| Error::io("write", path, e))?;
    part.finish(&path.display().to_string(), None)?;
    tracing::debug!(path = %path.display(), tensors = ts.len(), "wrote LoRA adapter");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn lora_adapter_round_trip() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
        let path = dir.path().join("a.gguf");
        let (r, d_in, d_out) = (4usize, 64usize, 96usize);
        let a = Tensor::ones((r, d_in), DType::F32, &Device::Cpu)?;
        let b = Tensor::zeros((d_out, r), DType::F32, &Device::Cpu)?;
        let tensors = vec![
            ("blk.0.attn_q.weight.lora_a".to_string(), a),
            ("blk.0.attn_q.weight.lora_b".to_string(), b),
        ];
        write_lora_adapter(&path, "llama", 8.0, &tensors)?;
        let info = gguf_metadata(&path)?;
        assert_eq!(info.architecture.as_deref(), Some("llama"));
        assert_eq!(info.get_str("general.type"), Some("adapter"));
        assert_eq!(info.get_str("adapter.type"), Some("lora"));
        assert!(matches!(info.get("adapter.lora.alpha"), Some(Value::F32(x)) if *x == 8.0));
        assert_eq!(
            info.tensor_ggml_dims("blk.0.attn_q.weight.lora_a"),
            Some((vec![d_in, r], GgmlDType::F32))
        );
        assert_eq!(
            info.tensor_ggml_dims("blk.0.attn_q.weight.lora_b"),
            Some((vec![r, d_out], GgmlDType::F32))
        );
        // The data reads back too.
        let mut f =
            std::io::BufReader::new(File::open(&path).map_err(|e| Error::io("open", &path, e))?);
        let qa = info
            .content
            .tensor(&mut f, "blk.0.attn_q.weight.lora_a", &Device::Cpu)?;
        let sum = qa.dequantize(&Device::Cpu)?.sum_all()?.to_scalar::<f32>()?;
        assert_eq!(sum, (r * d_in) as f32);
        Ok(())
    }

    #[test]
    fn lora_adapter_rejects_bad_input() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "/tmp", e))?;
        let path = dir.path().join("a.gguf");
        let a = Tensor::ones((4, 8), DType::F32, &Device::Cpu)?;
        let b = Tensor::ones((8, 3), DType::F32, &Device::Cpu)?;
        let mismatched = vec![
            ("x.lora_a".to_string(), a.clone()),
            ("x.lora_b".to_string(), b),
        ];
        assert!(write_lora_adapter(&path, "llama", 1.0, &mismatched).is_err());
        assert!(
            write_lora_adapter(&path, "llama", 1.0, &[("x.lora_a".to_string(), a.clone())])
                .is_err()
        );
        assert!(write_lora_adapter(&path, "llama", 1.0, &[("x".to_string(), a)]).is_err());
        assert!(!path.exists());
        Ok(())
    }

    #[test]
    fn non_gguf_files_get_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.bin");
        std::fs::write(&path, b"PK\x03\x04rest").expect("write");
        let msg = gguf_metadata(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("is not a GGUF file (magic"), "{msg}");
        assert!(msg.contains("504b0304"), "{msg}");
    }
}
