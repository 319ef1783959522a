"""Teacher-forced log-probs of given responses under an f32 model (transformers), the reference
the vllm engine's tests hold the server's sampler log-probs and greedy picks against.

  stdin:  {"model_dir": DIR, "sequences": [{"prompt": [ids], "response": [ids]}, ...]}
  stdout: [{"logprobs": [...], "top2": [[[id, logprob], [id, logprob]], ...]}, ...]
          log_softmax (temperature 1) of each response token given everything before it, and the
          two most likely tokens at each response position.
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
import transformers as tf

job = json.load(sys.stdin)
torch.set_num_threads(2)
model = tf.AutoModelForCausalLM.from_pretrained(job["model_dir"], dtype=torch.float32).eval()
out = []
with torch.no_grad():
    for seq in job["sequences"]:
        prompt, response = seq["prompt"], seq["response"]
        ids = torch.tensor([prompt + response])
        logp = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
        # Position p predicts token p + 1: the response's predictions start at the last prompt token.
        rows = logp[len(prompt) - 1 : len(prompt) - 1 + len(response)]
        picked = rows.gather(1, torch.tensor(response).view(-1, 1)).view(-1) if response else torch.zeros(0)
        top = rows.topk(2, dim=-1)
        out.append({
            "logprobs": picked.tolist(),
            "top2": [[[int(i), float(v)] for i, v in zip(ti, tv)] for ti, tv in zip(top.indices.tolist(), top.values.tolist())],
        })
json.dump(out, sys.stdout)
