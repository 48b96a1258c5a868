//! The vector index on a Qdrant server (or cluster), for stores that outgrow one machine.
//!
//! Points carry `agent`, `kind`, `created` and `expires` in their payload (indexed, so filters
//! are served by Qdrant's payload indexes); the watermark lives in a one-point side collection
//! `<collection>__hamlet_meta`. Upserts wait for the server's acknowledgement, which Qdrant gives
//! after its write-ahead log, so `commit` only has to record the watermark.

use std::collections::HashMap;

use hamlet_core::{MemoryId, TimeMs};
use qdrant_client::qdrant::{
    value::Kind, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter,
    GetPointsBuilder, PointId, PointStruct, PointsIdsList, Range, SearchPointsBuilder,
    UpsertPointsBuilder, Value, VectorParamsBuilder,
};
use qdrant_client::Qdrant;

use hamlet_core::{MemoryRecord, RecallQuery};

use super::{points, VectorIndex, VectorPoint};
use crate::index::DerivedIndex;
use crate::rt::Runtime;
use crate::{Error, Result};

/// A [`VectorIndex`] on a Qdrant server.
pub struct QdrantIndex {
    client: Qdrant,
    url: String,
    collection: String,
    dim: usize,
    rt: Runtime,
}

impl std::fmt::Debug for QdrantIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantIndex")
            .field("url", &self.url)
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

impl QdrantIndex {
    /// Connects to the server at `url` (gRPC, e.g. `http://localhost:6334`) and creates the
    /// collection (cosine distance, `dim`-long vectors, payload indexes) when it is missing.
    pub fn connect(url: &str, collection: &str, dim: usize) -> Result<Self> {
        Self::connect_with(url, collection, dim, Runtime::new()?)
    }

    pub(crate) fn connect_with(
        url: &str,
        collection: &str,
        dim: usize,
        rt: Runtime,
    ) -> Result<Self> {
        let client = Qdrant::from_url(url)
            .skip_compatibility_check()
            .build()
            .map_err(|e| Error::vector(format!("qdrant {url}"), format!("cannot connect: {e}")))?;
        let index = QdrantIndex {
            client,
            url: url.to_string(),
            collection: collection.to_string(),
            dim,
            rt,
        };
        index.ensure_collections()?;
        Ok(index)
    }

    fn meta_collection(&self) -> String {
        format!("{}__hamlet_meta", self.collection)
    }

    fn err(&self, doing: &str) -> impl Fn(qdrant_client::QdrantError) -> Error + '_ {
        let doing = doing.to_string();
        move |e| {
            Error::vector(
                self.describe(),
                format!("{doing}: {e} (is the server at {} running?)", self.url),
            )
        }
    }

    fn ensure_collections(&self) -> Result<()> {
        let c = &self.client;
        let (name, meta) = (self.collection.clone(), self.meta_collection());
        self.rt.block(async {
            if !c
                .collection_exists(&name)
                .await
                .map_err(self.err("checking the collection"))?
            {
                c.create_collection(
                    CreateCollectionBuilder::new(&name).vectors_config(VectorParamsBuilder::new(
                        self.dim as u64,
                        Distance::Cosine,
                    )),
                )
                .await
                .map_err(self.err("creating the collection"))?;
                for (field, ty) in [
                    ("agent", FieldType::Keyword),
                    ("kind", FieldType::Keyword),
                    ("created", FieldType::Integer),
                    ("expires", FieldType::Integer),
                ] {
                    c.create_field_index(
                        CreateFieldIndexCollectionBuilder::new(&name, field, ty).wait(true),
                    )
                    .await
                    .map_err(self.err("creating a payload index"))?;
                }
            }
            if !c
                .collection_exists(&meta)
                .await
                .map_err(self.err("checking the meta collection"))?
            {
                c.create_collection(
                    CreateCollectionBuilder::new(&meta)
                        .vectors_config(VectorParamsBuilder::new(1, Distance::Dot)),
                )
                .await
                .map_err(self.err("creating the meta collection"))?;
            }
            Ok(())
        })
    }

    /// [`RecallQuery::matches`] as a Qdrant filter.
    fn filter(f: &RecallQuery) -> Filter {
        let mut must = Vec::new();
        if let Some(a) = &f.agent {
            must.push(Condition::matches("agent", a.clone()));
        }
        if !f.kinds.is_empty() {
            let kinds: Vec<String> = f.kinds.iter().map(|k| k.as_str().to_string()).collect();
            must.push(Condition::matches("kind", kinds));
        }
        if f.after.is_some() || f.before.is_some() {
            must.push(Condition::range(
                "created",
                Range {
                    gte: f.after.map(|t| t as f64),
                    lt: f.before.map(|t| t as f64),
                    ..Default::default()
                },
            ));
        }
        must.push(Condition::range(
            "expires",
            Range {
                gt: Some(f.now as f64),
                ..Default::default()
            },
        ));
        Filter::must(must)
    }
}

fn payload(p: &VectorPoint) -> HashMap<&'static str, Value> {
    HashMap::from([
        ("agent", Value::from(p.agent.clone())),
        ("kind", Value::from(p.kind.as_str().to_string())),
        ("created", Value::from(p.created)),
        // "never" is stored as i64::MAX so a range filter serves expiry.
        ("expires", Value::from(p.expires.unwrap_or(TimeMs::MAX))),
    ])
}

fn id_of(id: &Option<PointId>) -> Option<MemoryId> {
    match id.as_ref()?.point_id_options.as_ref()? {
        qdrant_client::qdrant::point_id::PointIdOptions::Num(n) => Some(*n as MemoryId),
        _ => None,
    }
}

impl DerivedIndex for QdrantIndex {
    fn describe(&self) -> String {
        format!("qdrant {} collection {:?}", self.url, self.collection)
    }

    fn apply(&self, records: &[MemoryRecord]) -> Result<()> {
        self.upsert(&points(records))
    }

    fn commit(&self, watermark: MemoryId) -> Result<()> {
        let point = PointStruct::new(
            1u64,
            vec![0.0f32],
            HashMap::from([("watermark", Value::from(watermark))]),
        );
        self.rt
            .block(self.client.upsert_points(
                UpsertPointsBuilder::new(self.meta_collection(), vec![point]).wait(true),
            ))
            .map_err(self.err("recording the watermark"))?;
        Ok(())
    }

    fn watermark(&self) -> Result<MemoryId> {
        let res = self
            .rt
            .block(
                self.client.get_points(
                    GetPointsBuilder::new(self.meta_collection(), vec![PointId::from(1u64)])
                        .with_payload(true),
                ),
            )
            .map_err(self.err("reading the watermark"))?;
        Ok(res
            .result
            .first()
            .and_then(|p| match &p.get("watermark").kind {
                Some(Kind::IntegerValue(n)) => Some(*n),
                _ => None,
            })
            .unwrap_or(0))
    }

    fn clear(&self) -> Result<()> {
        let (name, meta) = (self.collection.clone(), self.meta_collection());
        self.rt
            .block(async {
                self.client.delete_collection(name).await?;
                self.client.delete_collection(meta).await
            })
            .map_err(self.err("dropping the collection"))?;
        self.ensure_collections()
    }

    fn len(&self) -> Result<usize> {
        let res = self
            .rt
            .block(
                self.client
                    .count(CountPointsBuilder::new(&self.collection).exact(true)),
            )
            .map_err(self.err("counting points"))?;
        Ok(res.result.map(|r| r.count as usize).unwrap_or(0))
    }
}

impl VectorIndex for QdrantIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn upsert(&self, points: &[VectorPoint]) -> Result<()> {
        if let Some(p) = points
            .iter()
            .find(|p| p.id <= 0 || p.vector.len() != self.dim)
        {
            return Err(Error::Invalid(format!(
                "memory {} cannot go to Qdrant: ids must be positive and vectors {}-long (got {})",
                p.id,
                self.dim,
                p.vector.len()
            )));
        }
        for chunk in points.chunks(256) {
            let structs: Vec<PointStruct> = chunk
                .iter()
                .map(|p| PointStruct::new(p.id as u64, p.vector.clone(), payload(p)))
                .collect();
            self.rt
                .block(
                    self.client.upsert_points(
                        UpsertPointsBuilder::new(&self.collection, structs).wait(true),
                    ),
                )
                .map_err(self.err("upserting points"))?;
        }
        Ok(())
    }

    fn delete(&self, ids: &[MemoryId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<PointId> = ids
            .iter()
            .map(|&i| PointId::from(i.max(0) as u64))
            .collect();
        self.rt
            .block(
                self.client.delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(PointsIdsList { ids })
                        .wait(true),
                ),
            )
            .map_err(self.err("deleting points"))?;
        Ok(())
    }

    fn search(&self, query: &[f32], f: &RecallQuery, k: usize) -> Result<Vec<(MemoryId, f32)>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let req = SearchPointsBuilder::new(&self.collection, query.to_vec(), k as u64)
            .filter(Self::filter(f));
        let res = self
            .rt
            .block(self.client.search_points(req))
            .map_err(self.err("searching"))?;
        Ok(res
            .result
            .iter()
            .filter_map(|p| Some((id_of(&p.id)?, p.score)))
            .collect())
    }
}
