#!/usr/bin/env bash
# The main job on a fresh machine: install build tools, build, fetch the default models, then let
# an agent pursue a real goal with the default model on a copy of examples/workspace.
# Extra arguments go to `hamlet run` (e.g. --model FILE.gguf, --max-steps N, --goal "...").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_build_deps
log "building hamlet (release; the first build compiles llama.cpp and takes a while)"
cargo build --release --locked --bin hamlet
hamlet() { cargo run --release --locked --quiet --bin hamlet -- "$@"; }
hamlet models pull qwen2.5-coder-1.5b
hamlet models pull minilm
workspace="$(mktemp -d "${TMPDIR:-/tmp}/hamlet-workspace.XXXXXX")"
cp -R examples/workspace/. "$workspace/"
log "agent workspace: $workspace"
hamlet run --yes --max-steps 6 --workspace "$workspace" \
  --goal "Read notes.txt and write the day of the launch review meeting to answer.txt." "$@"
log "files the agent left: $(ls "$workspace" | tr '\n' ' ')"
