"""Builds a tiny random Hugging Face model and the reference outputs the Rust parity tests compare
against: `python tiny_reference.py ARCH OUT_DIR`.

Writes the model in HF layout into OUT_DIR and `reference.safetensors` with `input_ids`,
`attention_mask` and `expected` (decoder logits or encoder last hidden states, f32).
"""
import sys

import torch
from safetensors.torch import save_file
import transformers as tf

ARCH, OUT = sys.argv[1], sys.argv[2]
torch.manual_seed(1234)

VOCAB = 128
DECODER = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6)
ENCODER = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
               num_attention_heads=4)

if ARCH == "llama":
    # Llama 3.1-style rope scaling with a short original context so that the smooth band and the
    # slowed low frequencies are exercised within the test's 24 positions.
    cfg = tf.LlamaConfig(**DECODER, tie_word_embeddings=False, rope_parameters={
        "rope_type": "llama3", "rope_theta": 50000.0, "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
    model = tf.LlamaForCausalLM(cfg)
elif ARCH == "llama-plain":
    cfg = tf.LlamaConfig(**DECODER, tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 100000.0})
    model = tf.LlamaForCausalLM(cfg)
elif ARCH == "qwen2":
    cfg = tf.Qwen2Config(**DECODER, tie_word_embeddings=True)
    model = tf.Qwen2ForCausalLM(cfg)
elif ARCH == "qwen3":
    cfg = tf.Qwen3Config(**DECODER, head_dim=24, tie_word_embeddings=False)
    model = tf.Qwen3ForCausalLM(cfg)
elif ARCH == "bert":
    cfg = tf.BertConfig(**ENCODER, max_position_embeddings=64)
    model = tf.BertModel(cfg)
elif ARCH == "xlm-roberta":
    cfg = tf.XLMRobertaConfig(**ENCODER, max_position_embeddings=66, pad_token_id=1)
    model = tf.XLMRobertaModel(cfg)
elif ARCH == "modernbert":
    # A window of 8 over 24 tokens, and global attention every second layer, so that both the
    # sliding and the global layers matter.
    cfg = tf.ModernBertConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
        local_attention=8, global_attn_every_n_layers=2, pad_token_id=0, bos_token_id=2, eos_token_id=3,
        cls_token_id=2, sep_token_id=3)
    model = tf.ModernBertModel(cfg)
else:
    sys.exit(f"unknown arch {ARCH}")

model.eval()
# Initialisation leaves biases at 0 and norm weights at 1; perturb everything so that each
# parameter's path through the model is really tested.
with torch.no_grad():
    for p in model.parameters():
        p.add_(torch.randn_like(p) * 0.05)
# Qwen2 is saved in shards so that loading through model.safetensors.index.json is tested too.
model.save_pretrained(OUT, max_shard_size="40KB" if ARCH == "qwen2" else "1GB")

gen = torch.Generator().manual_seed(7)
batch, seq = 2, 24
ids = torch.randint(4, VOCAB, (batch, seq), generator=gen)
mask = torch.ones(batch, seq, dtype=torch.long)
with torch.no_grad():
    if ARCH in ("bert", "xlm-roberta", "modernbert"):
        # Second row padded on the right, as a tokenizer would.
        pad = cfg.pad_token_id
        ids[1, 17:] = pad
        mask[1, 17:] = 0
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    else:
        out = model(input_ids=ids).logits
save_file({"input_ids": ids.contiguous(), "attention_mask": mask.contiguous(), "expected": out.float().contiguous()},
          f"{OUT}/reference.safetensors")
