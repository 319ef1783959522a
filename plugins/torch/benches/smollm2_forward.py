"""transformers' side of benches/smollm2_forward.rs.

Loads the model once, then for every `run` line on stdin does one forward pass of the saved
batch and prints its seconds and a checksum of the last position's logits. Driven one pass at a
time by the Rust side so that both sides alternate and share whatever load the machine has.
"""
import sys
import time

import torch
import transformers as tf
from safetensors.torch import load_file

model_dir, ids_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
model = tf.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
ids = load_file(ids_path)["input_ids"]
print("ready", flush=True)
with torch.no_grad():
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start = time.perf_counter()
        logits = model(input_ids=ids).logits
        elapsed = time.perf_counter() - start
        print(elapsed, logits[:, 127].mean().item(), flush=True)
