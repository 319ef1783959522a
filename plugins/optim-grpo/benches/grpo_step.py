"""PyTorch side of the grpo_step bench: the same GRPO step (tests/py/grpo_reference.py) on
transformers' SmolLM2, timed like the Rust side.

    python grpo_step.py MODEL_DIR BATCH_JSON THREADS REPS CONFIG_JSON

Prints the median step time in seconds, the last step's loss and every step's time, then a
second line `peak_rss_mb X`. With `"gradient_checkpointing": true` in CONFIG_JSON, transformers'
own gradient checkpointing is turned on.
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
import torch  # noqa: E402
import transformers as tf  # noqa: E402
import grpo_reference as ref  # noqa: E402

model_dir, batch_path, threads, reps, cfg = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
torch.set_num_threads(threads)
c = dict(ref.DEFAULTS)
c.update(cfg)
samples = json.load(open(batch_path))["samples"]
model = tf.LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
reference = tf.LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32) if c["kl_coef"] != 0 else None
if reference is not None:
    reference.requires_grad_(False)
if c.get("gradient_checkpointing"):
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
opt = ref.make_optimizer(model, c)
times = []
loss = float("nan")
for i in range(reps + 1):
    start = time.perf_counter()
    loss = ref.grpo_step(model, reference, opt, samples, c)
    if i > 0:  # the first step allocates moments and warms up kernels
        times.append(time.perf_counter() - start)
print(statistics.median(times), loss, *times)
# VmHWM, not getrusage's ru_maxrss: that survives exec, so a child of a large process reports
# its parent's peak (both sides printed the same figure).
with open("/proc/self/status") as status:
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print("peak_rss_mb", hwm_kb / 1024)
