"""Checks an `lrpo-host export` directory against the checkpoint it came from and the base model:
`python check_export.py EXPORT_DIR BASE_DIR OPTIMIZER_STATE`. Prints JSON:
{"max_diff_vs_checkpoint", "changed_vs_base", "trained_vs_base", "tensors", "chat_prompt", "greedy"}.
transformers loads the export as a user would (model, tokenizer with its chat template, generate).
"""
import json
import sys

import torch
import transformers as tf
from safetensors.torch import load_file

export, base, state = sys.argv[1:4]
model = tf.AutoModelForCausalLM.from_pretrained(export, dtype=torch.float32).eval()
tok = tf.AutoTokenizer.from_pretrained(export)
base_model = tf.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
ckpt = {k[len("param/"):]: v for k, v in load_file(state).items() if k.startswith("param/")}

exported = model.state_dict()
base_sd = base_model.state_dict()
max_diff, changed, trained = 0.0, 0, 0
for name, want in ckpt.items():
    got = exported[name]
    max_diff = max(max_diff, (got - want).abs().max().item())
    changed += int(not torch.equal(got, base_sd[name]))
    trained += int(not torch.equal(want, base_sd[name]))

prompt = tok.apply_chat_template([{"role": "user", "content": "Hello"}], tokenize=False, add_generation_prompt=True)
ids = tok(prompt, return_tensors="pt").input_ids
with torch.no_grad():
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
print(json.dumps({"max_diff_vs_checkpoint": max_diff, "changed_vs_base": changed, "trained_vs_base": trained,
                  "tensors": len(ckpt), "chat_prompt": prompt, "greedy": out[0, ids.shape[1]:].tolist()}))
