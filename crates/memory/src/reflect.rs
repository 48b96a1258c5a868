//! Reflection (Generative Agents): when the importance an agent has perceived since its last
//! reflection passes a threshold, it asks itself a few salient questions about its recent
//! memories, recalls memories for each, and writes insights that cite the ids they rest on
//! (kind `Reflection`, `evidence` set). The agent loop and the town call
//! [`MemoryStore::maybe_reflect`] after adding observations.

use hamlet_core::{MemoryId, MemoryKind, NewMemory, RecallQuery, TimeMs};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::prompts::ask_json;
use crate::store::MemoryStore;
use crate::{Error, Result};

/// Reflection settings (the defaults follow Generative Agents).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReflectionConfig {
    /// Reflect when the importance summed since the last reflection reaches this.
    pub threshold: i64,
    /// Recent memories shown when asking for focal questions.
    pub recent: usize,
    pub questions: usize,
    /// Memories recalled per question as evidence.
    pub evidence_per_question: usize,
    pub insights_per_question: usize,
    pub max_tokens: u32,
}

impl Default for ReflectionConfig {
    fn default() -> Self {
        ReflectionConfig {
            threshold: 150,
            recent: 100,
            questions: 3,
            evidence_per_question: 10,
            insights_per_question: 5,
            max_tokens: 512,
        }
    }
}

/// What one reflection produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reflection {
    pub questions: Vec<String>,
    /// The stored insights (kind `Reflection`).
    pub insights: Vec<MemoryId>,
}

impl MemoryStore {
    /// Whether `agent` has perceived enough since its last reflection to reflect now.
    pub fn should_reflect(&self, agent: &str, cfg: &ReflectionConfig) -> Result<bool> {
        Ok(self.importance_since_reflection(agent)? >= cfg.threshold)
    }

    /// Reflects when [`MemoryStore::should_reflect`] says so.
    pub fn maybe_reflect(
        &self,
        agent: &str,
        now: TimeMs,
        cfg: &ReflectionConfig,
    ) -> Result<Option<Reflection>> {
        if self.should_reflect(agent, cfg)? {
            self.reflect(agent, now, cfg).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Asks focal questions about `agent`'s recent memories, recalls evidence for each, stores
    /// the insights with their evidence ids and resets the agent's reflection counter. Needs the
    /// store to have been opened with an LLM.
    pub fn reflect(&self, agent: &str, now: TimeMs, cfg: &ReflectionConfig) -> Result<Reflection> {
        let llm = self.llm().cloned().ok_or_else(|| {
            Error::Invalid("reflection needs an LLM: open the store with `MemoryStore::open_with(.., Some(llm), ..)`".into())
        })?;
        let recent_ids = self
            .db
            .newest(Some(agent), &[], None, None, now, cfg.recent)?;
        let mut recent = self.get_many(&recent_ids)?;
        recent.sort_by_key(|r| (r.created, r.id));
        if recent.is_empty() {
            self.db.reset_reflection(agent, now)?;
            return Ok(Reflection {
                questions: Vec::new(),
                insights: Vec::new(),
            });
        }
        let texts: Vec<&str> = recent.iter().map(|r| r.text.as_str()).collect();
        let schema = json!({
            "type": "object",
            "properties": {"questions": {
                "type": "array", "minItems": 1, "maxItems": cfg.questions.max(1),
                "items": {"type": "string", "minLength": 1}
            }},
            "required": ["questions"]
        });
        let ctx = minijinja::context! { agent, memories => texts, count => cfg.questions };
        let reply = ask_json(
            llm.as_ref(),
            &self.prompts,
            "reflect_questions.j2",
            ctx,
            schema,
            cfg.max_tokens,
        )?;
        let questions: Vec<String> = reply["questions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|q| q.as_str().map(str::trim).filter(|q| !q.is_empty()))
                    .map(String::from)
                    .take(cfg.questions.max(1))
                    .collect()
            })
            .unwrap_or_default();
        let mut new = Vec::new();
        for question in &questions {
            let evidence = self.recall(
                &RecallQuery::new(question.clone(), cfg.evidence_per_question, now).agent(agent),
            )?;
            if evidence.is_empty() {
                continue;
            }
            let statements: Vec<&str> = evidence.iter().map(|r| r.record.text.as_str()).collect();
            let schema = json!({
                "type": "object",
                "properties": {"insights": {
                    "type": "array", "minItems": 1, "maxItems": cfg.insights_per_question.max(1),
                    "items": {
                        "type": "object",
                        "properties": {
                            "insight": {"type": "string", "minLength": 1},
                            "because": {"type": "array", "items": {"type": "integer"}}
                        },
                        "required": ["insight", "because"]
                    }
                }},
                "required": ["insights"]
            });
            let ctx = minijinja::context! {
                agent, question, memories => statements, count => cfg.insights_per_question
            };
            let reply = ask_json(
                llm.as_ref(),
                &self.prompts,
                "reflect_insights.j2",
                ctx,
                schema,
                cfg.max_tokens,
            )?;
            for item in reply["insights"].as_array().into_iter().flatten() {
                let Some(text) = item["insight"]
                    .as_str()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                else {
                    continue;
                };
                // "because" numbers statements from 1; ignore numbers that name none.
                let mut ids: Vec<MemoryId> = item["because"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_u64())
                    .filter_map(|n| evidence.get((n as usize).checked_sub(1)?))
                    .map(|r| r.record.id)
                    .collect();
                ids.dedup();
                if ids.is_empty() {
                    ids = evidence.iter().map(|r| r.record.id).collect();
                }
                let mut m = NewMemory::new(agent, MemoryKind::Reflection, text, now).evidence(ids);
                m.metadata.insert("question".into(), json!(question));
                new.push(m);
            }
        }
        let insights = self.add_batch(new)?;
        self.db.reset_reflection(agent, now)?;
        tracing::info!(
            agent,
            questions = questions.len(),
            insights = insights.len(),
            "reflected"
        );
        Ok(Reflection {
            questions,
            insights,
        })
    }
}
