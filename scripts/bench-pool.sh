#!/bin/bash
# Affinity against round-robin on a pool of two `hamlet serve` processes (SmolLM2-135M, 1 thread
# each), the same 12-agent town through each (docs/BENCHMARKS.md, "A pool of servers").
# Build first: cargo build --release; HAMLET_BIN overrides the binary.
export OMP_WAIT_POLICY=passive
B="${HAMLET_BIN:-${CARGO_TARGET_DIR:-target}/release/hamlet}"
cd "$(dirname "$0")/.."
for routing in affinity round-robin; do
  for p in 18091 18092; do $B serve --model smollm2-135m --port $p --threads 1 --parallel 8 > /dev/null 2>&1 & done
  sleep 6
  rm -rf "/tmp/aff-$routing"
  $B sim worlds/smallville --scenario valentines --agents 12 --until "day 1 09:00" --seed 42 --run-dir "/tmp/aff-$routing" -q \
     --model smollm2-135m --server http://127.0.0.1:18091/v1 --server http://127.0.0.1:18092/v1 --routing $routing 2>&1 | grep -E "wall time per|tokens prompt|model calls|server "
  kill $(jobs -p) 2>/dev/null; wait; sleep 1
done
