//! A loaded fastText classifier (`.bin` or quantized `.ftz`) and its predict path.

use std::path::Path;

use lrpo_core::Error;

use crate::args::ModelArgs;
use crate::dictionary::{Dictionary, TokenScratch};
use crate::loss::OutputLayer;
use crate::matrix::{InputMatrix, OutputMatrix};
use crate::reader::ByteReader;

/// One predicted label: its index into [`FastTextModel::labels`] and its probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelScore {
    pub label: usize,
    pub prob: f32,
}

/// Per-thread buffers for [`FastTextModel::predict_with`], so batch prediction does not
/// allocate per text.
#[derive(Default)]
pub struct PredictScratch {
    hidden: Vec<f32>,
    output: Vec<f32>,
    tokens: TokenScratch,
}

pub struct FastTextModel {
    args: ModelArgs,
    dict: Dictionary,
    input: InputMatrix,
    output: OutputMatrix,
    layer: OutputLayer,
    labels: Vec<String>,
}

impl std::fmt::Debug for FastTextModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastTextModel")
            .field("dim", &self.args.dim)
            .field("loss", &self.args.loss)
            .field("labels", &self.labels.len())
            .field("input", &self.input.shape())
            .finish()
    }
}

impl FastTextModel {
    /// Reads a model file. Errors name the file, and for a corrupt file the byte offset and
    /// the field that did not fit.
    pub fn load(path: impl AsRef<Path>) -> lrpo_core::Result<Self> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|e| Error::io(path.display(), format!("cannot read fastText model: {e}")))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// Parses a model held in memory; `source` names it in errors.
    pub fn from_bytes(bytes: &[u8], source: &str) -> lrpo_core::Result<Self> {
        Self::parse(bytes, source, InputMatrix::read)
    }

    fn parse(
        bytes: &[u8],
        source: &str,
        read_input: impl FnOnce(&mut ByteReader<'_>, bool) -> lrpo_core::Result<InputMatrix>,
    ) -> lrpo_core::Result<Self> {
        let mut r = ByteReader::new(bytes, source);
        let args = ModelArgs::read(&mut r)?;
        let dict = Dictionary::read(&mut r, &args)?;
        let quant_input = r.bool("quant_input")?;
        if !quant_input && dict.is_pruned() {
            return Err(r.error("quant_input", "a pruned dictionary needs a quantized input matrix"));
        }
        let input = read_input(&mut r, quant_input)?;
        // The C++ honours `qout` only for a quantized input matrix; otherwise the output is
        // read as dense whatever the flag says.
        let quant_output = r.bool("qout")?;
        let output = OutputMatrix::read(&mut r, quant_input && quant_output)?;

        let (in_rows, in_cols) = input.shape();
        let (out_rows, out_cols) = output.shape();
        if in_cols != args.dim || out_cols != args.dim {
            return Err(r.error(
                "matrix shape",
                format!("matrix widths {in_cols} (input) and {out_cols} (output) differ from dim {}", args.dim),
            ));
        }
        if let Some(max_row) = dict.max_row() {
            if max_row >= in_rows {
                return Err(r.error(
                    "input.m",
                    format!("input matrix has {in_rows} rows but the dictionary refers to row {max_row}"),
                ));
            }
        }
        if out_rows != dict.nlabels() {
            return Err(r.error("output.m", format!("output matrix has {out_rows} rows for {} labels", dict.nlabels())));
        }
        let layer = OutputLayer::new(args.loss, dict.label_counts());
        let labels = dict.labels().collect();
        Ok(FastTextModel { args, dict, input, output, layer, labels })
    }

    pub fn args(&self) -> &ModelArgs {
        &self.args
    }

    /// Labels as stored in the model, e.g. `__label__en`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Like the Python binding's `model.predict(text, k, threshold)`: the text is one line (a
    /// newline inside it ends the line early), the k most probable labels, best first.
    pub fn predict(&self, text: &str, k: usize, threshold: f32) -> Vec<LabelScore> {
        self.predict_with(&mut PredictScratch::default(), text, k, threshold)
    }

    pub fn predict_with(&self, scratch: &mut PredictScratch, text: &str, k: usize, threshold: f32) -> Vec<LabelScore> {
        let PredictScratch { hidden, output, tokens } = scratch;
        hidden.clear();
        hidden.resize(self.args.dim, 0.0);
        let mut n_rows = 0usize;
        self.dict.line_rows(text.as_bytes(), tokens, |row| {
            self.input.add_row_to(hidden, row as usize);
            n_rows += 1;
        });
        if n_rows == 0 {
            return Vec::new();
        }
        // `Vector::mul(1.0 / n)`: the factor is computed in double, then rounded to float.
        let scale = (1.0f64 / n_rows as f64) as f32;
        hidden.iter_mut().for_each(|h| *h *= scale);
        self.layer
            .predict(&self.output, hidden, k.min(self.labels.len()), threshold, output)
            .into_iter()
            .map(|(score, label)| LabelScore { label, prob: score.exp() })
            .collect()
    }

    #[cfg(test)]
    fn from_bytes_keep_quantized(bytes: &[u8]) -> lrpo_core::Result<Self> {
        Self::parse(bytes, "test", |r, quantized| {
            assert!(quantized, "test model must be quantized");
            InputMatrix::read_keep_quantized(r)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cached lid.176.ftz, when the set-up has placed it (the integration tests insist on it).
    fn cached_model_bytes() -> Option<Vec<u8>> {
        std::fs::read(crate::default_model_path()).ok()
    }

    #[test]
    fn expanded_and_quantized_inputs_predict_identically() {
        let Some(bytes) = cached_model_bytes() else {
            panic!("lid.176.ftz missing from the model cache: run scripts/setup.sh");
        };
        let expanded = FastTextModel::from_bytes(&bytes, "lid").unwrap();
        let coded = FastTextModel::from_bytes_keep_quantized(&bytes).unwrap();
        for text in ["The quick brown fox", "Übermäßig schöne Grüße", "敏捷的棕色狐狸", "", "x</s>y"] {
            assert_eq!(expanded.predict(text, 5, 0.0), coded.predict(text, 5, 0.0), "{text}");
        }
    }
}
