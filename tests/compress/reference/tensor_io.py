"""Tensor exchange with the C++ tests: manifest.json + one raw little-endian file per tensor."""
import json
import os

import numpy as np
import torch

_DTYPES = {
    "float32": (np.float32, torch.float32),
    "float64": (np.float64, torch.float64),
    "int8": (np.int8, torch.int8),
    "uint8": (np.uint8, torch.uint8),
    "int32": (np.int32, torch.int32),
    "int64": (np.int64, torch.int64),
    "bool": (np.bool_, torch.bool),
}


def read_tensors(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    out = {}
    for name, entry in manifest.items():
        np_type, _ = _DTYPES[entry["dtype"]]
        data = np.fromfile(os.path.join(folder, entry["file"]), dtype=np_type)
        out[name] = torch.from_numpy(data.reshape(entry["shape"]).copy())
    return out


def write_tensors(folder, tensors):
    os.makedirs(folder, exist_ok=True)
    manifest = {}
    for name, tensor in tensors.items():
        t = tensor.detach().contiguous()
        dtype = next(k for k, (_, tt) in _DTYPES.items() if tt == t.dtype)
        file = name + ".bin"
        t.numpy().tofile(os.path.join(folder, file))
        manifest[name] = {"dtype": dtype, "shape": list(t.shape), "file": file}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f)
