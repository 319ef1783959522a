"""PyTorch's side of benches/adamw_pass.rs: one AdamW update of the same parameters with
torch.optim.AdamW(foreach=False) and with torch._fused_adamw_ (via AdamW(fused=True)).

argv: threads reps tensors elements. Prints `foreach_false <s>` and `fused <s>` (medians).
"""
import statistics
import sys
import time

import torch


def run(threads, reps, tensors, elements, **flags):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(elements) * 0.02) for _ in range(tensors)]
    for p in params:
        p.grad = torch.randn(elements) * 1e-3 * 0.5
    opt = torch.optim.AdamW(params, lr=1e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, **flags)
    opt.step()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    threads, reps, tensors, elements = (int(a) for a in sys.argv[1:5])
    torch.set_num_threads(threads)
    print("foreach_false", run(threads, reps, tensors, elements, foreach=False))
    print("fused", run(threads, reps, tensors, elements, fused=True))


if __name__ == "__main__":
    main()
