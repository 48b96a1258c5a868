//! What the town asks its model, as types.
//!
//! Each kind of decision an agent needs is a [`Decision`]: a context struct (exactly what its
//! prompt template shows) and a `Reply` struct that derives both its JSON Schema (schemars) and its
//! parsing (serde), so the grammar the model is held to and the parser of its answer cannot drift.
//! A step collects one [`Ask`] per agent that needs a decision and hands them, as one batch, to a
//! [`TownModel`]: [`LlmTownModel`] renders the prompts, decodes them in one
//! [`Llm::generate_batch`] and parses each reply into a [`Reply`]; the stand-in
//! [`crate::testing::TownFake`] answers from the typed contexts directly.

use hamlet_core::{GenerateRequest, Llm, Result, TokenUsage};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A kind of decision: its prompt template, its context and the shape of its reply.
pub trait Decision: Serialize {
    type Reply: JsonSchema + DeserializeOwned + Serialize;
    /// The template in `prompts/town/` that renders this context.
    const TEMPLATE: &'static str;
    /// Enough tokens for the longest valid reply.
    const MAX_TOKENS: u32;
    /// The reply's schema, narrowed to this agent's choices where it has a closed set.
    fn schema(&self) -> Value {
        hamlet_core::schema_of::<Self::Reply>()
    }
}

/// Implements [`Decision`] for an ask: its reply, its template and its token budget.
macro_rules! decision {
    ($ask:ty => $reply:ty, $template:literal, $max_tokens:literal) => {
        impl Decision for $ask {
            type Reply = $reply;
            const TEMPLATE: &'static str = $template;
            const MAX_TOKENS: u32 = $max_tokens;
        }
    };
}

/// When and where a decision is made, and what the agent recalled for it: the part of the prompt
/// that most decisions share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scene {
    pub time: String,
    pub here: String,
    pub memories: Vec<String>,
}

/// One line of a day's routine, as the plan prompt shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutineLine {
    pub at: String,
    pub place: String,
    pub activity: String,
}

/// A plan for the day at wake-up, shown the routine and what is on the agent's mind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanDay {
    pub time: String,
    pub routine: Vec<RoutineLine>,
    pub memories: Vec<String>,
    /// The arenas a plan item may name.
    #[serde(skip)]
    pub places: Vec<String>,
    /// The hours (`HH:00`) of the agent's waking day a plan item may start at.
    #[serde(skip)]
    pub hours: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanDayReply {
    /// Changes to the routine; an empty plan keeps it.
    #[schemars(length(max = 4))]
    pub plan: Vec<PlanEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanEntry {
    #[schemars(length(min = 3, max = 60))]
    pub activity: String,
    pub place: String,
    pub time: String,
}

impl Decision for PlanDay {
    type Reply = PlanDayReply;
    const TEMPLATE: &'static str = "plan_day";
    const MAX_TOKENS: u32 = 220;
    fn schema(&self) -> Value {
        let mut s = hamlet_core::schema_of::<PlanDayReply>();
        let item = &mut s["properties"]["plan"]["items"]["properties"];
        item["place"] = json!({"enum": self.places});
        item["time"] = json!({"enum": self.hours});
        s
    }
}

/// The 5–15 minute steps of a new hourly block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decompose {
    #[serde(flatten)]
    pub scene: Scene,
    pub block_start: String,
    pub block_end: String,
    pub activity: String,
    pub place: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DecomposeReply {
    #[schemars(length(min = 1, max = 3))]
    pub steps: Vec<PlanStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanStep {
    #[schemars(length(min = 3, max = 50))]
    pub action: String,
    /// 5, 10 or 15.
    #[schemars(extend("enum" = [5, 10, 15]))]
    pub minutes: u32,
}

decision!(Decompose => DecomposeReply, "decompose", 200);

/// Whether to start talking to someone newly seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct React {
    #[serde(flatten)]
    pub scene: Scene,
    pub action: String,
    pub other: String,
    pub other_action: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReactReply {
    pub talk: bool,
}

decision!(React => ReactReply, "react", 12);

/// Whether something noticed (an object someone else put to use) changes what the agent does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    #[serde(flatten)]
    pub scene: Scene,
    pub action: String,
    pub noticed: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NoticeReply {
    pub react: bool,
    #[schemars(length(min = 3, max = 50))]
    pub activity: String,
}

decision!(Notice => NoticeReply, "notice", 40);

/// One line of a conversation so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub speaker: String,
    pub text: String,
}

/// The next turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Converse {
    #[serde(flatten)]
    pub scene: Scene,
    pub other: String,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConverseReply {
    #[schemars(length(min = 2, max = 120))]
    pub utterance: String,
    pub end: bool,
}

decision!(Converse => ConverseReply, "converse", 120);

/// A memory shown as evidence for a reflection, by id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub id: hamlet_core::MemoryId,
    pub text: String,
}

/// Insights drawn from recent memories.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reflect {
    pub time: String,
    pub memories: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReflectReply {
    #[schemars(length(min = 1, max = 2), inner(length(min = 3, max = 120)))]
    pub insights: Vec<String>,
}

decision!(Reflect => ReflectReply, "reflect", 120);

macro_rules! decisions {
    ($($kind:ident => $reply:ident),* $(,)?) => {
        /// One agent's decision this step, with its context.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Ask {
            $($kind($kind),)*
        }

        /// A parsed answer to an [`Ask`] of the same variant.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Reply {
            $($kind($reply),)*
        }

        $(impl From<$reply> for Reply {
            fn from(r: $reply) -> Self {
                Reply::$kind(r)
            }
        })*

        impl Ask {
            /// The prompt rendered from this ask's template and context.
            pub fn render(&self, prompts: &crate::Prompts) -> crate::Result<String> {
                match self {
                    $(Ask::$kind(d) => prompts.render(<$kind as Decision>::TEMPLATE, d),)*
                }
            }

            /// The reply's JSON Schema, narrowed to this ask's choices.
            pub fn schema(&self) -> Value {
                match self {
                    $(Ask::$kind(d) => d.schema(),)*
                }
            }

            /// Enough tokens for the longest valid reply.
            pub fn max_tokens(&self) -> u32 {
                match self {
                    $(Ask::$kind(_) => <$kind as Decision>::MAX_TOKENS,)*
                }
            }

            /// Parses a reply to this ask; an answer of the wrong shape is an error.
            pub fn parse(&self, json: Value) -> serde_json::Result<Reply> {
                Ok(match self {
                    $(Ask::$kind(_) => Reply::$kind(serde_json::from_value(json)?),)*
                })
            }
        }
    };
}

decisions! {
    PlanDay => PlanDayReply,
    Decompose => DecomposeReply,
    React => ReactReply,
    Notice => NoticeReply,
    Converse => ConverseReply,
    Reflect => ReflectReply,
}

/// A decision put to the model: the typed ask and the request rendered from it (prompt, schema,
/// cache key, sampling).
#[derive(Debug, Clone)]
pub struct Posed {
    pub ask: Ask,
    pub request: GenerateRequest,
}

/// A reply and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub reply: Reply,
    pub usage: TokenUsage,
}

/// The model the town asks for its agents' decisions, one batch per step.
pub trait TownModel: Send + Sync {
    /// Answers each posed decision, in order. A failed one falls back to the routine.
    fn decide(&self, batch: &[Posed]) -> Vec<Result<Answer>>;
}

/// A real model: the batch is decoded in one [`Llm::generate_batch`] and each reply parsed into
/// its ask's `Reply`.
pub struct LlmTownModel<L: ?Sized>(pub std::sync::Arc<L>);

impl<L: Llm + ?Sized> TownModel for LlmTownModel<L> {
    fn decide(&self, batch: &[Posed]) -> Vec<Result<Answer>> {
        let requests: Vec<GenerateRequest> = batch.iter().map(|p| p.request.clone()).collect();
        let replies = self.0.generate_batch(&requests);
        batch
            .iter()
            .zip(replies)
            .map(|(posed, reply)| {
                let c = reply?;
                let parsed = match c.json {
                    Some(json) => posed.ask.parse(json).map_err(|e| e.to_string()),
                    None => Err("the reply is not JSON".to_string()),
                };
                let reply = parsed.map_err(|reason| hamlet_core::Error::InvalidOutput {
                    reason,
                    text: c.text.clone(),
                })?;
                Ok(Answer {
                    reply,
                    usage: c.usage,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reply_schema_requires_every_field_in_declaration_order() {
        let s = hamlet_core::schema_of::<ConverseReply>();
        let keys: Vec<&String> = s["properties"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["utterance", "end"]);
        assert_eq!(s["required"], json!(["utterance", "end"]));
        assert_eq!(s["properties"]["utterance"]["maxLength"], json!(120));
    }

    #[test]
    fn the_plan_schema_is_narrowed_to_the_agents_places_and_hours() {
        let ask = PlanDay {
            time: "day 1 07:00".into(),
            routine: vec![],
            memories: vec![],
            places: vec!["cafe".into()],
            hours: vec!["08:00".into()],
        };
        let s = ask.schema();
        let item = &s["properties"]["plan"]["items"]["properties"];
        assert_eq!(item["place"], json!({"enum": ["cafe"]}));
        assert_eq!(item["time"], json!({"enum": ["08:00"]}));
        assert_eq!(s["properties"]["plan"]["maxItems"], json!(4));
    }

    #[test]
    fn decompose_minutes_are_a_closed_set() {
        let s = hamlet_core::schema_of::<DecomposeReply>();
        let step = &s["properties"]["steps"];
        assert_eq!(step["minItems"], json!(1));
        assert_eq!(
            step["items"]["properties"]["minutes"]["enum"],
            json!([5, 10, 15])
        );
    }

    #[test]
    fn a_reply_parses_into_its_asks_variant_and_a_wrong_shape_is_an_error() {
        let ask = Ask::React(React {
            scene: Scene {
                time: String::new(),
                here: String::new(),
                memories: vec![],
            },
            action: String::new(),
            other: "Bo".into(),
            other_action: String::new(),
        });
        assert_eq!(
            ask.parse(json!({"talk": true})).unwrap(),
            Reply::React(ReactReply { talk: true })
        );
        assert!(ask.parse(json!({"utterance": "hi", "end": false})).is_err());
    }

    #[test]
    fn every_schema_builds_a_grammar_shape_llama_accepts() {
        // No $ref, no format, no null: what llama.cpp's converter takes.
        for s in [
            hamlet_core::schema_of::<PlanDayReply>(),
            hamlet_core::schema_of::<DecomposeReply>(),
            hamlet_core::schema_of::<ReactReply>(),
            hamlet_core::schema_of::<NoticeReply>(),
            hamlet_core::schema_of::<ConverseReply>(),
            hamlet_core::schema_of::<ReflectReply>(),
        ] {
            let text = s.to_string();
            assert!(
                !text.contains("$ref") && !text.contains("format") && !text.contains("null"),
                "{text}"
            );
        }
    }
}
