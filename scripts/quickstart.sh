#!/usr/bin/env bash
# The main job on a fresh machine: install build tools, build, fetch the default models, run.
# Extra arguments go to `hamlet demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_build_deps
log "building hamlet (release; the first build compiles llama.cpp and takes a while)"
cargo build --release --locked --bin hamlet
hamlet() { cargo run --release --locked --quiet --bin hamlet -- "$@"; }
hamlet models pull smollm2-135m
hamlet models pull minilm
hamlet demo "$@"
