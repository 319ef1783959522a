"""Compares two safetensors weight files tensor by tensor:
`python weights_diff.py A B BASE`. Prints JSON: {"max_abs_diff" (A vs B), "worst" (its tensor),
"changed_vs_base" (tensors of A that differ from BASE), "tensors"}.
"""
import json
import sys

from safetensors.torch import load_file

a, b, base = (load_file(p) for p in sys.argv[1:4])
if a.keys() != b.keys():
    sys.exit(f"different tensors: {sorted(a.keys() ^ b.keys())}")
worst, max_diff = None, 0.0
for name in a:
    d = (a[name].float() - b[name].float()).abs().max().item()
    if d >= max_diff:
        worst, max_diff = name, d
changed = sum(1 for name in a if name in base and not a[name].float().equal(base[name].float()))
print(json.dumps({"max_abs_diff": max_diff, "worst": worst, "changed_vs_base": changed, "tensors": len(a)}))
