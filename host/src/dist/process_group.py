"""The collectives of a data-parallel lrpo run, on PyTorch's own process groups.

Loaded by lrpo-host into its embedded interpreter (host/src/dist/python.rs). Rust hands over
raw buffers (a pointer, a length, an element type, a device); they are wrapped as tensors
without a copy, so gloo and NCCL reduce the components' memory in place.
"""

import ctypes
import datetime
import os

import torch
import torch.distributed as dist

_ELEMENTS = {0: (torch.float32, ctypes.c_float, "<f4"), 1: (torch.float64, ctypes.c_double, "<f8"),
             2: (torch.bfloat16, ctypes.c_uint16, None), 3: (torch.float16, ctypes.c_uint16, "<f2")}
# Objects (router feedback, metrics) always travel over gloo on the host: under NCCL that is a
# second group, so byte collectives never need device memory.
_objects = None


def init(backend, timeout_s, device):
    """Joins the group named by the standard environment (MASTER_ADDR, MASTER_PORT, RANK,
    WORLD_SIZE); `timeout_s` bounds the rendezvous and every collective after it."""
    global _objects
    timeout = datetime.timedelta(seconds=timeout_s)
    # Ranks that meet on this machine's loopback talk over it: gloo would otherwise pick the
    # interface the host name resolves to, which may face a network.
    if os.environ.get("MASTER_ADDR") in ("127.0.0.1", "localhost", "::1"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    if backend == "nccl":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", timeout=timeout, device_id=torch.device("cuda", device))
        _objects = dist.new_group(backend="gloo", timeout=timeout)
    else:
        dist.init_process_group("gloo", timeout=timeout)
        _objects = dist.group.WORLD
    return dist.get_rank(), dist.get_world_size()


class _CudaBuffer:
    """A device buffer as the CUDA array interface describes it; torch wraps it without a copy."""

    def __init__(self, ptr, length, typestr):
        self.__cuda_array_interface__ = {"shape": (length,), "typestr": typestr, "data": (ptr, False),
                                         "version": 3, "strides": None}


def _tensor(ptr, length, element, device):
    kind, ctype, typestr = _ELEMENTS[element]
    if device < 0:
        return torch.frombuffer((ctype * length).from_address(ptr), dtype=kind) if length else torch.empty(0, dtype=kind)
    if typestr is None:  # the interface has no bf16: borrow the bytes as int16 and view them
        raw = torch.as_tensor(_CudaBuffer(ptr, length, "<i2"), device=torch.device("cuda", device))
        return raw.view(torch.bfloat16)
    return torch.as_tensor(_CudaBuffer(ptr, length, typestr), device=torch.device("cuda", device))


def all_reduce_sum(ptr, length, element, device):
    dist.all_reduce(_tensor(ptr, length, element, device), op=dist.ReduceOp.SUM)


def all_gather_bytes(data):
    """Every rank's `data`, in rank order."""
    out = [None] * dist.get_world_size(_objects)
    dist.all_gather_object(out, bytes(data), group=_objects)
    return out


def shutdown():
    if dist.is_initialized():
        dist.destroy_process_group()
