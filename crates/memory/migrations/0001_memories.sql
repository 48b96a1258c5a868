-- The memory stream: SQLite is the source of truth; the vector and BM25 indexes are rebuilt from it.
CREATE TABLE memories (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    agent         TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    created       INTEGER NOT NULL,
    last_accessed INTEGER NOT NULL,
    importance    INTEGER NOT NULL CHECK (importance BETWEEN 1 AND 10),
    -- little-endian f32s, unit length
    embedding     BLOB    NOT NULL,
    -- JSON array of memory ids a reflection rests on
    evidence      TEXT    NOT NULL DEFAULT '[]',
    expires       INTEGER,
    -- JSON object
    metadata      TEXT    NOT NULL DEFAULT '{}'
);

CREATE INDEX memories_agent_created ON memories (agent, created);

-- Facts about the store itself: the embedding dimension and model it was built with.
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Reflection bookkeeping per agent: importance summed since the last reflection.
CREATE TABLE reflection_state (
    agent           TEXT PRIMARY KEY,
    since_last      INTEGER NOT NULL DEFAULT 0,
    last_reflection INTEGER
);
