//! The BM25 full-text index (tantivy), beside SQLite.
//!
//! Each memory is one document: its id, agent, kind, created and expiry times (indexed and fast,
//! so filters run inside tantivy) and its text (English stemming, stop words removed). The
//! watermark, the highest memory id the index holds, is stored in tantivy's commit payload, so it
//! is committed atomically with the documents.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hamlet_core::{MemoryId, MemoryKind, MemoryRecord, RecallQuery, TimeMs};
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STRING,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader, TantivyDocument,
    Term,
};

use crate::index::DerivedIndex;
use crate::{Error, Result};

const TOKENIZER: &str = "hamlet_en";

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    agent: Field,
    kind: Field,
    created: Field,
    expires: Field,
    text: Field,
}

/// The BM25 index of a store.
pub(crate) struct TextIndex {
    index: Index,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    f: Fields,
    path: PathBuf,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let f = Fields {
        id: b.add_i64_field("id", INDEXED | FAST),
        agent: b.add_text_field("agent", STRING),
        kind: b.add_text_field("kind", STRING),
        created: b.add_i64_field("created", INDEXED | FAST),
        expires: b.add_i64_field("expires", INDEXED | FAST),
        text: b.add_text_field("text", text_opts),
    };
    (b.build(), f)
}

fn analyzer() -> TextAnalyzer {
    let mut b = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    if let Some(stop) = StopWordFilter::new(Language::English) {
        b = b.filter_dynamic(stop);
    }
    b.filter_dynamic(Stemmer::new(Language::English)).build()
}

impl TextIndex {
    /// Opens (or creates) the index in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let err = |context: &str| {
            let (path, context) = (dir.to_path_buf(), context.to_string());
            move |source| Error::Text {
                path,
                context,
                source,
            }
        };
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            context: "creating the BM25 index directory".into(),
            source: e,
        })?;
        let (schema, f) = schema();
        let mmap = MmapDirectory::open(dir)
            .map_err(tantivy::TantivyError::from)
            .map_err(err("opening the directory"))?;
        let index = Index::open_or_create(mmap, schema).map_err(err("opening"))?;
        index.tokenizers().register(TOKENIZER, analyzer());
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(2);
        let writer = index
            .writer_with_num_threads(threads, 64 << 20)
            .map_err(err(
                "opening the writer (is another process using this store?)",
            ))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err("opening a reader"))?;
        Ok(TextIndex {
            index,
            writer: Mutex::new(writer),
            reader,
            f,
            path: dir.to_path_buf(),
        })
    }

    fn err(&self, context: &str) -> impl FnOnce(tantivy::TantivyError) -> Error + '_ {
        let context = context.to_string();
        move |source| Error::Text {
            path: self.path.clone(),
            context,
            source,
        }
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, IndexWriter>> {
        self.writer.lock().map_err(|_| Error::Text {
            path: self.path.clone(),
            context: "writer lock".into(),
            source: tantivy::TantivyError::InternalError("poisoned by a panic".into()),
        })
    }

    /// The `k` best BM25 matches for `text` among documents passing the filter of `filter`
    /// ([`RecallQuery::matches`], translated into tantivy queries), best first.
    pub fn search(
        &self,
        text: &str,
        filter: &RecallQuery,
        k: usize,
    ) -> Result<Vec<(MemoryId, f32)>> {
        let mut terms: Vec<Term> = Vec::new();
        let mut analyzer = self
            .index
            .tokenizer_for_field(self.f.text)
            .map_err(self.err("finding the tokenizer"))?;
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            let t = Term::from_field_text(self.f.text, &stream.token().text);
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
        if terms.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(BooleanQuery::new_multiterms_query(terms)),
        )];
        let mut filter_q = |q: Box<dyn Query>| {
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(q, 0.0))));
        };
        let term_q = |field: Field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            ))
        };
        if let Some(a) = &filter.agent {
            filter_q(term_q(self.f.agent, a));
        }
        if !filter.kinds.is_empty() {
            let any: Vec<(Occur, Box<dyn Query>)> = filter
                .kinds
                .iter()
                .map(|k: &MemoryKind| (Occur::Should, term_q(self.f.kind, k.as_str())))
                .collect();
            filter_q(Box::new(BooleanQuery::new(any)));
        }
        if filter.after.is_some() || filter.before.is_some() {
            let lo = filter.after.map_or(Bound::Unbounded, |t| {
                Bound::Included(Term::from_field_i64(self.f.created, t))
            });
            let hi = filter.before.map_or(Bound::Unbounded, |t| {
                Bound::Excluded(Term::from_field_i64(self.f.created, t))
            });
            filter_q(Box::new(RangeQuery::new(lo, hi)));
        }
        // "Never expires" is indexed as the largest time.
        filter_q(Box::new(RangeQuery::new(
            Bound::Excluded(Term::from_field_i64(self.f.expires, filter.now)),
            Bound::Unbounded,
        )));
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        // Ranked by (score, id) in one pass, so equal scores are ordered by id (newest first)
        // rather than by where a document happens to sit in the segments: a repaired index, a
        // rebuilt one and one restored from a snapshot then answer the same.
        let by_score_then_id = TopDocs::with_limit(k).tweak_score(|segment: &SegmentReader| {
            let ids = segment
                .fast_fields()
                .i64("id")
                .ok()
                .map(|c| c.first_or_default_col(0));
            move |doc: DocId, score: Score| (score, ids.as_ref().map_or(0, |c| c.get_val(doc)))
        });
        let top = searcher
            .search(&query, &by_score_then_id)
            .map_err(self.err("searching"))?;
        let mut out: Vec<(MemoryId, f32)> = top
            .into_iter()
            .filter(|((_, id), _)| *id > 0)
            .map(|((score, id), _)| (id, score))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
        out.truncate(k);
        Ok(out)
    }
}

impl DerivedIndex for TextIndex {
    fn describe(&self) -> String {
        format!("tantivy BM25 ({})", self.path.display())
    }

    /// Adds or replaces documents (visible to searches after the next commit).
    fn apply(&self, records: &[MemoryRecord]) -> Result<()> {
        let w = self.writer()?;
        for r in records {
            w.delete_term(Term::from_field_i64(self.f.id, r.id));
            let mut doc = TantivyDocument::new();
            doc.add_i64(self.f.id, r.id);
            doc.add_text(self.f.agent, &r.agent);
            doc.add_text(self.f.kind, r.kind.as_str());
            doc.add_i64(self.f.created, r.created);
            doc.add_i64(self.f.expires, r.expires.unwrap_or(TimeMs::MAX));
            doc.add_text(self.f.text, &r.text);
            w.add_document(doc).map_err(self.err("adding a document"))?;
        }
        Ok(())
    }

    /// Commits with `watermark` as tantivy's commit payload and makes the changes searchable.
    fn commit(&self, watermark: MemoryId) -> Result<()> {
        let mut w = self.writer()?;
        let mut prepared = w.prepare_commit().map_err(self.err("preparing a commit"))?;
        prepared.set_payload(&watermark.to_string());
        prepared.commit().map_err(self.err("committing"))?;
        drop(w);
        self.reader
            .reload()
            .map_err(self.err("reloading the reader"))
    }

    /// The watermark of the last commit (0 for a new index).
    fn watermark(&self) -> Result<MemoryId> {
        let metas = self
            .index
            .load_metas()
            .map_err(self.err("reading metadata"))?;
        Ok(metas
            .payload
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Removes every document and commits watermark 0.
    fn clear(&self) -> Result<()> {
        self.writer()?
            .delete_all_documents()
            .map_err(self.err("clearing"))?;
        self.commit(0)
    }

    fn len(&self) -> Result<usize> {
        Ok(usize::try_from(self.reader.searcher().num_docs()).unwrap_or(usize::MAX))
    }
}
