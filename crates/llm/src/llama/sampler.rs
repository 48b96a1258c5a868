//! Per-request token choice: a llama.cpp sampler chain plus, for JSON-Schema requests, a grammar.

use hamlet_core::{Error, Result, Sampling};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

/// A request's sampler: a chain (top-k → repetition penalty → greedy or top-p → min-p →
/// temperature → seeded draw) and, for JSON-Schema requests, a grammar.
///
/// As in llama.cpp's own `common_sampler`, the grammar is not applied to the whole vocabulary at
/// every step: the chain picks a token, the grammar checks just that one, and only when it is
/// refused is the vocabulary masked and the token picked again. Greedy results are the same as
/// masking first; the saving is most of the grammar's cost per token.
pub(crate) struct Sampler {
    chain: LlamaSampler,
    grammar: Option<LlamaSampler>,
}

impl Sampler {
    pub(crate) fn new(model: &LlamaModel, s: &Sampling, grammar: Option<&str>) -> Result<Self> {
        let grammar = match grammar {
            Some(g) => Some(LlamaSampler::grammar(model, g, "root").map_err(|e| {
                Error::InvalidRequest(format!(
                    "grammar from JSON schema was rejected by llama.cpp: {e}"
                ))
            })?),
            None => None,
        };
        let mut chain = Vec::new();
        let greedy = s.temperature == 0.0;
        if s.top_k > 0 && (!greedy || s.repeat_penalty != 1.0) {
            chain.push(LlamaSampler::top_k(s.top_k as i32));
        }
        if s.repeat_penalty != 1.0 {
            chain.push(LlamaSampler::penalties(
                model.n_vocab(),
                s.repeat_last_n as i32,
                s.repeat_penalty,
                0.0,
                0.0,
            ));
        }
        if greedy {
            chain.push(LlamaSampler::greedy());
        } else {
            if s.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(s.top_p, 1));
            }
            if s.min_p > 0.0 {
                chain.push(LlamaSampler::min_p(s.min_p, 1));
            }
            chain.push(LlamaSampler::temp(s.temperature));
            chain.push(LlamaSampler::dist(s.seed));
        }
        Ok(Sampler {
            chain: LlamaSampler::chain_simple(chain),
            grammar,
        })
    }

    /// Picks the next token from the logits at batch index `idx` and records it.
    pub(crate) fn sample(
        &mut self,
        ctx: &LlamaContext<'_>,
        idx: i32,
        fallback: LlamaToken,
    ) -> LlamaToken {
        let Some(grammar) = self.grammar.as_mut() else {
            return self.chain.sample(ctx, idx);
        };
        let mut cur = ctx.token_data_array_ith(idx);
        cur.apply_sampler(&mut self.chain);
        let picked = cur.selected_token().filter(|&tok| {
            let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(tok, 1.0, 0.0)], false);
            one.apply_sampler(grammar);
            one.data.first().is_some_and(|d| d.logit().is_finite())
        });
        let tok = match picked {
            Some(tok) => tok,
            None => {
                let mut cur = ctx.token_data_array_ith(idx);
                cur.apply_sampler(grammar);
                cur.apply_sampler(&mut self.chain);
                cur.selected_token().unwrap_or(fallback)
            }
        };
        grammar.accept(tok);
        self.chain.accept(tok);
        tok
    }
}
