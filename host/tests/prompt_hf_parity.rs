//! Chat templates and token counts against HF transformers' `apply_chat_template` and its
//! tokenizer, on a byte-level BPE trained here on the bundled dataset.

mod data_support;

use data_support::{mini_dataset, run_python};
use lrpo_core::{default_languages, Lang};
use lrpo_host::data::read_records;
use lrpo_host::prompt::{user_content, PromptBuilder, PromptStyle};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = \
'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}\
{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}\
{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

/// Qwen2.5-style: a default system turn, whitespace control, and block tags on their own lines
/// (which only render right with trim_blocks and lstrip_blocks, as HF sets them).
const QWEN_STYLE: &str = r#"{%- if messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
{%- else %}
    {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == "user" or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"#;

/// Gemma-style: BOS, role alternation guarded by raise_exception, a role rename.
const GEMMA_STYLE: &str = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != \
(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\
{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}\
{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}\
{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

/// Python string methods and a namespace, as many HF templates use them.
const PYCOMPAT: &str =
    "{%- set ns = namespace(n=0) -%}\n{%- for message in messages -%}\n{%- set ns.n = ns.n + 1 -%}\n\
[{{ message['role'].upper() }} {{ ns.n }}] {{ message['content'].strip() }}\
{% if message['content'].endswith('|>') %} (tagged){% endif %}\n{{ eos_token }}\n{% endfor -%}\n\
{%- if add_generation_prompt %}[ASSISTANT]{% endif %}";

const TRAIN_AND_RENDER: &str = r#"
import json, os, sys
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
spec = json.load(sys.stdin)
bos, eos = spec["bos"], spec["eos"]
special = [bos, eos, "<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
           "<start_of_turn>", "<end_of_turn>"]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=special, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
tok.train_from_iterator(spec["corpus"], trainer)
for name, template in spec["templates"].items():
    d = os.path.join(spec["dir"], name)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"chat_template": template, "bos_token": bos, "eos_token": eos}, f)
fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos)
count = lambda text: len(fast(text, add_special_tokens=False)["input_ids"])
out = {"renders": {}, "counts": {}, "suffix_counts": [count(s) for s in spec["suffixes"]]}
for name, template in spec["templates"].items():
    texts = [fast.apply_chat_template([{"role": "user", "content": c}], tokenize=False,
                                      add_generation_prompt=True, chat_template=template) for c in spec["contents"]]
    out["renders"][name] = texts
    out["counts"][name] = [count(t) for t in texts]
print(json.dumps(out))
"#;

#[test]
fn templates_and_token_counts_match_transformers() {
    let dir = tempfile::tempdir().unwrap();
    let records = read_records(&mini_dataset()).unwrap();
    // A spread of questions: every 23rd record, each in two styles and three target languages.
    let langs = [Lang::new("en"), Lang::new("zh"), Lang::new("ar")];
    let mut cases = Vec::new();
    for record in records.iter().step_by(23) {
        for style in [PromptStyle::Tag, PromptStyle::Instruction] {
            for lang in &langs {
                cases.push((record.query.clone(), style, lang.clone()));
            }
        }
    }
    let contents: Vec<String> = cases.iter().map(|(q, style, lang)| user_content(*style, q, lang).unwrap()).collect();
    let suffixes: Vec<String> =
        default_languages().iter().map(|l| user_content(PromptStyle::Instruction, "", l).unwrap()).collect();
    let templates: BTreeMap<&str, &str> = [
        ("chatml", lrpo_host::prompt::CHATML_TEMPLATE),
        ("llama3", LLAMA3),
        ("qwen", QWEN_STYLE),
        ("gemma", GEMMA_STYLE),
        ("pycompat", PYCOMPAT),
    ]
    .into_iter()
    .collect();
    let corpus: Vec<String> = records.iter().flat_map(|r| [r.query.clone(), r.chosen.clone()]).collect();
    let spec = json!({"dir": dir.path(), "bos": "<s>", "eos": "</s>", "templates": templates,
                      "contents": contents, "suffixes": suffixes, "corpus": corpus});
    let out: Value = serde_json::from_str(&run_python(
        &["transformers", "tokenizers", "jinja2"],
        TRAIN_AND_RENDER,
        &spec.to_string(),
    ))
    .unwrap();

    for name in templates.keys() {
        for style in [PromptStyle::Tag, PromptStyle::Instruction] {
            let builder = PromptBuilder::for_model(style, Some(&dir.path().join(name))).unwrap();
            assert!(builder.counter().is_exact());
            for (i, (question, case_style, lang)) in cases.iter().enumerate() {
                if *case_style != style {
                    continue;
                }
                let rendered = builder.render(question, lang).unwrap();
                assert_eq!(rendered, out["renders"][name][i], "template {name}, case {i}");
                let tokens = builder.prompt_tokens(question, lang).unwrap();
                assert_eq!(tokens as u64, out["counts"][name][i].as_u64().unwrap(), "template {name}, case {i}");
            }
        }
    }

    // The filter's longest language is the argmax of the real token counts (first on ties).
    let builder = PromptBuilder::for_model(PromptStyle::Instruction, Some(&dir.path().join("chatml"))).unwrap();
    let counts: Vec<u64> = out["suffix_counts"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let max = *counts.iter().max().unwrap();
    let first = counts.iter().position(|&c| c == max).unwrap();
    let (longest, tokens) = builder.longest_language(&default_languages()).unwrap();
    assert_eq!((longest, tokens as u64), (default_languages()[first].clone(), max));
}
