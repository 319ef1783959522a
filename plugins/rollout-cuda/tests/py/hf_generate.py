"""transformers' generate on a model directory, the reference for the sampler's greedy path.

  hf_generate.py MODEL_DIR N     stdin: JSON list of prompt id lists; stdout: JSON list of the
                                 (up to) N greedy ids generate() adds to each, one prompt at a time
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import transformers as tf

torch.set_num_threads(int(os.environ.get("LRPO_TEST_THREADS", "2")))
model_dir, n = sys.argv[1], int(sys.argv[2])
model = tf.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
gen = model.generation_config
out = []
for ids in json.load(sys.stdin):
    x = torch.tensor([ids])
    with torch.no_grad():
        y = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n, do_sample=False,
                           eos_token_id=gen.eos_token_id, pad_token_id=gen.pad_token_id)
    out.append(y[0, x.shape[1]:].tolist())
json.dump(out, sys.stdout)
