"""transformers' side of the rollout benchmarks (lrpo_testkit::bench::HfGenerate): sampled generate() on a left-padded batch.

  hf_generate.py MODEL_DIR PROMPTS_JSON THREADS SAMPLES NEW_TOKENS [DTYPE]
DTYPE is f32 (default) or bf16: the weights, activations and KV cache in that dtype.
Prints "ready", then for each "run" line on stdin: "<seconds> <response tokens>", counting each
sequence's tokens up to and including its first EOS (what a rollout would keep).
"""
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import transformers as tf

model_dir, prompts_path, threads, samples, new = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[sys.argv[6] if len(sys.argv) > 6 else "f32"]
torch.set_num_threads(threads)
model = tf.AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).eval()
eos = model.generation_config.eos_token_id
eos = eos if isinstance(eos, list) else [eos]
prompts = json.load(open(prompts_path))
width = max(len(p) for p in prompts)
ids = torch.tensor([[eos[0]] * (width - len(p)) + p for p in prompts])
mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
print("ready", flush=True)
for line in sys.stdin:
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(ids, attention_mask=mask, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                             num_return_sequences=samples, max_new_tokens=new, eos_token_id=eos, pad_token_id=eos[0])
    seconds = time.perf_counter() - start
    tokens = 0
    for row in out[:, width:].tolist():
        n = len(row)
        for i, t in enumerate(row):
            if t in eos:
                n = i + 1
                break
        tokens += n
    print(f"{seconds} {tokens}", flush=True)
