"""transformers' view of the imported real models, for the Rust parity tests.

  real_reference.py greedy GGUF N      stdin: JSON list of user prompts; stdout: JSON list of
                                       {"ids": prompt ids after the chat template, "new": N greedy ids}
  real_reference.py tokenize GGUF      stdin: JSON list of lines; stdout: JSON list of id lists
  real_reference.py embed MODEL_DIR    stdin: JSON list of sentences; stdout: JSON list of
                                       {"ids": ids, "embedding": mean-pooled last hidden state}

The SmolLM2 side loads the original GGUF through transformers' own GGUF loader (its own
dequantization and tokenizer rebuild), so the Rust importer is checked too, not only the model code.
"""
import json
import os
import sys

import torch
import transformers as tf

torch.set_num_threads(int(os.environ.get("LRPO_TEST_THREADS", "2")))
mode, path = sys.argv[1], sys.argv[2]
items = json.load(sys.stdin)


def gguf_parts(gguf):
    return os.path.dirname(gguf), os.path.basename(gguf)


if mode == "greedy":
    n = int(sys.argv[3])
    d, f = gguf_parts(path)
    tok = tf.AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = tf.AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    out = []
    for prompt in items:
        text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        out.append({"text": text, "ids": ids[0].tolist(), "new": gen[0, ids.shape[1]:].tolist()})
    json.dump(out, sys.stdout)
elif mode == "tokenize":
    d, f = gguf_parts(path)
    tok = tf.AutoTokenizer.from_pretrained(d, gguf_file=f)
    json.dump([tok(line, add_special_tokens=True).input_ids for line in items], sys.stdout)
elif mode == "embed":
    tok = tf.AutoTokenizer.from_pretrained(path)
    model = tf.AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    out = []
    for s in items:
        enc = tok(s, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state[0]
        out.append({"ids": enc.input_ids[0].tolist(), "embedding": h.mean(0).tolist()})
    json.dump(out, sys.stdout)
else:
    sys.exit(f"unknown mode {mode}")
