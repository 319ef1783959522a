"""Python peer of benches/reward_throughput.rs: the reward's similarity with transformers.

usage: reward_throughput.py MODEL_DIR PAIRS_JSON THREADS REPEATS
Each side gets the "query: " prefix, truncation to 512 tokens, mean pooling over the mask, L2
normalisation and a dot product. Two batching strategies, 128 texts per forward pass:
  sorted  - all texts sorted by length first (what sentence-transformers' encode does);
  chunked - 128 pairs at a time in input order, responses and references as two batches
            (what the reference's compute_score_batch does);
and, when the venv has it (scripts/bench-reward.sh installs it), sentence-transformers' own
SentenceTransformer.encode on the same directory (its default for a plain transformers
checkpoint: the transformer, then mean pooling), batch 128, normalised.
Prints JSON with pairs per second (best of REPEATS; null for a peer that is not installed) and
the mean cosine of each as a checksum.
"""
import json
import sys
import time

import torch
import transformers as tf

model_dir, pairs_path, threads, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[sys.argv[5] if len(sys.argv) > 5 else "f32"]
torch.set_num_threads(threads)
pairs = json.load(open(pairs_path))
tok = tf.AutoTokenizer.from_pretrained(model_dir)
model = tf.AutoModel.from_pretrained(model_dir, dtype=dtype).eval()
BATCH, PREFIX, MAX_LEN = 128, "query: ", 512


def forward(texts):
    enc = tok(texts, padding=True, truncation=True, max_length=MAX_LEN, return_tensors="pt")
    h = model(**enc).last_hidden_state
    m = enc.attention_mask.unsqueeze(-1).to(h.dtype)
    v = (h.float() * m.float()).sum(1) / m.float().sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(v, dim=-1)


@torch.inference_mode()
def sorted_strategy():
    texts = [PREFIX + a.strip() for a, _ in pairs] + [PREFIX + b.strip() for _, b in pairs]
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = torch.empty(len(texts), model.config.hidden_size)
    for s in range(0, len(order), BATCH):
        idx = order[s:s + BATCH]
        out[idx] = forward([texts[i] for i in idx])
    n = len(pairs)
    return (out[:n] * out[n:]).sum(-1)


@torch.inference_mode()
def chunked_strategy():
    cos = []
    for s in range(0, len(pairs), BATCH):
        chunk = pairs[s:s + BATCH]
        a = forward([PREFIX + x.strip() for x, _ in chunk])
        b = forward([PREFIX + y.strip() for _, y in chunk])
        cos.append((a * b).sum(-1))
    return torch.cat(cos)


def sentence_transformers_strategy():
    texts = [PREFIX + a.strip() for a, _ in pairs] + [PREFIX + b.strip() for _, b in pairs]
    out = st_model.encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_tensor=True,
                          show_progress_bar=False)
    n = len(pairs)
    return (out[:n] * out[n:]).sum(-1)


def best_rate(fn):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        print(f"python {fn.__name__}: {len(pairs) / (time.perf_counter() - start):.1f} pairs/s", file=sys.stderr, flush=True)
    return len(pairs) / best, result


forward([PREFIX + a for a, _ in pairs[:64]])
sorted_rate, cos = best_rate(sorted_strategy)
chunked_rate, _ = best_rate(chunked_strategy)
try:
    from sentence_transformers import SentenceTransformer
except ImportError:
    st_rate, st_cos = None, None
    print("python: sentence-transformers is not installed (scripts/bench-reward.sh installs it)", file=sys.stderr)
else:
    st_model = SentenceTransformer(model_dir, device="cpu")
    st_model.max_seq_length = MAX_LEN
    st_model.to(dtype)
    st_model.encode([PREFIX + a for a, _ in pairs[:64]], batch_size=BATCH, show_progress_bar=False)
    st_rate, st_cos = best_rate(sentence_transformers_strategy)
    st_cos = float(st_cos.mean())
json.dump({"sorted_pairs_per_s": sorted_rate, "chunked_pairs_per_s": chunked_rate, "mean_cosine": float(cos.mean()),
           "sentence_transformers_pairs_per_s": st_rate, "sentence_transformers_mean_cosine": st_cos}, sys.stdout)
