#!/usr/bin/python3
"""Straightforward float64 reference for architectures and options without an HF fixture.

Written from the published equations of HF transformers' modeling code (Llama / Qwen2 / Mistral /
DistilBERT, and GPT-NeoX / GPT-2 options the fixtures leave at one value), deliberately plain:
explicit loops over layers, no shared code with the C++ runtime.

usage: reference_lm.py MODEL_DIR INPUTS_JSON OUTPUT_SAFETENSORS
  MODEL_DIR   config.json + model.safetensors (read with json + numpy, no safetensors package)
  INPUTS_JSON {"input_ids": [[...]], "attention_mask": [[...]], "position_ids": [[...]] | null}
  OUTPUT      safetensors with float32 "logits" [B,T,V] and "hidden" [B,T,H] (last hidden state)
"""
import json
import math
import struct
import sys

import numpy as np
import torch

NEG = -1e30  # finite: fully masked (padding) rows stay finite instead of NaN


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        buf = data[b:end]
        dt = e["dtype"]
        if dt == "F32":
            a = np.frombuffer(buf, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"unsupported dtype {dt} for {name}")
        out[name] = torch.from_numpy(a.reshape(e["shape"]).copy()).to(torch.float64)
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().to(torch.float32).contiguous().numpy().astype("<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def linear(W, name, x):
    y = x @ W[name + ".weight"].T
    if name + ".bias" in W:
        y = y + W[name + ".bias"]
    return y


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x * torch.sigmoid(x)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def attend(q, k, v, allowed, scale=None):
    # q [B,H,T,D]; k, v [B,H,T,D]; allowed [B,1,T,T] bool
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-1, -2) * scale
    scores = scores.masked_fill(~allowed, NEG)
    return torch.softmax(scores, dim=-1) @ v


def inverse_frequencies(cfg, dim):
    # Computed in float32 as HF does.
    theta = float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.get("rope_scaling")
    if rs:
        kind = rs.get("rope_type", rs.get("type"))
        if kind == "linear":
            inv = inv / rs["factor"]
        elif kind == "llama3":
            factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
            old = rs["original_max_position_embeddings"]
            wavelen = 2 * math.pi / inv
            new = []
            for w, f in zip(wavelen.tolist(), inv.tolist()):
                if w < old / hi:          # high frequency: unchanged
                    new.append(f)
                elif w > old / lo:        # low frequency: divided by factor
                    new.append(f / factor)
                else:                     # in between: interpolate
                    s = (old / w - lo) / (hi - lo)
                    new.append((1 - s) * f / factor + s * f)
            inv = torch.tensor(new, dtype=torch.float32)
        else:
            raise SystemExit(f"unsupported rope scaling {kind}")
    return inv


def rotate(x, pos, inv):
    # x [B,H,T,D]; rotate_half layout: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin).
    # The angle position * inv_freq is formed in float32 as HF does (at position 1000 its rounding
    # alone moves cos/sin by ~3e-5); cos and sin are then taken in float64.
    ang = (pos.to(torch.float32)[:, None, :, None] * inv.to(torch.float32)).to(torch.float64)  # [B,1,T,D/2]
    cos, sin = torch.cos(ang), torch.sin(ang)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def llama_family(cfg, W, ids, mask, pos):
    mt = cfg["model_type"]
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    hd = cfg.get("head_dim") or H // nh
    eps = cfg.get("rms_norm_eps", 1e-6)
    B, T = ids.shape
    if pos is None:
        pos = torch.arange(T).expand(B, T)
    inv = inverse_frequencies(cfg, hd)
    i = torch.arange(T)
    causal = i[None, :] <= i[:, None]
    keys = mask.bool()[:, None, None, :]
    window = None
    if mt == "mistral":
        window = cfg.get("sliding_window", 4096)
    elif mt == "qwen2" and cfg.get("use_sliding_window", False):
        window = cfg.get("sliding_window", 4096)
    h = W["model.embed_tokens.weight"][ids]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        allowed = causal
        windowed = window is not None and (mt != "qwen2" or layer >= cfg.get("max_window_layers", 28))
        if windowed:
            allowed = allowed & (i[None, :] > i[:, None] - window)
        allowed = allowed[None, None] & keys
        x = rms_norm(h, W[p + "input_layernorm.weight"], eps)
        q = linear(W, p + "self_attn.q_proj", x).view(B, T, nh, hd).transpose(1, 2)
        k = linear(W, p + "self_attn.k_proj", x).view(B, T, nkv, hd).transpose(1, 2)
        v = linear(W, p + "self_attn.v_proj", x).view(B, T, nkv, hd).transpose(1, 2)
        q, k = rotate(q, pos, inv), rotate(k, pos, inv)
        rep = nh // nkv
        k = torch.stack([k[:, j // rep] for j in range(nh)], dim=1)
        v = torch.stack([v[:, j // rep] for j in range(nh)], dim=1)
        o = attend(q, k, v, allowed).transpose(1, 2).reshape(B, T, nh * hd)
        h = h + linear(W, p + "self_attn.o_proj", o)
        x = rms_norm(h, W[p + "post_attention_layernorm.weight"], eps)
        h = h + linear(W, p + "mlp.down_proj", silu(linear(W, p + "mlp.gate_proj", x)) * linear(W, p + "mlp.up_proj", x))
    h = rms_norm(h, W["model.norm.weight"], eps)
    head = W["lm_head.weight"] if "lm_head.weight" in W else W["model.embed_tokens.weight"]
    return h @ head.T, h


def distilbert(cfg, W, ids, mask, pos):
    D = cfg.get("dim", 768)
    nh = cfg.get("n_heads", 12)
    hd = D // nh
    eps = 1e-12
    B, T = ids.shape
    if pos is None:
        pos = torch.arange(T).expand(B, T)
    allowed = mask.bool()[:, None, None, :].expand(B, 1, T, T)
    h = W["distilbert.embeddings.word_embeddings.weight"][ids] + W["distilbert.embeddings.position_embeddings.weight"][pos]
    h = layer_norm(h, W["distilbert.embeddings.LayerNorm.weight"], W["distilbert.embeddings.LayerNorm.bias"], eps)
    for layer in range(cfg.get("n_layers", 6)):
        p = f"distilbert.transformer.layer.{layer}."
        q = linear(W, p + "attention.q_lin", h).view(B, T, nh, hd).transpose(1, 2)
        k = linear(W, p + "attention.k_lin", h).view(B, T, nh, hd).transpose(1, 2)
        v = linear(W, p + "attention.v_lin", h).view(B, T, nh, hd).transpose(1, 2)
        ctx = attend(q, k, v, allowed).transpose(1, 2).reshape(B, T, D)
        sa = layer_norm(linear(W, p + "attention.out_lin", ctx) + h, W[p + "sa_layer_norm.weight"], W[p + "sa_layer_norm.bias"], eps)
        ffn = linear(W, p + "ffn.lin2", gelu(linear(W, p + "ffn.lin1", sa)))
        h = layer_norm(ffn + sa, W[p + "output_layer_norm.weight"], W[p + "output_layer_norm.bias"], eps)
    x = gelu(linear(W, "vocab_transform", h))
    x = layer_norm(x, W["vocab_layer_norm.weight"], W["vocab_layer_norm.bias"], eps)
    logits = x @ W["distilbert.embeddings.word_embeddings.weight"].T + W["vocab_projector.bias"]
    return logits, h


def causal_allowed(mask):
    T = mask.shape[1]
    i = torch.arange(T)
    return (i[None, :] <= i[:, None])[None, None] & mask.bool()[:, None, None, :]


def gpt_neox(cfg, W, ids, mask, pos):
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    hd = H // nh
    rot = int(hd * cfg.get("rotary_pct", 0.25))
    eps = cfg.get("layer_norm_eps", 1e-5)
    B, T = ids.shape
    if pos is None:
        pos = torch.arange(T).expand(B, T)
    theta = float(cfg.get("rotary_emb_base", 10000))
    inv = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.int64).float() / rot))
    allowed = causal_allowed(mask)
    act = gelu if cfg.get("hidden_act", "gelu") == "gelu" else gelu_tanh
    h = W["gpt_neox.embed_in.weight"][ids]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{layer}."
        x = layer_norm(h, W[p + "input_layernorm.weight"], W[p + "input_layernorm.bias"], eps)
        qkv = linear(W, p + "attention.query_key_value", x).view(B, T, nh, 3 * hd)
        q, k, v = [qkv[..., j * hd:(j + 1) * hd].transpose(1, 2) for j in range(3)]
        q = torch.cat([rotate(q[..., :rot], pos, inv), q[..., rot:]], dim=-1)
        k = torch.cat([rotate(k[..., :rot], pos, inv), k[..., rot:]], dim=-1)
        a = linear(W, p + "attention.dense", attend(q, k, v, allowed).transpose(1, 2).reshape(B, T, H))

        def mlp(y):
            return linear(W, p + "mlp.dense_4h_to_h", act(linear(W, p + "mlp.dense_h_to_4h", y)))

        if cfg.get("use_parallel_residual", True):
            h = h + a + mlp(layer_norm(h, W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"], eps))
        else:
            h = h + a
            h = h + mlp(layer_norm(h, W[p + "post_attention_layernorm.weight"], W[p + "post_attention_layernorm.bias"], eps))
    h = layer_norm(h, W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"], eps)
    head = W["embed_out.weight"] if "embed_out.weight" in W else W["gpt_neox.embed_in.weight"]
    return h @ head.T, h


def gpt2(cfg, W, ids, mask, pos):
    H = cfg.get("n_embd", 768)
    nh = cfg.get("n_head", 12)
    hd = H // nh
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    B, T = ids.shape
    if pos is None:
        pos = torch.arange(T).expand(B, T)
    allowed = causal_allowed(mask)

    def conv1d(name, x):  # Conv1D: weight [in, out]
        return x @ W[name + ".weight"] + W[name + ".bias"]

    h = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][pos]
    for layer in range(cfg.get("n_layer", 12)):
        p = f"transformer.h.{layer}."
        x = layer_norm(h, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
        qkv = conv1d(p + "attn.c_attn", x)
        q, k, v = [qkv[..., j * H:(j + 1) * H].view(B, T, nh, hd).transpose(1, 2) for j in range(3)]
        scale = 1.0 / math.sqrt(hd) if cfg.get("scale_attn_weights", True) else 1.0
        if cfg.get("scale_attn_by_inverse_layer_idx", False):
            scale /= layer + 1
        h = h + conv1d(p + "attn.c_proj", attend(q, k, v, allowed, scale).transpose(1, 2).reshape(B, T, H))
        x = layer_norm(h, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
        h = h + conv1d(p + "mlp.c_proj", gelu_tanh(conv1d(p + "mlp.c_fc", x)))
    h = layer_norm(h, W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], eps)
    return h @ W["transformer.wte.weight"].T, h


def main():
    model_dir, inputs_path, out_path = sys.argv[1:4]
    with open(f"{model_dir}/config.json") as f:
        cfg = json.load(f)
    W = read_safetensors(f"{model_dir}/model.safetensors")
    with open(inputs_path) as f:
        inputs = json.load(f)
    ids = torch.tensor(inputs["input_ids"], dtype=torch.int64)
    mask = torch.tensor(inputs.get("attention_mask") or [[1] * ids.shape[1]] * ids.shape[0], dtype=torch.int64)
    pos = inputs.get("position_ids")
    pos = torch.tensor(pos, dtype=torch.int64) if pos is not None else None
    if cfg["model_type"] in ("llama", "qwen2", "mistral"):
        logits, hidden = llama_family(cfg, W, ids, mask, pos)
    elif cfg["model_type"] == "distilbert":
        logits, hidden = distilbert(cfg, W, ids, mask, pos)
    elif cfg["model_type"] == "gpt_neox":
        logits, hidden = gpt_neox(cfg, W, ids, mask, pos)
    elif cfg["model_type"] == "gpt2":
        logits, hidden = gpt2(cfg, W, ids, mask, pos)
    else:
        raise SystemExit(f"no reference for model_type {cfg['model_type']}")
    write_safetensors(out_path, {"logits": logits, "hidden": hidden})


if __name__ == "__main__":
    main()
