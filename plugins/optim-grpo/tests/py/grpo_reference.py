"""PyTorch reference of one GRPO training step, for the Rust parity tests.

    python grpo_reference.py OUT_DIR CONFIG_JSON

Creates (once) a tiny random Llama in OUT_DIR/model and a batch of scored rollouts in
OUT_DIR/batch.json (lrpo TrainBatch layout), then runs one step with the config (the same keys
as the Rust `grpo` config) using transformers' model, torch.optim.AdamW and
torch.nn.utils.clip_grad_norm_, and writes OUT_DIR/expected.safetensors: every updated
parameter plus `loss` (mean over updates of each update's objective).
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
import transformers as tf

DEFAULTS = dict(adv_estimator="grpo", clip_ratio_low=0.2, clip_ratio_high=0.2, clip_ratio_c=3.0, kl_coef=0.001,
                kl_estimator="k3", entropy_coeff=0.0, loss_agg_mode="token-mean", loss_norm_length=1024,
                temperature=1.0, micro_batch_size=4, mini_batch_size=0, ppo_epochs=1, lr=1e-6, betas=[0.9, 0.999],
                eps=1e-8, weight_decay=0.01, grad_clip=1.0)


def make_model_and_batch(OUT):
    torch.manual_seed(4321)
    cfg = tf.LlamaConfig(vocab_size=96, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         rms_norm_eps=1e-6, tie_word_embeddings=False,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    model = tf.LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(f"{OUT}/model")
    gen = torch.Generator().manual_seed(99)
    samples = []
    # As in GRPO, the rollouts of a group continue one prompt (so the optimizer's shared-prompt
    # layout is what these tests see; micro-batches of 3 mix two prompts of unequal length).
    for g in range(3):
        plen = int(torch.randint(2, 9, (1,), generator=gen))
        prompt = torch.randint(1, 96, (plen,), generator=gen).tolist()
        for k in range(4):
            rlen = int(torch.randint(1, 11, (1,), generator=gen))
            samples.append({
                "group_id": 100 + g,
                "prompt_tokens": prompt,
                "response_tokens": torch.randint(1, 96, (rlen,), generator=gen).tolist(),
                "sampler_logprobs": (-torch.rand(rlen, generator=gen) * 5).tolist(),
                "reward": round(float(torch.rand(1, generator=gen)), 3),
            })
    with open(f"{OUT}/batch.json", "w") as f:
        json.dump({"step": 0, "samples": samples}, f)


def advantages(samples, estimator):
    groups = {}
    for i, s in enumerate(samples):
        groups.setdefault(s["group_id"], []).append(i)
    adv = [0.0] * len(samples)
    for rows in groups.values():
        s = torch.tensor([samples[i]["reward"] for i in rows], dtype=torch.float64)
        k = len(rows)
        if k == 1:
            a = s / (1 + 1e-6) if estimator == "grpo" else s
        elif bool((s == s[0]).all()):
            a = torch.zeros_like(s)
        elif estimator == "grpo":
            a = (s - s.mean()) / (s.std(unbiased=True) + 1e-6)
        elif estimator == "dr_grpo":
            a = s - s.mean()
        else:
            a = (s - s.mean()) * k / (k - 1)
        for i, v in zip(rows, a.tolist()):
            adv[i] = v
    return adv


def layout(samples, rows):
    sel = [samples[i] for i in rows]
    seq = max(len(s["prompt_tokens"]) + len(s["response_tokens"]) for s in sel)
    resp = max(len(s["response_tokens"]) for s in sel)
    b = len(sel)
    ids = torch.zeros(b, seq, dtype=torch.long)
    pos = torch.zeros(b * resp, dtype=torch.long)
    tgt = torch.zeros(b * resp, dtype=torch.long)
    mask = torch.zeros(b, resp)
    for r, s in enumerate(sel):
        toks = s["prompt_tokens"] + s["response_tokens"]
        ids[r, :len(toks)] = torch.tensor(toks)
        p = len(s["prompt_tokens"])
        pos[r * resp:(r + 1) * resp] = r * seq
        for j, t in enumerate(s["response_tokens"]):
            pos[r * resp + j] = r * seq + p - 1 + j
            tgt[r * resp + j] = t
            mask[r, j] = 1.0
    return ids, pos, tgt, mask, resp


def score(model, samples, rows, temperature):
    ids, pos, tgt, mask, resp = layout(samples, rows)
    hidden = model.model(input_ids=ids).last_hidden_state
    states = hidden.reshape(-1, hidden.shape[-1]).index_select(0, pos)
    logits = F.linear(states, model.lm_head.weight).float()
    if temperature != 1.0:
        logits = logits / temperature
    logp = logits.gather(1, tgt[:, None]).squeeze(1) - torch.logsumexp(logits, -1)
    return logp.view(len(rows), resp), logits, mask, resp


def grid(values, rows, resp):
    out = torch.zeros(len(rows), resp)
    for r, i in enumerate(rows):
        out[r, :len(values[i])] = torch.tensor(values[i])
    return out


def agg(x, mask, mode, norm_len):
    if mode == "token-mean":
        return (x * mask).sum() / (mask.sum() + 1e-8)
    if mode == "seq-mean-token-mean":
        return ((x * mask).sum(-1) / mask.sum(-1)).mean()
    if mode == "seq-mean-token-sum":
        return (x * mask).sum(-1).mean()
    return (x * mask).sum(-1).sum() / norm_len


def kl(logp, ref, kind):
    if kind == "k1":
        return logp - ref
    if kind == "k2":
        return 0.5 * (logp - ref) ** 2
    d = torch.clamp(ref - logp, -20, 20)
    return torch.clamp(d.exp() - d - 1, -10, 10)


def make_optimizer(model, c):
    return torch.optim.AdamW(model.parameters(), lr=c["lr"], betas=tuple(c["betas"]), eps=c["eps"],
                             weight_decay=c["weight_decay"], foreach=False)


def grpo_step(model, ref, opt, samples, c):
    """One training step; returns the mean over updates of each update's objective."""
    n = len(samples)
    adv = advantages(samples, c["adv_estimator"])
    mini = n if c["mini_batch_size"] == 0 else min(c["mini_batch_size"], n)
    micro = c["micro_batch_size"]
    recompute = math.ceil(n / mini) > 1 or c["ppo_epochs"] > 1
    chunks = [list(range(i, min(i + micro, n))) for i in range(0, n, micro)]
    lens = [len(s["response_tokens"]) for s in samples]

    def all_logprobs(m):
        out = [None] * n
        with torch.no_grad():
            for rows in chunks:
                lp, _, _, _ = score(m, samples, rows, c["temperature"])
                for r, i in enumerate(rows):
                    out[i] = lp[r, :lens[i]].tolist()
        return out

    old_rows = all_logprobs(model) if recompute else None
    ref_rows = all_logprobs(ref) if c["kl_coef"] != 0 else None
    update_losses = []
    for epoch in range(c["ppo_epochs"]):
        for start in range(0, n, mini):
            mini_rows = list(range(start, min(start + mini, n)))
            opt.zero_grad()
            total = 0.0
            for m0 in range(0, len(mini_rows), micro):
                rows = mini_rows[m0:m0 + micro]
                w = len(rows) / len(mini_rows)
                logp, logits, mask, resp = score(model, samples, rows, c["temperature"])
                old = grid(old_rows, rows, resp) if recompute else logp.detach()
                a = torch.tensor([adv[i] for i in rows], dtype=torch.float32)[:, None]
                ratio = torch.exp(torch.clamp(logp - old, -20, 20))
                l1 = -a * ratio
                l2 = -a * torch.clamp(ratio, 1 - c["clip_ratio_low"], 1 + c["clip_ratio_high"])
                lc = torch.maximum(l1, l2)
                l3 = -a * c["clip_ratio_c"]
                per_tok = torch.where(a < 0, torch.minimum(lc, l3), lc)
                loss = agg(per_tok, mask, c["loss_agg_mode"], c["loss_norm_length"])
                if c["entropy_coeff"] != 0:
                    probs = torch.softmax(logits, -1)
                    ent = (torch.logsumexp(logits, -1) - (probs * logits).sum(-1)).view(len(rows), resp)
                    loss = loss - c["entropy_coeff"] * agg(ent, mask, c["loss_agg_mode"], c["loss_norm_length"])
                else:
                    with torch.no_grad():  # the entropy statistic, as the Rust side reports it
                        d = logits.detach()
                        ent = torch.logsumexp(d, -1) - (torch.softmax(d, -1) * d).sum(-1)
                        agg(ent.view(len(rows), resp), mask, c["loss_agg_mode"], c["loss_norm_length"]).item()
                if ref_rows is not None:
                    k = kl(logp, grid(ref_rows, rows, resp), c["kl_estimator"])
                    loss = loss + c["kl_coef"] * agg(k, mask, c["loss_agg_mode"], c["loss_norm_length"])
                (loss * w).backward()
                total += w * loss.item()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), c["grad_clip"])
            if torch.isfinite(norm):
                opt.step()
            opt.zero_grad()
            update_losses.append(total)
    return sum(update_losses) / len(update_losses)


def main():
    out_dir, cfg = sys.argv[1], json.loads(sys.argv[2])
    torch.set_num_threads(1)
    if not os.path.isdir(f"{out_dir}/model"):
        make_model_and_batch(out_dir)
    samples = json.load(open(f"{out_dir}/batch.json"))["samples"]
    c = dict(DEFAULTS)
    c.update(cfg)
    model = tf.LlamaForCausalLM.from_pretrained(f"{out_dir}/model", torch_dtype=torch.float32)
    ref = tf.LlamaForCausalLM.from_pretrained(f"{out_dir}/model", torch_dtype=torch.float32) if c["kl_coef"] != 0 else None
    loss = grpo_step(model, ref, make_optimizer(model, c), samples, c)
    out = {name: p.detach().contiguous() for name, p in model.named_parameters()}
    out["loss"] = torch.tensor([loss], dtype=torch.float64)
    save_file(out, f"{out_dir}/expected.safetensors")


if __name__ == "__main__":
    main()
