"""Logits of a Hugging Face model directory as transformers loads it, for the export tests:
`python hf_logits.py MODEL_DIR` with JSON {"input_ids": [[...], ...]} on stdin; prints JSON
{"logits": [...] (flattened, f32), "shape": [...], "dtype": the loaded weights' dtype}.
"""
import json
import sys

import torch
import transformers as tf

model_dir = sys.argv[1]
ids = torch.tensor(json.load(sys.stdin)["input_ids"])
model = tf.AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
model.eval()
with torch.no_grad():
    logits = model(input_ids=ids).logits.float()
print(json.dumps({"logits": logits.reshape(-1).tolist(), "shape": list(logits.shape),
                  "dtype": str(next(model.parameters()).dtype).replace("torch.", "")}))
