"""Writes a tiny random Llama policy in Hugging Face layout for the end-to-end tests.

    python tiny_policy.py OUT_DIR TOKENIZER_DIR

The architecture is SmolLM2's (tied embeddings, grouped-query attention, its vocabulary and
special tokens) shrunk to 2 layers of width 32, so a training step takes well under a second on
CPU. The tokenizer, its chat template and the generation config are copied from TOKENIZER_DIR
(the imported SmolLM2-135M-Instruct), so the host builds real chat prompts for it.
"""
import json
import os
import shutil
import sys

import torch
import transformers as tf

out, tokenizer_dir = sys.argv[1], sys.argv[2]
with open(os.path.join(tokenizer_dir, "config.json")) as f:
    base = json.load(f)
torch.manual_seed(0)
config = tf.LlamaConfig(
    vocab_size=base["vocab_size"],
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=2048,
    rms_norm_eps=base["rms_norm_eps"],
    rope_theta=base["rope_theta"],
    tie_word_embeddings=True,
    bos_token_id=base["bos_token_id"],
    eos_token_id=base["eos_token_id"],
    pad_token_id=base.get("pad_token_id"),
)
tf.LlamaForCausalLM(config).to(torch.float32).save_pretrained(out, safe_serialization=True)
for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
    shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(out, name))
