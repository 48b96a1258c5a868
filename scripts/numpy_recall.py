"""The numpy baseline of `hamlet bench memory --numpy`: Generative Agents' retrieval scoring
(recency x importance x relevance over an agent's whole memory stream, each min-max normalised,
then the top k), written the obvious vectorised way.

Run through scripts/numpy-baseline.sh, which makes its virtual environment. It reads the data the
benchmark wrote into DIR (meta.json and raw little-endian arrays), times every query over one
agent's memories and over all of them, and prints one JSON object.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np


def load(d: Path):
    meta = json.loads((d / "meta.json").read_text())
    n, dim, q = meta["count"], meta["dim"], meta["queries"]
    vectors = np.fromfile(d / "vectors.f32", dtype="<f4").reshape(n, dim)
    agents = np.fromfile(d / "agents.i32", dtype="<i4")
    importance = np.fromfile(d / "importance.u8", dtype=np.uint8).astype(np.float32)
    last = np.fromfile(d / "last_accessed.i64", dtype="<i8")
    queries = np.fromfile(d / "queries.f32", dtype="<f4").reshape(q, dim)
    query_agents = np.fromfile(d / "query_agents.i32", dtype="<i4")
    return meta, vectors, agents, importance, last, queries, query_agents


def minmax(x):
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi - lo > 1e-9 else np.ones_like(x)


def top_k(vectors, importance, last, query, now, k, decay, w):
    hours = np.maximum(now - last, 0) / 3_600_000.0
    recency = np.power(decay, hours, dtype=np.float64).astype(np.float32)
    relevance = vectors @ query
    score = (
        w["recency"] * minmax(recency)
        + w["importance"] * minmax((importance - 1.0) / 9.0)
        + w["relevance"] * minmax(relevance)
    )
    idx = np.argpartition(-score, k)[:k] if len(score) > k else np.arange(len(score))
    return idx[np.argsort(-score[idx])]


def pct(ms):
    ms = sorted(ms)
    return ms[len(ms) // 2], ms[min(len(ms) * 99 // 100, len(ms) - 1)]


def main():
    d = Path(sys.argv[1])
    meta, vectors, agents, importance, last, queries, query_agents = load(d)
    now, k, decay, w = meta["now"], meta["k"], meta["decay_per_hour"], meta["weights"]
    # Each agent's stream as its own arrays, as Generative Agents keeps one per agent: the split
    # is not timed.
    streams = {}
    for a in np.unique(agents):
        m = agents == a
        streams[int(a)] = (vectors[m], importance[m], last[m])
    out = {"numpy": np.__version__}
    for name, pick in (
        ("one_agent", lambda i: streams[int(query_agents[i])]),
        ("all", lambda i: (vectors, importance, last)),
    ):
        ms = []
        for i, qv in enumerate(queries):
            v, imp, la = pick(i)
            t = time.perf_counter()
            top_k(v, imp, la, qv, now, k, decay, w)
            ms.append((time.perf_counter() - t) * 1e3)
        out[name] = dict(zip(("p50_ms", "p99_ms"), pct(ms)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
