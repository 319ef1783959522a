//! Side-by-side timings against the Python reference stack, in one run, printing the ratio.
//! Not a pass/fail test: run it on purpose with
//! `CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo test -p lrpo-host --test data_bench -- --ignored --nocapture`.
//!
//! 1. Reading the layout: `read_questions` vs pyarrow `read_table(columns=...)` + `to_pylist()`
//!    (both end with one record per row in memory), on XQuAD repeated to 100k rows.
//! 2. Rendering prompts: `PromptBuilder::render` vs transformers `apply_chat_template(tokenize=False)`
//!    with the same Llama-3 template, tag style, over those questions.

mod data_support;

use data_support::run_python;
use lrpo_core::Lang;
use lrpo_host::data::{prepare, read_questions};
use lrpo_host::prompt::{ChatTemplate, PromptBuilder, PromptStyle, TokenCounter};
use serde_json::{json, Value};
use std::time::Instant;

const REPEATS: usize = 12;
const RUNS: usize = 5;
const RENDERED: usize = 20_000;

const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = \
'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}\
{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}\
{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

const PYTHON_SIDE: &str = r#"
import json, sys, time
import pyarrow.parquet as pq
from transformers import PreTrainedTokenizerFast
from tokenizers import Tokenizer, models
spec = json.load(sys.stdin)
def median(xs):
    xs = sorted(xs); return xs[len(xs) // 2]
read = []
for _ in range(spec["runs"]):
    t = time.perf_counter()
    rows = pq.read_table(spec["path"], columns=["question", "answer", "ability", "extra_info"]).to_pylist()
    read.append(time.perf_counter() - t)
tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")),
                              bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
contents = [r["question"].strip() + "\n<|out_lang_de|>" for r in rows[: spec["rendered"]]]
render = []
for _ in range(spec["runs"]):
    t = time.perf_counter()
    for c in contents:
        tok.apply_chat_template([{"role": "user", "content": c}], tokenize=False, add_generation_prompt=True,
                                chat_template=spec["template"])
    render.append(time.perf_counter() - t)
print(json.dumps({"rows": len(rows), "read_s": median(read), "render_s": median(render)}))
"#;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn reader_and_prompt_rendering_vs_python() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = Vec::new();
    for (code, name) in [
        ("ar", "arabic"),
        ("de", "german"),
        ("en", "english"),
        ("es", "spanish"),
        ("ru", "russian"),
        ("vi", "vietnamese"),
        ("zh", "chinese"),
    ] {
        let text =
            std::fs::read_to_string(lrpo_testkit::shared_data().join(format!("xquad/xquad.{code}.json"))).unwrap();
        let squad: Value = serde_json::from_str(&text).unwrap();
        for article in squad["data"].as_array().unwrap() {
            for paragraph in article["paragraphs"].as_array().unwrap() {
                for qa in paragraph["qas"].as_array().unwrap() {
                    records.push(json!({"query": qa["question"], "chosen": qa["answers"][0]["text"],
                                        "topic": "General Knowledge", "language": name, "region": null}));
                }
            }
        }
    }
    let all: Vec<Value> = (0..REPEATS).flat_map(|_| records.iter().cloned()).collect();
    let input = dir.path().join("xquad.json");
    std::fs::write(&input, serde_json::to_string(&all).unwrap()).unwrap();
    let t = Instant::now();
    let summary = prepare(&input, dir.path(), 42).unwrap();
    let prepare_s = t.elapsed().as_secs_f64();

    let mut read = Vec::new();
    let mut rows = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let set = read_questions(&summary.train_path).unwrap();
        read.push(t.elapsed().as_secs_f64());
        rows = set.questions.len();
    }
    let questions = read_questions(&summary.train_path).unwrap().questions;
    let template = ChatTemplate::new(LLAMA3, "<|begin_of_text|>", "<|eot_id|>", "bench").unwrap();
    let builder = PromptBuilder::new(PromptStyle::Tag, template, TokenCounter::Approximate);
    let de = Lang::new("de");
    let mut render = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for q in questions.iter().take(RENDERED) {
            std::hint::black_box(builder.render(&q.question, &de).unwrap());
        }
        render.push(t.elapsed().as_secs_f64());
    }

    let spec = json!({"path": summary.train_path, "runs": RUNS, "rendered": RENDERED, "template": LLAMA3});
    let py: Value =
        serde_json::from_str(&run_python(&["pyarrow", "transformers"], PYTHON_SIDE, &spec.to_string())).unwrap();
    assert_eq!(py["rows"].as_u64().unwrap() as usize, rows);
    let (read_rs, render_rs) = (median(read), median(render));
    let (read_py, render_py) = (py["read_s"].as_f64().unwrap(), py["render_s"].as_f64().unwrap());
    println!("prepare: {} records -> {} train rows in {prepare_s:.3} s", all.len(), rows);
    println!(
        "read {rows} rows:        lrpo {:.1} ms | pyarrow+to_pylist {:.1} ms | ratio {:.2}x",
        read_rs * 1e3,
        read_py * 1e3,
        read_py / read_rs
    );
    println!(
        "render {RENDERED} prompts:  lrpo {:.1} ms | transformers apply_chat_template {:.1} ms | ratio {:.2}x",
        render_rs * 1e3,
        render_py * 1e3,
        render_py / render_rs
    );
}
