#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hamlet_core::testing::HashEmbedder;
use hamlet_core::{Embedder, SnapshotStream};
use hamlet_memory::MemoryStore;

type OpenResult = Result<Box<dyn SnapshotStream>, Box<dyn std::error::Error + Send + Sync>>;

/// Opens the real memory store (SQLite, tantivy, the embedded vector index) with a hashing
/// embedder: the mechanics tests need no embedding model.
pub fn open_memory(dir: &Path) -> OpenResult {
    open_memory_with(dir, Arc::new(HashEmbedder::new(64)))
}

pub fn open_memory_with(dir: &Path, embedder: Arc<dyn Embedder>) -> OpenResult {
    Ok(Box::new(MemoryStore::open(dir, embedder)?))
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn smallville() -> PathBuf {
    repo().join("worlds/smallville")
}

/// Writes a file, creating its folders.
pub fn write(path: &Path, text: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

/// A corridor town: Home (x 1–3) and Cafe (x 9–11), 5 street tiles between (out of vision 4).
pub fn tiny_world(dir: &Path) {
    write(
        &dir.join("world.toml"),
        r#"name = "Tiny"
map = "map.txt"
agents = "agents"
start = "day 1 07:00"

[legend]
a = "Home:room"
b = "Cafe:room"
"#,
    );
    write(
        &dir.join("map.txt"),
        "#############\n#aaa.....bbb#\n#aaa.....bbb#\n#############\n",
    );
    let persona = |name: &str, home: &str, routine: &str| {
        format!(
            "name = \"{name}\"\nage = 30\noccupation = \"villager\"\nhome = \"{home}\"\nwake = \"07:00\"\nsleep = \"22:00\"\n{routine}"
        )
    };
    write(
        &dir.join("agents/ann.toml"),
        &persona("Ann", "Home:room", ""),
    );
    write(
        &dir.join("agents/ben.toml"),
        &persona(
            "Ben",
            "Home:room",
            "\n[[routine]]\nat = \"07:30\"\nplace = \"Cafe:room\"\nactivity = \"have coffee\"\n",
        ),
    );
    write(
        &dir.join("agents/cal.toml"),
        &persona("Cal", "Cafe:room", ""),
    );
    write(
        &dir.join("scenarios/news.toml"),
        r#"name = "news"
until = "day 1 09:00"
[[topic]]
name = "party"
keywords = ["party"]
[[knowledge]]
agent = "Ann"
topic = "party"
text = "I am hosting a party at the Cafe tonight."
[[check]]
name = "Cal hears of it"
topic = "party"
at-least = 2
exclude = ["Ann"]
"#,
    );
}
