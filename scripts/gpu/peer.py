"""The PyTorch + transformers side of the GPU check's measurements, one process per measurement
so that its peak memory is its own (scripts/gpu/check.py starts it and reads one JSON line).

    python peer.py generate SPEC.json   transformers `generate`: the sampler's workload
    python peer.py grpo SPEC.json       the GRPO reference step (plugins/optim-grpo/tests/py)

generate SPEC: model_dir, prompt_ids (the sampler's, per prompt), samples, new_tokens, device,
dtype (f32 | bf16), reps. Sampled with temperature 1 and no top-k / top-p, as the sampler's
defaults; each sequence's tokens are counted up to and including its first EOS, as the sampler's
are. Round 0 is a warm-up.

grpo SPEC: model_dir, batch (TrainBatch JSON), config (grpo keys), device, dtypes, reps. The step
is tests/py/grpo_reference.py's, run on the device by making it the default device (the
reference builds its tensors with plain factory calls; its layout is built on the CPU). bf16 is the usual PyTorch mixed
precision: fp32 weights and AdamW, the forward and backward under torch.autocast(bfloat16).
"""
import contextlib
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
import transformers as tf  # noqa: E402

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mib(device):
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def generate(spec):
    device = torch.device(spec["device"])
    model = tf.AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=DTYPES[spec["dtype"]]).to(device).eval()
    eos = model.generation_config.eos_token_id
    eos = eos if isinstance(eos, list) else [eos]
    prompts = spec["prompt_ids"]
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[eos[0]] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    rounds = []
    for _ in range(spec["reps"] + 1):
        sync(device)
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(ids, attention_mask=mask, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                                 num_return_sequences=spec["samples"], max_new_tokens=spec["new_tokens"],
                                 eos_token_id=eos, pad_token_id=eos[0])
        sync(device)
        seconds = time.perf_counter() - start
        tokens = 0
        for row in out[:, width:].tolist():
            n = len(row)
            for i, t in enumerate(row):
                if t in eos:
                    n = i + 1
                    break
            tokens += n
        rounds.append({"seconds": seconds, "tokens": tokens})
    return {"torch": torch.__version__, "transformers": tf.__version__, "rounds": rounds,
            "torch_peak_allocated_mib": peak_mib(device)}


def grpo(spec):
    sys.path.insert(0, os.path.join(ROOT, "plugins", "optim-grpo", "tests", "py"))
    import grpo_reference as ref

    device = torch.device(spec["device"])
    torch.set_default_device(device)
    # The reference lays a micro-batch out element by element; on the GPU each of those writes
    # would be a kernel launch, so it is laid out on the CPU and moved, as lrpo's step does.
    cpu_layout = ref.layout

    def layout(samples, rows):
        with torch.device("cpu"):
            ids, pos, tgt, mask, resp = cpu_layout(samples, rows)
        return ids.to(device), pos.to(device), tgt.to(device), mask.to(device), resp

    ref.layout = layout
    c = dict(ref.DEFAULTS)
    c.update(spec["config"])
    samples = json.load(open(spec["batch"]))["samples"]
    timings = []
    for dtype in spec["dtypes"]:
        model = tf.AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=torch.float32).to(device)
        reference = None
        if c["kl_coef"] != 0:
            reference = tf.AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=torch.float32).to(device)
            reference.requires_grad_(False)
        if c.get("gradient_checkpointing"):
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        opt = ref.make_optimizer(model, c)
        if dtype == "f32":
            autocast = contextlib.nullcontext
        else:
            def autocast():
                return torch.autocast(device_type=device.type, dtype=DTYPES[dtype])
        times, loss = [], float("nan")
        for i in range(spec["reps"] + 1):
            sync(device)
            start = time.perf_counter()
            with autocast():
                loss = ref.grpo_step(model, reference, opt, samples, c)
            sync(device)
            if i > 0:  # the first step allocates AdamW's moments and warms up kernels
                times.append(time.perf_counter() - start)
        timings.append({"dtype": dtype, "median_s": statistics.median(times), "all_s": times, "loss": loss})
        del model, reference, opt
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return {"torch": torch.__version__, "transformers": tf.__version__, "timings": timings,
            "torch_peak_allocated_mib": peak_mib(device)}


def main():
    what, spec_path = sys.argv[1], sys.argv[2]
    spec = json.load(open(spec_path))
    torch.set_num_threads(spec.get("threads") or os.cpu_count() or 1)
    result = {"generate": generate, "grpo": grpo}[what](spec)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
