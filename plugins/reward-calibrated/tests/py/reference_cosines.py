"""transformers' cosines for the reward's similarity, the parity reference for tests/integration/similarity.rs.

stdin: {"pairs": [[response, reference], ...], "prefix": str, "max_length": int}
stdout: JSON list of cosines. Each side is trimmed and prefixed; one text per forward pass, so
no padding is involved; mean pooling over the mask, L2 normalisation, dot product.
"""
import json
import os
import sys

import torch
import transformers as tf

torch.set_num_threads(int(os.environ.get("LRPO_TEST_THREADS", "2")))
req = json.load(sys.stdin)
tok = tf.AutoTokenizer.from_pretrained(sys.argv[1])
model = tf.AutoModel.from_pretrained(sys.argv[1], dtype=torch.float32).eval()


def embed(text):
    enc = tok(req["prefix"] + text.strip(), truncation=True, max_length=req["max_length"], return_tensors="pt")
    with torch.no_grad():
        h = model(**enc).last_hidden_state
    m = enc.attention_mask.unsqueeze(-1).float()
    v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(v, dim=-1)[0]


json.dump([float(embed(a) @ embed(b)) for a, b in req["pairs"]], sys.stdout)
