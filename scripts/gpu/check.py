"""The GPU check: lrpo's release bundle (scripts/gpu-check.sh dist) against the torch and
transformers of the machine it runs on, checks and measurements in one run, one JSON file out.

    python check.py --dist DIR --out OUT_DIR [--device cuda|cpu] [--size full|tiny] [--budget S]

Run through `scripts/gpu-check.sh run OUT_DIR`, which unpacks the bundle and links its libtorch
to this python's torch. Models are created here from configs with this transformers (random
weights: the real ones are too big to send along): SmolLM2-135M's architecture, a
Qwen2.5-1.5B-shaped Qwen2 (with SmolLM2's tokenizer; its ids are a subset of the larger vocab)
and an e5-small-shaped BERT with e5's tokenizer. Then, each step recorded as it finishes
(a failed step is recorded with its error and the rest still run):

  plugins     the plugin manifests: every tch plugin built against this machine's torch release
  logits      lrpo-torch's decoder vs transformers on the same weights and ids, f32 and bf16
  kernel      the fused CUDA sampling kernel vs its f64 reference (lrpo-cuda-check; CUDA only)
  grpo_cpu    one GRPO step on the device vs the same step on CPU (Rust both, f32)
  train       lrpo-host with all five plugin libraries, device = the check's device
  rollout     sampler tokens/s vs transformers `generate`, same model, prompts, lengths, bf16
  grpo_bench  GRPO step time vs the PyTorch reference step, f32 and bf16 (fp32 masters)

Peak memory per measured process: GPU memory in use (NVML, device-wide, minus what was in use
before the process started) and host peak RSS. `--size tiny` shrinks every model and workload
so that the whole run takes a minute or two on a CPU: that is how the script is checked on
machines without a GPU.
"""
import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import torch  # noqa: E402
import transformers as tf  # noqa: E402

QUESTIONS = [
    "What is the capital of France?",
    "Explain photosynthesis briefly.",
    "Wie spät ist es in Tokio?",
    "¿Qué es un agujero negro?",
    "Назовите три цвета.",
    "Viết một câu về biển.",
    "中国的首都是哪里?",
    "Name a prime number above 100.",
]

# Qwen2.5-1.5B's published architecture.
QWEN_1_5B = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                 num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                 rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
# --size tiny: every decoder and the encoder shrunk to this (vocabularies kept, so the
# tokenizers still fit and the large-vocabulary paths still run).
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2)

# Workloads per size.
WORK = {
    "full": dict(logit_batch=(4, 128), rollout=dict(prompts=64, samples=8, new_tokens=256, reps=2),
                 grpo_cpu=dict(n=16, prompt=32, response=64, micro=4),
                 grpo_bench=dict(n=32, prompt=64, response=256, micro=8, reps=3),
                 train=dict(steps=3, new_tokens=64, batch=16, group=4)),
    "tiny": dict(logit_batch=(2, 16), rollout=dict(prompts=4, samples=2, new_tokens=16, reps=1),
                 grpo_cpu=dict(n=8, prompt=8, response=16, micro=4),
                 grpo_bench=dict(n=4, prompt=4, response=8, micro=4, reps=1),
                 train=dict(steps=2, new_tokens=8, batch=8, group=4)),
}


class Report:
    """The JSON result, rewritten after every step so that a run cut short still leaves one."""

    def __init__(self, path, header):
        self.path = path
        self.data = dict(header, steps={})
        self.write()

    def write(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(tmp, self.path)

    def step(self, name, fn, *args):
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            result = fn(*args)
            entry = dict(result, ok=bool(result.get("ok", True)))
        except Exception as e:  # recorded, and the next step still runs
            entry = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        entry["wall_s"] = round(time.perf_counter() - start, 2)
        self.data["steps"][name] = entry
        self.write()
        print(f"   {name}: {'ok' if entry['ok'] else 'FAILED'} in {entry['wall_s']} s"
              + ("" if entry["ok"] else f": {entry.get('error') or entry.get('failures')}"), flush=True)
        return entry


class Peak:
    """Peak GPU memory in use (NVML, device-wide, above the level before start) while a child runs.

    Device-wide rather than per process: process accounting is not always visible in containers,
    and nothing else uses the GPU during a measurement (this script frees its own tensors first).
    """

    def __init__(self, device):
        self.handle = None
        self.peak = 0
        if device.type != "cuda":
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
        except Exception:
            self.handle = None

    def used(self):
        return self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used

    def __enter__(self):
        if self.handle is None:
            return self
        self.base = self.used()
        self.stop = threading.Event()

        def poll():
            while not self.stop.is_set():
                self.peak = max(self.peak, self.used() - self.base)
                self.stop.wait(0.02)

        self.thread = threading.Thread(target=poll, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            self.stop.set()
            self.thread.join()

    def mib(self):
        return round(self.peak / 2**20, 1) if self.handle is not None else None


def run_child(cmd, device, env=None, timeout=None, cwd=None):
    """Runs cmd; returns (stdout, stderr, exit code, peak GPU MiB, peak host RSS MiB)."""
    with Peak(device) as peak:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        out, err = [], []
        readers = [threading.Thread(target=lambda s, b: b.append(s.read()), args=(p.stdout, out)),
                   threading.Thread(target=lambda s, b: b.append(s.read()), args=(p.stderr, err))]
        for r in readers:
            r.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        hwm_kib = 0
        while True:
            # The child's own high-water mark, read while it runs: the rusage of a waited child
            # counts this (large) python's memory from before the exec as the child's.
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm_kib = max(hwm_kib, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            pid, status = os.waitpid(p.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                p.kill()
                pid, status = os.waitpid(p.pid, 0)
                break
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        for r in readers:
            r.join()
    return "".join(out), "".join(err), p.returncode, peak.mib(), round(hwm_kib / 1024, 1) if hwm_kib else None


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in: {text[-2000:]}")


def free(device):
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------- models

def copy_tokenizer(src, dst):
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if os.path.exists(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), os.path.join(dst, name))


def perturbed(model, seed):
    """Random init leaves norms at 1 and biases at 0; nudging every parameter makes each one's
    path through the model count in the comparison."""
    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g, device=p.device, dtype=p.dtype) * 0.02)
    return model


def create_models(args, work, device):
    assets = os.path.join(args.dist, "assets")
    tiny = args.size == "tiny"
    smol_cfg = json.load(open(os.path.join(assets, "smollm2", "config.json")))
    gen_cfg = json.load(open(os.path.join(assets, "smollm2", "generation_config.json")))
    made = {}
    smol = {k: v for k, v in smol_cfg.items() if k not in ("architectures", "torch_dtype", "model_type")}
    qwen = dict(QWEN_1_5B, bos_token_id=smol_cfg.get("bos_token_id"),
                eos_token_id=gen_cfg.get("eos_token_id", smol_cfg.get("eos_token_id")),
                pad_token_id=smol_cfg.get("pad_token_id"))
    for name, kind, kwargs in (("smollm2-135m", tf.LlamaConfig, smol), ("qwen2.5-1.5b", tf.Qwen2Config, qwen)):
        if tiny:
            # Given to the constructor, not set afterwards: configs derive fields (layer types,
            # head_dim) from these when they are built.
            kwargs = dict(kwargs, **TINY, head_dim=TINY["hidden_size"] // TINY["num_attention_heads"])
        cfg = kind(**kwargs)
        torch.manual_seed(1)
        with torch.device(device):
            model = tf.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        perturbed(model, 2)
        out = os.path.join(work, name)
        model.save_pretrained(out)
        copy_tokenizer(os.path.join(assets, "smollm2"), out)
        made[name] = {"dir": out, "parameters": sum(p.numel() for p in model.parameters()),
                      "layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size, "vocab": cfg.vocab_size}
        del model
        free(device)
    e5 = {k: v for k, v in json.load(open(os.path.join(assets, "e5", "config.json"))).items()
          if k not in ("architectures", "torch_dtype", "model_type")}
    if tiny:
        e5.update(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
    torch.manual_seed(3)
    enc = tf.BertModel(tf.BertConfig(**e5), add_pooling_layer=False)
    out = os.path.join(work, "e5-small")
    enc.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(assets, "e5", name), os.path.join(out, name))
    made["e5-small"] = {"dir": out, "parameters": sum(p.numel() for p in enc.parameters()),
                        "layers": e5["num_hidden_layers"], "hidden": e5["hidden_size"], "vocab": e5["vocab_size"]}
    return {"models": made}


# ---------------------------------------------------------------------------------------- checks

def logits(args, work, device, models):
    """Our decoder's logits vs transformers' on the same weights, ids, device and dtype."""
    b, t = WORK[args.size]["logit_batch"]
    results, failures = [], []
    for name in ("smollm2-135m", "qwen2.5-1.5b"):
        d = models[name]["dir"]
        g = torch.Generator().manual_seed(7)
        ids = torch.randint(4, 49152, (b, t), generator=g)  # SmolLM2's tokenizer range: valid in both
        ids_path = os.path.join(work, f"{name}.ids.safetensors")
        from safetensors.torch import load_file, save_file

        save_file({"input_ids": ids.contiguous()}, ids_path)
        for dtype, tdtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
            out_path = os.path.join(work, f"{name}.{dtype}.logits.safetensors")
            out, err, code, gpu_mib, rss = run_child(
                [os.path.join(args.dist, "bin", "logits"), d, ids_path, out_path, args.device, dtype], device)
            if code != 0:
                failures.append(f"{name} {dtype}: logits exited {code}: {err[-1500:]}")
                continue
            ours_info = last_json(out)
            ours = load_file(out_path)["logits"].double()
            model = tf.AutoModelForCausalLM.from_pretrained(d, dtype=tdtype).to(device).eval()
            with torch.no_grad():
                theirs = model(input_ids=ids.to(device)).logits
                for _ in range(3):  # the same warm-up-then-time as the Rust side
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    start = time.perf_counter()
                    theirs = model(input_ids=ids.to(device)).logits
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    their_s = time.perf_counter() - start
            theirs = theirs.double().cpu()
            del model
            free(device)
            diff = (ours - theirs).abs().max().item()
            scale = theirs.abs().max().item()
            top1 = (ours.argmax(-1) == theirs.argmax(-1)).double().mean().item()
            # f32: summation order only. bf16: both round every layer to 8 mantissa bits, the
            # same bar as lrpo-torch's CPU parity tests.
            bar = 1e-3 * max(1.0, scale) if dtype == "f32" else 0.05 * scale + 1e-2
            ok = diff <= bar
            results.append({"model": name, "dtype": dtype, "ids": [b, t], "max_abs_diff": diff, "logit_scale": scale,
                            "bar": bar, "top1_agreement": top1, "ok": ok, "forward_s_lrpo": ours_info["forward_s"],
                            "forward_s_transformers": their_s, "peak_gpu_mib_lrpo": gpu_mib})
            if not ok:
                failures.append(f"{name} {dtype}: max |diff| {diff:.3g} over the bar {bar:.3g}")
    return {"ok": not failures, "results": results, "failures": failures}


def plugins(args, work, device):
    """The bundle's plugin manifests, read by the host: each tch plugin's libtorch must be this
    machine's torch release (the host refuses a mix, and a run names plugins.libtorch_version)."""
    out, err, code, _, _ = run_child([os.path.join(args.dist, "bin", "lrpo-host"), "plugins", "list", "--json",
                                      "--plugins", os.path.join(args.dist, "plugins")], device)
    if code != 0:
        return {"ok": False, "error": f"lrpo-host plugins list exited {code}: {err[-2000:]}"}
    listed = json.loads(out)  # [{path, manifest: {plugin_name, libtorch_version, ...} | null, error}]
    errors = {e["path"]: e["error"] for e in listed if e.get("error")}
    versions = {e["manifest"]["plugin_name"]: e["manifest"].get("libtorch_version") for e in listed if e.get("manifest")}
    want = torch.__version__.split("+")[0]
    wrong = {n: v for n, v in versions.items() if v is not None and v != want}
    tch = [n for n, v in versions.items() if v is not None]
    return {"ok": len(versions) == 5 and len(tch) == 3 and not wrong and not errors, "libtorch_versions": versions,
            "machine_torch": want, "mismatched": wrong, "errors": errors}


def kernel(args, work, device):
    if device.type != "cuda":
        return {"ok": True, "skipped": "needs a CUDA device (the CPU tests cover the reference)"}
    out, err, code, _, _ = run_child([os.path.join(args.dist, "bin", "lrpo-cuda-check")], device)
    return {"ok": code == 0, "exit_code": code, "output": (out + err)[-4000:]}


def train_batch(path, n, prompt, response, vocab, seed):
    rng = random.Random(seed)
    samples = [{"group_id": i // 4, "prompt_tokens": [rng.randrange(3, vocab) for _ in range(prompt)],
                "response_tokens": [rng.randrange(3, vocab) for _ in range(response)],
                "sampler_logprobs": [-2.0] * response, "reward": rng.randrange(0, 11) / 10}
               for i in range(n)]
    with open(path, "w") as f:
        json.dump({"step": 0, "samples": samples}, f)
    return path


def grpo_cpu(args, work, device, models):
    w = WORK[args.size]["grpo_cpu"]
    batch = train_batch(os.path.join(work, "grpo_cpu.batch.json"), w["n"], w["prompt"], w["response"], 49152, 5)
    # lr large enough that the step visibly moves the weights (else equal weights prove nothing).
    spec = {"model_dir": models["smollm2-135m"]["dir"], "batch": batch, "device": args.device, "dtypes": [],
            "reps": 1, "compare_cpu": True,
            "config": {"micro_batch_size": w["micro"], "kl_coef": 0.001, "lr": 1e-4, "grad_clip": 1.0}}
    spec_path = os.path.join(work, "grpo_cpu.json")
    json.dump(spec, open(spec_path, "w"))
    out, err, code, gpu_mib, rss = run_child([os.path.join(args.dist, "bin", "gpu_step"), spec_path], device)
    if code != 0:
        return {"ok": False, "error": f"gpu_step exited {code}: {err[-2000:]}"}
    c = last_json(out)["compare"]
    loss_rel = abs(c["loss_device"] - c["loss_cpu"]) / max(abs(c["loss_cpu"]), 1e-12)
    # The device step differs from the CPU one only in summation order; the bar is far below
    # the step's own size, so a wrong update cannot pass.
    ok = c["max_weight_diff"] <= max(1e-4 * c["max_weight_move"], 1e-7) * 10 and loss_rel < 1e-4
    return dict(c, ok=ok, loss_relative_diff=loss_rel, workload=w, peak_gpu_mib=gpu_mib, peak_rss_mib=rss)


def train(args, work, device, models):
    w = WORK[args.size]["train"]
    assets = os.path.join(args.dist, "assets")
    run_dir = os.path.join(work, "train")
    os.makedirs(run_dir, exist_ok=True)
    data = os.path.join(ROOT, "examples", "data", "prepared")
    dev = args.device
    cfg = f"""[run]
name = "gpu"
out_dir = "runs"
threads = {os.cpu_count() or 1}

[plugins]
libtorch_version = "{torch.__version__.split('+')[0]}"

[data]
train_files = ["{data}/train.parquet"]
val_files = ["{data}/test.parquet"]
train_batch_size = {w['batch']}
group_size = {w['group']}

[model]
path = "{models['smollm2-135m']['dir']}"

[trainer]
total_steps = {w['steps']}
save_freq = {w['steps']}
test_freq = {w['steps']}
val_max_questions = 4
max_new_tokens = {w['new_tokens']}

[components.router.lrpo]
plugin = "lrpo_router_bandit"
kind = "lrpo-bandit"
config = {{ update_every = 1, log_every = 1, orig_lang_min = 1 }}

[components.language_id.lid176]
plugin = "lrpo_langid_fasttext"
kind = "fasttext"
config = {{ model_path = "{assets}/lid.176.ftz" }}

[components.reward_model.e5]
plugin = "lrpo_reward_calibrated"
kind = "calibrated-embedding"
config = {{ pair_stats = "{assets}/multilingual-e5-small.parallel.csv", encoder = {{ model_dir = "{models['e5-small']['dir']}", device = "{dev}" }} }}

[components.rollout_engine.sampler]
plugin = "lrpo_rollout_cuda"
kind = "sampler"
config = {{ device = "{dev}" }}

[components.optimizer.grpo]
plugin = "lrpo_optim_grpo"
kind = "grpo"
config = {{ device = "{dev}", lr = 1e-5, micro_batch_size = 4 }}
"""
    with open(os.path.join(run_dir, "run.toml"), "w") as f:
        f.write(cfg)
    start = time.perf_counter()
    out, err, code, gpu_mib, rss = run_child(
        [os.path.join(args.dist, "bin", "lrpo-host"), "--plugins", os.path.join(args.dist, "plugins"),
         "--config", "run.toml", "train"], device, env=dict(os.environ, LRPO_CACHE_DIR=os.path.join(work, "cache")),
        timeout=args.budget, cwd=run_dir)
    seconds = time.perf_counter() - start
    metrics_path = os.path.join(run_dir, "runs", "gpu", "metrics.jsonl")
    records = [json.loads(l) for l in open(metrics_path)] if os.path.exists(metrics_path) else []
    steps = [r for r in records if r.get("phase") == "train"]
    ok = code == 0 and len(steps) == w["steps"]
    return {"ok": ok, "exit_code": code, "seconds": seconds, "train_records": len(steps),
            "val_records": sum(r.get("phase") == "val" for r in records), "last_train_record": steps[-1] if steps else None,
            "peak_gpu_mib": gpu_mib, "peak_rss_mib": rss, "workload": w,
            "stderr_tail": err[-3000:] if not ok else err[-600:]}


def rollout(args, work, device, models):
    w = WORK[args.size]["rollout"]
    d = models["qwen2.5-1.5b"]["dir"]
    questions = [QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})") for i in range(w["prompts"])]
    dtype = "bf16"
    spec = {"model_dir": d, "questions": questions, "samples": w["samples"], "new_tokens": w["new_tokens"],
            "device": args.device, "dtype": dtype, "reps": w["reps"], "max_batch_size": w["prompts"] * w["samples"]}
    spec_path = os.path.join(work, "rollout.json")
    json.dump(spec, open(spec_path, "w"))
    out, err, code, our_gpu, our_rss = run_child([os.path.join(args.dist, "bin", "gpu_rollout"), spec_path], device)
    if code != 0:
        return {"ok": False, "error": f"gpu_rollout exited {code}: {err[-2000:]}"}
    ours = last_json(out)
    peer_spec = {"model_dir": d, "prompt_ids": ours["prompt_ids"], "samples": w["samples"],
                 "new_tokens": w["new_tokens"], "device": args.device, "dtype": dtype, "reps": w["reps"]}
    peer_path = os.path.join(work, "rollout.peer.json")
    json.dump(peer_spec, open(peer_path, "w"))
    out, err, code, their_gpu, their_rss = run_child([sys.executable, os.path.join(HERE, "peer.py"), "generate", peer_path],
                                                     device)
    if code != 0:
        return {"ok": False, "error": f"transformers generate exited {code}: {err[-2000:]}"}
    theirs = last_json(out)

    def rate(rounds):
        timed = rounds[1:]  # round 0 warms up
        return statistics.median(r["tokens"] / r["seconds"] for r in timed)

    ratio = rate(ours["rounds"]) / rate(theirs["rounds"])
    return {"ok": True, "model": "qwen2.5-1.5b", "dtype": dtype, "workload": w,
            "fused_kernel": ours["fused_kernel"],
            "sampler_tokens_per_s": rate(ours["rounds"]), "transformers_tokens_per_s": rate(theirs["rounds"]),
            "ratio": ratio, "target_ratio": 2.0, "meets_target": ratio >= 2.0,
            "sampler_rounds": ours["rounds"], "transformers_rounds": theirs["rounds"],
            "peak_gpu_mib_sampler": our_gpu, "peak_gpu_mib_transformers": their_gpu,
            "torch_peak_allocated_mib_transformers": theirs["torch_peak_allocated_mib"],
            "peak_rss_mib_sampler": our_rss, "peak_rss_mib_transformers": their_rss}


def grpo_bench(args, work, device, models):
    w = WORK[args.size]["grpo_bench"]
    d = models["qwen2.5-1.5b"]["dir"]
    batch = train_batch(os.path.join(work, "grpo_bench.batch.json"), w["n"], w["prompt"], w["response"], 49152, 9)
    config = {"micro_batch_size": w["micro"], "kl_coef": 0.001, "lr": 1e-6}
    dtypes = ["f32", "bf16"]
    spec = {"model_dir": d, "batch": batch, "device": args.device, "dtypes": dtypes, "reps": w["reps"],
            "compare_cpu": False, "config": config}
    results = {}
    for side, cmd in (("lrpo", [os.path.join(args.dist, "bin", "gpu_step")]),
                      ("pytorch", [sys.executable, os.path.join(HERE, "peer.py"), "grpo"])):
        # One process per dtype, so each peak is that configuration's own.
        for dtype in dtypes:
            path = os.path.join(work, f"grpo_bench.{side}.{dtype}.json")
            json.dump(dict(spec, dtypes=[dtype]), open(path, "w"))
            out, err, code, gpu_mib, rss = run_child(cmd + [path], device)
            if code != 0:
                return {"ok": False, "error": f"{side} {dtype} exited {code}: {err[-2000:]}"}
            t = last_json(out)["timings"][0]
            results[f"{side}_{dtype}"] = dict(t, peak_gpu_mib=gpu_mib, peak_rss_mib=rss)
    speed = {dtype: results[f"pytorch_{dtype}"]["median_s"] / results[f"lrpo_{dtype}"]["median_s"] for dtype in dtypes}
    return {"ok": True, "model": "qwen2.5-1.5b", "workload": w, "config": config, "results": results,
            "speed_ratio_pytorch_time_over_ours": speed, "target_ratio": 0.95,
            "meets_target": {d: s >= 0.95 for d, s in speed.items()}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dist", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--size", default=None, choices=["full", "tiny"], help="default: full on cuda, tiny on cpu")
    ap.add_argument("--work", default=None, help="scratch directory for the models (default: a new one under "
                    "$TMPDIR, removed at the end; never under OUT, whose files a device call sends back)")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds; steps that would start later are skipped")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    args.size = args.size or ("full" if args.device == "cuda" else "tiny")
    args.dist = os.path.abspath(args.dist)
    os.makedirs(args.out, exist_ok=True)
    import tempfile

    work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="lrpo-gpu-check-"))
    os.makedirs(work, exist_ok=True)
    device = torch.device("cuda:0" if args.device == "cuda" else "cpu")
    t0 = time.perf_counter()
    manifest = json.load(open(os.path.join(args.dist, "MANIFEST.json")))
    header = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "device": args.device, "size": args.size,
        "bundle": manifest, "python": platform.python_version(), "torch": torch.__version__,
        "torch_cuda": torch.version.cuda, "transformers": tf.__version__, "cpus": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
    }
    report = Report(os.path.join(args.out, "gpu-check.json"), header)
    if device.type == "cuda" and not torch.cuda.is_available():
        report.data["error"] = "no CUDA device visible to this python's torch"
        report.write()
        sys.exit(1)
    made = report.step("models", create_models, args, work, device)
    if not made["ok"]:
        sys.exit(1)
    models = made["models"]
    steps = [("plugins", plugins), ("logits", logits), ("kernel", kernel), ("grpo_cpu", grpo_cpu), ("train", train),
             ("rollout", rollout), ("grpo_bench", grpo_bench)]
    for name, fn in steps:
        if time.perf_counter() - t0 > args.budget:
            report.data["steps"][name] = {"ok": False, "skipped": f"the {args.budget:.0f} s budget was spent"}
            report.write()
            continue
        extra = (models,) if name not in ("kernel", "plugins") else ()
        report.step(name, fn, args, work, device, *extra)
    report.data["wall_s"] = round(time.perf_counter() - t0, 1)
    report.data["ok"] = all(s.get("ok") for s in report.data["steps"].values())
    report.write()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"== gpu check: {'all ok' if report.data['ok'] else 'FAILURES'} in {report.data['wall_s']} s; "
          f"{report.path}", flush=True)
    sys.exit(0 if report.data["ok"] else 1)


if __name__ == "__main__":
    main()
