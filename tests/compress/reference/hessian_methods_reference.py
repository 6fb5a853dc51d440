"""The GPTQ and SparseGPT algorithms restated in plain PyTorch ops, step for step as the papers'
reference code defines them (IST-DASLab gptq fasterquant / sparsegpt fasterprune; mse=False,
no joint quantization), to cross-check the C++ implementation column by column.

usage: hessian_methods_reference.py IN_DIR OUT_DIR
IN_DIR: cases.json [{"name", "method": "gptq"|"sparsegpt", ...options}], <name>.weight,
<name>.hessian. Writes <name>.q (the resulting weight).

Deviation kept in sync with the C++ side on purpose: SparseGPT's unstructured block mask prunes
exactly floor(n * sparsity) entries (stable order) where the original's `<= thresh` prunes one
more; the N:M selection breaks ties by column order.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensor_io import read_tensors, write_tensors  # noqa: E402


def fit_grid(x, bits, sym):
    maxq = 2 ** bits - 1
    zeros = torch.zeros(x.shape[0])
    xmin = torch.minimum(x.min(1)[0], zeros)
    xmax = torch.maximum(x.max(1)[0], zeros)
    if sym:
        xmax = torch.maximum(torch.abs(xmin), xmax)
        neg = xmin < 0
        if torch.any(neg):
            xmin[neg] = -xmax[neg]
    both = (xmin == 0) & (xmax == 0)
    xmin[both] = -1
    xmax[both] = +1
    scale = (xmax - xmin) / maxq
    if sym:
        zero = torch.full_like(scale, (maxq + 1) / 2)
    else:
        zero = torch.round(-xmin / scale)
    return scale.reshape(-1, 1), zero.reshape(-1, 1), maxq


def quantize(x, scale, zero, maxq):
    q = torch.clamp(torch.round(x / scale) + zero, 0, maxq)
    return scale * (q - zero)


def prepare(H, W, percdamp):
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    return dead


def damped_inverse_upper(H, percdamp):
    damp = percdamp * torch.mean(torch.diag(H))
    idx = torch.arange(H.shape[0])
    H[idx, idx] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    return torch.linalg.cholesky(H, upper=True)


def gptq(W, H, bits, group_size, sym, percdamp, block_size, act_order, static_groups):
    W = W.clone().float()
    H = H.clone()
    columns = W.shape[1]
    grid = fit_grid(W, bits, sym) if group_size == -1 else None
    prepare(H, W, percdamp)
    groups = []
    if static_groups:
        for i in range(0, columns, group_size):
            groups.append(fit_grid(W[:, i:i + group_size], bits, sym))
    if act_order:
        perm = torch.argsort(torch.diag(H), descending=True)
        W = W[:, perm]
        H = H[perm][:, perm]
        invperm = torch.argsort(perm)
    Hinv = damped_inverse_upper(H, percdamp)
    Q = torch.zeros_like(W)
    for i1 in range(0, columns, block_size):
        i2 = min(i1 + block_size, columns)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            if group_size != -1:
                if not static_groups:
                    if (i1 + i) % group_size == 0:
                        grid = fit_grid(W[:, (i1 + i):(i1 + i + group_size)], bits, sym)
                else:
                    idx = i1 + i
                    if act_order:
                        idx = perm[idx]
                    grid = groups[idx // group_size]
            q = quantize(w.unsqueeze(1), *grid).flatten()
            Q1[:, i] = q
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    if act_order:
        Q = Q[:, invperm]
    return Q


def lowest_mask(scores, ratio):
    flat = scores.flatten()
    k = int(flat.numel() * ratio)
    mask = torch.zeros(flat.numel(), dtype=torch.bool)
    order = torch.sort(flat, stable=True)[1]
    mask[order[:k]] = True
    return mask.reshape(scores.shape)


def sparsegpt(W, H, sparsity, n, m, percdamp, block_size):
    W = W.clone().float()
    H = H.clone()
    columns = W.shape[1]
    prepare(H, W, percdamp)
    Hinv = damped_inverse_upper(H, percdamp)
    prunen = m - n if m else 0
    for i1 in range(0, columns, block_size):
        i2 = min(i1 + block_size, columns)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        if not m:
            tmp = W1 ** 2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
            mask1 = lowest_mask(tmp, sparsity)
        else:
            mask1 = torch.zeros_like(W1) == 1
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            if m and i % m == 0:
                tmp = W1[:, i:(i + m)] ** 2 / (torch.diag(Hinv1)[i:(i + m)].reshape((1, -1))) ** 2
                order = torch.sort(tmp, dim=1, stable=True)[1]
                mask1.scatter_(1, i + order[:, :prunen], True)
            q = w.clone()
            q[mask1[:, i]] = 0
            Q1[:, i] = q
            err1 = (w - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        W[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return W


def main(in_dir, out_dir):
    torch.set_num_threads(1)
    inputs = read_tensors(in_dir)
    with open(os.path.join(in_dir, "cases.json")) as f:
        cases = json.load(f)
    out = {}
    for c in cases:
        W = inputs[c["name"] + ".weight"]
        H = inputs[c["name"] + ".hessian"]
        if c["method"] == "gptq":
            out[c["name"] + ".q"] = gptq(W, H, c["bits"], c["group_size"], c["symmetric"], c["percdamp"],
                                         c["block_size"], c["act_order"], c["static_groups"])
        else:
            out[c["name"] + ".q"] = sparsegpt(W, H, c.get("sparsity", 0.0), c.get("n", 0), c.get("m", 0),
                                              c["percdamp"], c["block_size"])
    write_tensors(out_dir, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
