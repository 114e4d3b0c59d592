//! The BERT encoder all-MiniLM-L6-v2 is (embeddings, then self-attention layers), on candle's tensors and
//! candle-nn's layers: the same computation as Hugging Face's `BertModel` without a pooler, inference only.
//!
//! Why not `candle-transformers`' BERT: that crate compiles every model candle has (hundreds of thousands of lines,
//! the longest part of this crate's build) for the one encoder used here, and it pins a second major version of
//! `fancy-regex` beside the one the `tokenizers` crate uses. The encoder is a hundred lines of candle-nn calls, and
//! the reference vectors in `tests/it/reference.json` (an independent numpy implementation) check it to 1e-5.
//!
//! Two differences from a literal transcription, both exact in arithmetic: the query, key and value projections run
//! as one matrix product over their concatenated weights, and a batch with no padding skips the attention mask.

use candle_core::{DType, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

/// The fields of Hugging Face's `config.json` for BERT that inference reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) hidden_act: Activation,
    pub(crate) max_position_embeddings: usize,
    pub(crate) type_vocab_size: usize,
    pub(crate) layer_norm_eps: f64,
    pub(crate) pad_token_id: usize,
}

/// The feed-forward activation named by `hidden_act`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Activation {
    /// GELU with the exact error function (what `"gelu"` means in transformers).
    Gelu,
    /// GELU's tanh approximation.
    #[serde(alias = "gelu_pytorch_tanh")]
    GeluNew,
    Relu,
}

/// The encoder with its weights: token ids in, one hidden vector per token out.
pub(crate) struct Bert {
    words: Embedding,
    /// Position embeddings plus token type 0's embedding, added once at load: every text here is one segment.
    positions: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

struct Layer {
    /// Query, key and value projections as one (3 × hidden) × hidden matrix.
    qkv: Linear,
    heads: usize,
    head_size: usize,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    activation: Activation,
    out: Linear,
    out_norm: LayerNorm,
}

impl Bert {
    /// Loads the weights under the names transformers gives them, with or without a `bert.` prefix.
    pub(crate) fn load(vars: VarBuilder, config: &BertConfig) -> candle_core::Result<Self> {
        let vars = if vars.contains_tensor("embeddings.word_embeddings.weight") { vars } else { vars.pp("bert") };
        let hidden = config.hidden_size;
        let embeddings = vars.pp("embeddings");
        let words = candle_nn::embedding(config.vocab_size, hidden, embeddings.pp("word_embeddings"))?;
        let positions = embeddings.get((config.max_position_embeddings, hidden), "position_embeddings.weight")?;
        let token_types = embeddings.get((config.type_vocab_size, hidden), "token_type_embeddings.weight")?;
        let positions = positions.broadcast_add(&token_types.narrow(0, 0, 1)?)?;
        let embedding_norm = candle_nn::layer_norm(hidden, config.layer_norm_eps, embeddings.pp("LayerNorm"))?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vars.pp(format!("encoder.layer.{i}")), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { words, positions, embedding_norm, layers })
    }

    /// The last layer's hidden states, (batch, tokens, hidden), for `ids` (batch, tokens). `padding`, when the
    /// batch has any, is the attention mask: 1 on real tokens and 0 on padding, the shape of `ids`.
    pub(crate) fn forward(&self, ids: &Tensor, padding: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (_, tokens) = ids.dims2()?;
        let embedded = self.words.forward(ids)?.broadcast_add(&self.positions.narrow(0, 0, tokens)?)?;
        let mut hidden = self.embedding_norm.forward(&embedded)?;
        // Padding gets the most negative score, so softmax gives it no weight: (1 - mask) × f32::MIN, per key.
        let additive = match padding {
            Some(mask) => {
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(1)?.unsqueeze(1)?;
                Some(((mask - 1.0)? * f64::from(f32::MAX))?)
            }
            None => None,
        };
        for layer in &self.layers {
            hidden = layer.forward(&hidden, additive.as_ref())?;
        }
        Ok(hidden)
    }
}

impl Layer {
    fn load(vars: VarBuilder, config: &BertConfig) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let attention = vars.pp("attention");
        let projection = |name: &str| candle_nn::linear(hidden, hidden, attention.pp("self").pp(name));
        let (query, key, value) = (projection("query")?, projection("key")?, projection("value")?);
        let weight = Tensor::cat(&[query.weight(), key.weight(), value.weight()], 0)?;
        let biases = [query.bias(), key.bias(), value.bias()];
        let bias = match biases {
            [Some(q), Some(k), Some(v)] => Some(Tensor::cat(&[q, k, v], 0)?),
            _ => None,
        };
        let norm = |vars: VarBuilder| candle_nn::layer_norm(hidden, config.layer_norm_eps, vars.pp("LayerNorm"));
        Ok(Self {
            qkv: Linear::new(weight, bias),
            heads: config.num_attention_heads,
            head_size: hidden / config.num_attention_heads,
            attention_out: candle_nn::linear(hidden, hidden, attention.pp("output").pp("dense"))?,
            attention_norm: norm(attention.pp("output"))?,
            intermediate: candle_nn::linear(hidden, config.intermediate_size, vars.pp("intermediate").pp("dense"))?,
            activation: config.hidden_act,
            out: candle_nn::linear(config.intermediate_size, hidden, vars.pp("output").pp("dense"))?,
            out_norm: norm(vars.pp("output"))?,
        })
    }

    fn forward(&self, input: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (batch, tokens, hidden) = input.dims3()?;
        // (batch, tokens, 3, heads, head) → (3, batch, heads, tokens, head)
        let qkv = self
            .qkv
            .forward(input)?
            .reshape((batch, tokens, 3, self.heads, self.head_size))?
            .permute((2, 0, 3, 1, 4))?;
        let (query, key, value) = (qkv.get(0)?.contiguous()?, qkv.get(1)?.contiguous()?, qkv.get(2)?.contiguous()?);
        let scores = (query.matmul(&key.t()?)? / (self.head_size as f64).sqrt())?;
        let scores = match mask {
            Some(mask) => scores.broadcast_add(mask)?,
            None => scores,
        };
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = weights.matmul(&value)?.transpose(1, 2)?.reshape((batch, tokens, hidden))?;
        let attended = self.attention_norm.forward(&(self.attention_out.forward(&context)? + input)?)?;

        let expanded = self.intermediate.forward(&attended)?;
        let activated = match self.activation {
            Activation::Gelu => expanded.gelu_erf()?,
            Activation::GeluNew => expanded.gelu()?,
            Activation::Relu => expanded.relu()?,
        };
        self.out_norm.forward(&(self.out.forward(&activated)? + attended)?)
    }
}
