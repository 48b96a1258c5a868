#!/usr/bin/env bash
# The whole test suite on a fresh machine: build tools, default models, then every test.
# Real-model tests use one llama.cpp thread so that a busy machine does not stall them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_build_deps
ensure_browser
ensure_mcp_servers
ensure_postgres
export HAMLET_THREADS="${HAMLET_THREADS:-1}"
# Quiet OpenMP spinning: a busy machine otherwise stalls llama.cpp (see docs/BENCHMARKS.md).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
cargo build --release --locked --bin hamlet
hamlet() { cargo run --release --locked --quiet --bin hamlet -- "$@"; }
hamlet models pull qwen2.5-coder-1.5b
hamlet models pull smollm2-135m
hamlet models pull minilm
hamlet models pull bfcl
cargo test --release --locked --workspace "$@"
