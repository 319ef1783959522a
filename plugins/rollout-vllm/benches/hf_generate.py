"""transformers' side of the vllm engine's benchmark: sampled generate() on a left-padded batch.

  hf_generate.py MODEL_DIR PROMPTS_JSON THREADS SAMPLES NEW_TOKENS
Prints "ready"; then for every "run" line on stdin prints "<seconds> <tokens>", where a
sequence's tokens count up to and including its first end-of-sequence token.
"""
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import transformers as tf

model_dir, prompts_file = sys.argv[1], sys.argv[2]
threads, samples, new_tokens = (int(a) for a in sys.argv[3:6])
torch.set_num_threads(threads)
model = tf.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
stop = model.generation_config.eos_token_id
stop = stop if isinstance(stop, list) else [stop]
with open(prompts_file) as f:
    prompts = json.load(f)
width = max(map(len, prompts))
input_ids = torch.tensor([[stop[0]] * (width - len(p)) + p for p in prompts])
attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
print("ready", flush=True)
for _ in sys.stdin:
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(input_ids, attention_mask=attention, do_sample=True, temperature=1.0, top_p=1.0,
                             top_k=0, num_return_sequences=samples, max_new_tokens=new_tokens,
                             eos_token_id=stop, pad_token_id=stop[0])
    elapsed = time.perf_counter() - t0
    counted = 0
    for row in out[:, width:].tolist():
        ends = [i for i, t in enumerate(row) if t in stop]
        counted += ends[0] + 1 if ends else len(row)
    print(f"{elapsed} {counted}", flush=True)
