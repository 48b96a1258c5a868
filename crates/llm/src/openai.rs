//! The OpenAI wire format, as serde types: what [`crate::HttpLlm`] and [`crate::HttpEmbedder`]
//! send and read, and what `hamlet serve` reads and sends. One definition for both ends, so the
//! client and the server cannot drift apart (and a round trip through them is tested here).
//!
//! Reading is lenient where servers differ (every field of a reply may be missing; unknown
//! fields are ignored); writing leaves out what is not set.

use hamlet_core::{
    Completion, FinishReason, GenerateRequest, Message, Prompt, Sampling, TokenUsage,
};
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /chat/completions` (with `messages`) or `POST /completions` (with `prompt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompletionRequest {
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "messages")]
    pub messages: Option<Vec<Message>>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "prompt")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// OpenAI's newer name for `max_tokens` (read, never written).
    #[serde(skip_serializing)]
    pub max_completion_tokens: Option<u32>,
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u32,
    /// Sampling that llama.cpp, vLLM and Ollama take and OpenAI's own API does not.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extended: Option<ExtendedSampling>,
    pub stream: bool,
    pub stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Stop::is_empty")]
    pub stop: Stop,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// OpenAI's stable id of the end user. Hamlet sends the request's cache key here (one agent,
    /// one run), and `hamlet serve` keeps each key's prompt in its own KV slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl Default for CompletionRequest {
    /// What a server assumes of a field that is not sent.
    fn default() -> Self {
        let d = Sampling::default();
        CompletionRequest {
            model: String::new(),
            messages: None,
            prompt: None,
            max_tokens: None,
            max_completion_tokens: None,
            temperature: 0.0,
            top_p: d.top_p,
            seed: 0,
            extended: None,
            stream: false,
            stream_options: StreamOptions::default(),
            stop: Stop::None,
            response_format: None,
            user: None,
        }
    }
}

/// `top_k`, `min_p` and `repeat_penalty`, each [`Sampling`]'s default when not sent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtendedSampling {
    pub top_k: u32,
    pub min_p: f32,
    pub repeat_penalty: f32,
}

impl Default for ExtendedSampling {
    fn default() -> Self {
        let d = Sampling::default();
        ExtendedSampling {
            top_k: d.top_k,
            min_p: d.min_p,
            repeat_penalty: d.repeat_penalty,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamOptions {
    pub include_usage: bool,
}

/// One stop string or several.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Stop {
    fn is_empty(&self) -> bool {
        matches!(self, Stop::None)
    }
    fn into_vec(self) -> Vec<String> {
        match self {
            Stop::None => Vec::new(),
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    JsonSchema {
        json_schema: JsonSchemaFormat,
    },
    JsonObject,
    /// No constraint. Any other `type` is an error (it used to pass as `text`, silently).
    Text,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JsonSchemaFormat {
    pub name: String,
    pub strict: bool,
    pub schema: Value,
}

fn messages<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Message>>, D::Error> {
    Option::<Vec<Message>>::deserialize(d).map_err(|e| {
        D::Error::custom(format!(
            "`messages` must be an array of {{role, content}} with string contents ({e})"
        ))
    })
}

fn prompt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d).map_err(|_| D::Error::custom("`prompt` must be a string"))
}

impl CompletionRequest {
    /// The request on the wire for `req`; `extended` adds the sampling fields OpenAI lacks.
    pub fn new(req: &GenerateRequest, model: &str, extended: bool) -> Self {
        let s = &req.sampling;
        let (messages, prompt) = match &req.prompt {
            Prompt::Chat(m) => (Some(m.clone()), None),
            Prompt::Raw(t) => (None, Some(t.clone())),
        };
        CompletionRequest {
            model: model.to_string(),
            messages,
            prompt,
            max_tokens: Some(req.max_tokens),
            max_completion_tokens: None,
            temperature: s.temperature,
            top_p: s.top_p,
            seed: s.seed,
            extended: extended.then_some(ExtendedSampling {
                top_k: s.top_k,
                min_p: s.min_p,
                repeat_penalty: s.repeat_penalty,
            }),
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            stop: match req.stop.is_empty() {
                true => Stop::None,
                false => Stop::Many(req.stop.clone()),
            },
            response_format: req
                .json_schema
                .as_ref()
                .map(|schema| ResponseFormat::JsonSchema {
                    json_schema: JsonSchemaFormat {
                        name: "reply".into(),
                        strict: true,
                        schema: schema.clone(),
                    },
                }),
            user: req.cache_key.clone(),
        }
    }

    /// The endpoint, below the base URL, that takes this request.
    pub fn path(&self) -> &'static str {
        match self.messages {
            Some(_) => "chat/completions",
            None => "completions",
        }
    }

    /// The request to run for this body at the chat endpoint (`chat`) or the completions one,
    /// or what is wrong with it, naming the field.
    pub fn into_generate(self, chat: bool) -> Result<GenerateRequest, String> {
        let prompt = match (chat, self.messages, self.prompt) {
            (true, Some(m), _) => Prompt::Chat(m),
            (true, None, _) => return Err("`messages` must be an array of {role, content}".into()),
            (false, _, Some(p)) => Prompt::Raw(p),
            (false, _, None) => return Err("`prompt` must be a string".into()),
        };
        let x = self.extended.unwrap_or_default();
        let sampling = Sampling {
            temperature: self.temperature,
            top_k: x.top_k,
            top_p: self.top_p,
            min_p: x.min_p,
            repeat_penalty: x.repeat_penalty,
            repeat_last_n: Sampling::default().repeat_last_n,
            seed: self.seed,
        };
        let mut req = GenerateRequest::new(prompt)
            .with_sampling(sampling)
            .with_max_tokens(
                self.max_tokens
                    .or(self.max_completion_tokens)
                    .unwrap_or(256),
            );
        req.stop = self.stop.into_vec();
        req.cache_key = self.user.filter(|u| !u.trim().is_empty());
        req.json_schema = match self.response_format {
            Some(ResponseFormat::JsonSchema { json_schema }) => {
                Some(json_schema.schema).filter(|s| !s.is_null())
            }
            Some(ResponseFormat::JsonObject) => Some(serde_json::json!({"type": "object"})),
            Some(ResponseFormat::Text) | None => None,
        };
        req.validate().map_err(|e| e.to_string())?;
        Ok(req)
    }
}

/// A whole reply, or one event of a streamed one (`choices` then hold deltas).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompletionResponse {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Set instead of the rest when the server failed in the middle of a stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Choice {
    pub index: u32,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    pub finish_reason: Option<String>,
}

/// What a choice carries, under the key that names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// The whole reply of a chat completion.
    Message(Message),
    /// A piece of a streamed chat reply.
    Delta(Delta),
    /// The reply (or a piece of it) of a raw completion.
    Text(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Delta {
    pub content: Option<String>,
}

impl Choice {
    /// A chat delta (`chat`) or a completion piece carrying `text`.
    pub fn piece(chat: bool, text: &str, finish: Option<FinishReason>) -> Self {
        let text = text.to_string();
        Choice {
            index: 0,
            content: Some(match chat {
                true => Content::Delta(Delta {
                    content: Some(text),
                }),
                false => Content::Text(text),
            }),
            finish_reason: finish.map(|f| finish_str(f).to_string()),
        }
    }

    /// The whole reply of a request that was not streamed.
    pub fn whole(chat: bool, c: &Completion) -> Self {
        Choice {
            index: 0,
            content: Some(match chat {
                true => Content::Message(Message::assistant(c.text.clone())),
                false => Content::Text(c.text.clone()),
            }),
            finish_reason: Some(finish_str(c.finish).to_string()),
        }
    }

    /// The text this choice adds (a chat delta's or a completion's).
    pub fn text(&self) -> &str {
        match &self.content {
            Some(Content::Delta(d)) => d.content.as_deref().unwrap_or(""),
            Some(Content::Text(t)) => t,
            Some(Content::Message(m)) => &m.content,
            None => "",
        }
    }

    /// Why the reply ended, if this choice ends it.
    pub fn finish(&self) -> Option<FinishReason> {
        self.finish_reason.as_deref().map(|f| match f {
            "length" => FinishReason::Length,
            _ => FinishReason::Stop,
        })
    }
}

/// OpenAI has two finish reasons for what Hamlet tells apart.
fn finish_str(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length | FinishReason::ContextFull => "length",
        FinishReason::Stop | FinishReason::StopString => "stop",
    }
}

/// Token counts as OpenAI reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: Option<u64>,
    pub total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PromptTokensDetails {
    pub cached_tokens: u64,
}

impl From<TokenUsage> for Usage {
    fn from(u: TokenUsage) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: Some(u.completion_tokens),
            total_tokens: u.total(),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: u.cached_tokens,
            }),
        }
    }
}

impl Usage {
    /// Hamlet's counts; `pieces` stands in for a completion count the server did not send.
    pub fn tokens(&self, pieces: u64) -> TokenUsage {
        TokenUsage {
            prompt_tokens: self.prompt_tokens,
            cached_tokens: self.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
            completion_tokens: self.completion_tokens.unwrap_or(pieces),
        }
    }
}

/// `{"error": {...}}`: a failed request's body, or a failure in the middle of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiError {
    pub message: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl ErrorBody {
    pub fn invalid_request(message: impl Into<String>) -> Self {
        ErrorBody {
            error: ApiError {
                message: message.into(),
                kind: Some("invalid_request_error".into()),
            },
        }
    }
}

/// `POST /embeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    #[serde(default)]
    pub model: String,
    #[serde(deserialize_with = "input")]
    pub input: Vec<String>,
}

fn input<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Input {
        One(String),
        Many(Vec<String>),
    }
    match Input::deserialize(d) {
        Ok(Input::One(s)) => Ok(vec![s]),
        Ok(Input::Many(v)) => Ok(v),
        Err(_) => Err(D::Error::custom(
            "`input` must be a string or an array of strings",
        )),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddingsResponse {
    pub object: String,
    /// Missing data is reported by the reader, naming what is missing.
    pub data: Option<Vec<Embedding>>,
    pub model: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Embedding {
    pub object: String,
    /// Where the text stood in the request (servers may answer out of order).
    pub index: Option<usize>,
    pub embedding: Option<Vec<f32>>,
}

/// `GET /models`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub object: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> GenerateRequest {
        GenerateRequest::chat(vec![Message::system("Be brief."), Message::user("Hi")])
            .with_max_tokens(9)
            .with_stop("\n")
            .with_schema(json!({"type": "object"}))
    }

    #[test]
    fn a_request_survives_the_round_trip_through_client_and_server() {
        for req in [
            request(),
            // The cache key travels as OpenAI's `user`, so a served model keeps its slot.
            request().with_cache_key("run-7/ada"),
            GenerateRequest::raw("1, 2, 3,").with_max_tokens(3),
        ] {
            let wire = CompletionRequest::new(&req, "m", true);
            let text = serde_json::to_string(&wire).expect("serializes");
            let read: CompletionRequest = serde_json::from_str(&text).expect("reads back");
            let chat = wire.path() == "chat/completions";
            assert_eq!(read.into_generate(chat), Ok(req));
        }
    }

    #[test]
    fn the_client_leaves_out_what_openai_does_not_take() {
        let wire = serde_json::to_value(CompletionRequest::new(&request(), "m", false))
            .expect("serializes");
        assert!(wire.get("top_k").is_none() && wire.get("min_p").is_none());
        assert_eq!(wire["stop"], json!(["\n"]));
        assert_eq!(
            wire["response_format"]["json_schema"]["schema"],
            json!({"type": "object"})
        );
        assert_eq!(wire["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn bodies_that_do_not_fit_name_the_field() {
        let err = serde_json::from_value::<CompletionRequest>(json!({"messages": "nope"}))
            .expect_err("not an array");
        assert!(
            err.to_string().contains("`messages` must be an array"),
            "{err}"
        );
        let body: CompletionRequest = serde_json::from_value(
            json!({"messages": [{"role": "developer", "content": "x"}], "stop": "END",
                   "response_format": {"type": "json_object"}, "max_completion_tokens": 7}),
        )
        .expect("developer is system");
        let req = body.into_generate(true).expect("valid");
        assert_eq!((req.stop, req.max_tokens), (vec!["END".to_string()], 7));
        assert_eq!(req.json_schema, Some(json!({"type": "object"})));
        let none = CompletionRequest::default().into_generate(false);
        assert_eq!(none, Err("`prompt` must be a string".into()));
        let err =
            serde_json::from_value::<EmbeddingsRequest>(json!({"input": 3})).expect_err("not text");
        assert!(
            err.to_string().contains("`input` must be a string"),
            "{err}"
        );
    }

    #[test]
    fn choices_and_usage_read_what_they_wrote() {
        let c = Completion {
            text: "hi".into(),
            finish: FinishReason::ContextFull,
            usage: TokenUsage::new(5, 2, 1),
            timings: Default::default(),
            json: None,
        };
        for chat in [true, false] {
            let whole = Choice::whole(chat, &c);
            assert_eq!(whole.finish(), Some(FinishReason::Length));
            let piece = Choice::piece(chat, "hi", None);
            assert_eq!((piece.text(), piece.finish()), ("hi", None));
        }
        assert_eq!(Usage::from(c.usage).tokens(0), c.usage);
        let bare: Usage = serde_json::from_value(json!({"prompt_tokens": 3})).expect("reads");
        assert_eq!(bare.tokens(4), TokenUsage::new(3, 0, 4));
    }
}
