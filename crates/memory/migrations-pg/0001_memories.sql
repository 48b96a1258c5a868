-- The memory stream on PostgreSQL: one table holds the rows, their vectors (pgvector) and their
-- full text (a generated tsvector), all in one transaction, so there is no index to repair.
-- The binary runs this inside its own schema (`hamlet` unless the URL says `?schema=`); the
-- `vector` extension is created beforehand, and the embedding column gets its dimension and its
-- HNSW index when the first store opens (the dimension is the embedder's).
CREATE SEQUENCE memory_ids;

CREATE TABLE memories (
    id            BIGINT   PRIMARY KEY DEFAULT nextval('memory_ids'),
    agent         TEXT     NOT NULL,
    kind          TEXT     NOT NULL,
    text          TEXT     NOT NULL,
    created       BIGINT   NOT NULL,
    last_accessed BIGINT   NOT NULL,
    importance    SMALLINT NOT NULL CHECK (importance BETWEEN 1 AND 10),
    -- unit length; the dimension is set on first open
    embedding     vector   NOT NULL,
    -- the memory ids a reflection rests on
    evidence      BIGINT[] NOT NULL DEFAULT '{}',
    expires       BIGINT,
    metadata      JSONB    NOT NULL DEFAULT '{}',
    tsv           TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);

ALTER SEQUENCE memory_ids OWNED BY memories.id;

CREATE INDEX memories_agent_created ON memories (agent, created);
CREATE INDEX memories_tsv ON memories USING gin (tsv);

-- Facts about the store itself: the embedding dimension and model it was built with.
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
