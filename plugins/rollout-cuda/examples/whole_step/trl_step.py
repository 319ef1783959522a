"""The TRL side of the whole-step benchmark (main.rs beside this file): GRPOTrainer on the same
model, prompts and settings as the LRPO step, in lock-step with the Rust side.

    trl_step.py SETUP_JSON

SETUP_JSON (the JSON itself or a file holding it) names: model_dir, questions (a list of
{question, answer}), threads, dtype (f32 or bf16), steps (warm-up included), max_new_tokens,
rollouts, micro_batch, lr, kl, weight_decay, seed.

Protocol on stdout (everything else the libraries print goes to stderr): one `@@trl ready {...}`
line after the trainer is built (with the prompt token ids, so that the Rust side can check that
both feed the model the same prompts, and this process's GEMM rate); then, per step, the script waits for a `go` line on stdin,
runs the step and answers `@@trl step {...}` with the step's phase times; `@@trl done {}` at the
end. Phases: generate (TRL's `_generate`: chat template, `generate`, decode), reward (its
`_calculate_rewards`), reference (the reference model's log-prob forwards), other (the rest of
`_generate_and_score_completions`: padding, advantages, metrics), update (the rest of the step:
forward + backward of every micro-batch, gradient clipping, AdamW). The reward is the rule the
Rust side uses: unigram F1 of the lower-cased words of response and reference.
"""
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter

# The protocol keeps the real stdout; library output goes to stderr.
PROTOCOL = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
sys.stdout = sys.stderr

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

setup = json.loads(open(sys.argv[1]).read()) if os.path.isfile(sys.argv[1]) else json.loads(sys.argv[1])
torch.set_num_threads(int(setup["threads"]))

import datasets  # noqa: E402
import transformers  # noqa: E402
import trl  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402


def send(kind, payload):
    PROTOCOL.write(f"@@trl {kind} {json.dumps(payload)}\n")
    PROTOCOL.flush()


def words(text):
    return re.findall(r"[^\W_]+", text.lower())


def unigram_f1(response, reference):
    got, want = Counter(words(response)), Counter(words(reference))
    common = sum((got & want).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def f1_reward(prompts, completions, answer, **_):
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [unigram_f1(t, a) for t, a in zip(texts, answer)]


def gemm_gflops(dtype, n=1024, reps=3):
    """This process's matmul rate for `dtype` at n x n x n (best of `reps`)."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


bf16 = setup["dtype"] == "bf16"
rate = {"f32": gemm_gflops(torch.float32)}
if bf16:
    rate["bf16"] = gemm_gflops(torch.bfloat16)

rows = [{"prompt": [{"role": "user", "content": q["question"]}], "answer": q["answer"]} for q in setup["questions"]]
tokenizer = transformers.AutoTokenizer.from_pretrained(setup["model_dir"], padding_side="left")
prompt_ids = [
    list(tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
    for r in rows
]

rollouts, micro = int(setup["rollouts"]), int(setup["micro_batch"])
batch_rows = len(rows) * rollouts
out_dir = tempfile.mkdtemp(prefix="trl-step-")
config = GRPOConfig(
    output_dir=out_dir,
    use_cpu=True,
    bf16=bf16,
    fp16=False,
    seed=int(setup["seed"]),
    max_steps=int(setup["steps"]),
    # One optimizer step per generation batch of questions x rollouts, in micro-batches of
    # `micro` rows with gradient accumulation: the LRPO defaults (micro-batches of 4).
    per_device_train_batch_size=micro,
    gradient_accumulation_steps=batch_rows // micro,
    steps_per_generation=batch_rows // micro,
    num_generations=rollouts,
    num_iterations=1,
    max_completion_length=int(setup["max_new_tokens"]),
    temperature=1.0,
    top_p=1.0,
    top_k=0,
    beta=float(setup["kl"]),
    learning_rate=float(setup["lr"]),
    lr_scheduler_type="constant",
    warmup_steps=0,
    weight_decay=float(setup["weight_decay"]),
    max_grad_norm=1.0,
    # TRL turns checkpointing on by default; the LRPO default is off, so both sides do the same work.
    gradient_checkpointing=False,
    logging_steps=1,
    report_to="none",
    save_strategy="no",
    disable_tqdm=True,
    dataloader_num_workers=0,
    log_completions=False,
)


class Phases:
    """Wall time per phase of the current step, from wrapped trainer methods."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.t = Counter()
        self.prompt_tokens = []
        self.completion_tokens = []
        self.rewards = []
        self.matmul_dtypes = set()

    def timed(self, name, fn, pick=None):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            self.t[name if pick is None else pick(args, kwargs)] += time.perf_counter() - start
            return out

        return wrapper


phases = Phases()
trainer = GRPOTrainer(
    model=setup["model_dir"],
    reward_funcs=[f1_reward],
    args=config,
    train_dataset=datasets.Dataset.from_list(rows),
    processing_class=tokenizer,
)

generate = trainer._generate


def generate_and_count(prompts):
    out = generate(prompts)
    prompt_ids, completion_ids = out[0], out[1]
    phases.prompt_tokens = [len(p) for p in prompt_ids]
    phases.completion_tokens = [len(c) for c in completion_ids]
    return out


calculate = trainer._calculate_rewards


def calculate_and_keep(*args, **kwargs):
    out = calculate(*args, **kwargs)
    phases.rewards = out.sum(dim=1).tolist()
    return out


trainer._generate = phases.timed("generate", generate_and_count)
trainer._calculate_rewards = phases.timed("reward", calculate_and_keep)
trainer._generate_and_score_completions = phases.timed("generate_and_score", trainer._generate_and_score_completions)
trainer._get_per_token_logps_and_entropies = phases.timed(
    "logps",
    trainer._get_per_token_logps_and_entropies,
    pick=lambda args, kwargs: "reference" if (args[0] if args else kwargs["model"]) is trainer.ref_model else "policy",
)
# Which dtype the decoder's matmuls produce (bf16 under autocast), per phase.
trainer.model.model.layers[0].mlp.down_proj.register_forward_hook(
    lambda m, i, o: phases.matmul_dtypes.add(str(o.dtype).replace("torch.", ""))
)


class LockStep(transformers.TrainerCallback):
    def on_step_begin(self, args, state, control, **kwargs):
        line = sys.stdin.readline()
        if line.strip() != "go":
            sys.exit(0)
        phases.reset()
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        step = time.perf_counter() - self.start
        t = phases.t
        scored = t["generate_and_score"]
        send(
            "step",
            {
                "step": step,
                "generate": t["generate"],
                "reward": t["reward"],
                "reference": t["reference"],
                "other": scored - t["generate"] - t["reward"] - t["reference"],
                "update": step - scored,
                "policy_logps": t["policy"],
                "prompt_tokens": phases.prompt_tokens,
                "completion_tokens": phases.completion_tokens,
                "rewards": phases.rewards,
                "matmul_dtypes": sorted(phases.matmul_dtypes),
            },
        )


trainer.add_callback(LockStep())
send(
    "ready",
    {
        "trl": trl.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "weights_dtype": str(trainer.model.dtype).replace("torch.", ""),
        "reference_dtype": str(trainer.ref_model.dtype).replace("torch.", "") if trainer.ref_model is not None else None,
        "prompt_ids": prompt_ids,
        "gemm_gflops": rate,
        "loss_type": config.loss_type,
    },
)
trainer.train()
send("done", {})
