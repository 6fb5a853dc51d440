"""The seed study's int8 computation, as a reference for biaslab's batched int8 scoring.

Goncalves & Strubell (EMNLP 2023) quantized with torch.ao.quantization.quantize_dynamic(model,
{nn.Linear}, dtype=torch.qint8) and scored with bias-bench: one sentence per forward pass. This
script does exactly that on small GPT-NeoX and BERT models restated from HF transformers'
modeling code (modeling_gpt_neox.py, modeling_bert.py: same operations in the same order, plain
nn.Linear layers so that quantize_dynamic converts every one of them, heads included).

usage:
  quantize_dynamic_scoring.py make KIND DIR SEED        write a random model (config.json +
                                                         model.safetensors); KIND gpt_neox | bert
  quantize_dynamic_scoring.py score DIR REQUESTS OUT    REQUESTS json:
      {"engine": "onednn", "float": false,
       "causal": [[ids], ...], "bos": id,                 -> per sequence: [log p(t0 | bos pass),
                                                              log p(t_i | t_<i) for i >= 1]
       "masked": [{"input_ids", "positions", "targets"}], -> per query: log p(target at position)
       "pooled": [[ids], ...]}                            -> per sequence: mean last hidden state
  Every request is its own forward pass of batch size 1, as bias-bench runs them.
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.ao.quantization import quantize_dynamic


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


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
        if e["dtype"] != "F32":
            raise SystemExit(f"{name}: only F32 tensors are supported here")
        b, end = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"]).copy())
    return out


# ---- GPT-NeoX (modeling_gpt_neox.py) -------------------------------------------------------------

class NeoxAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c["num_attention_heads"]
        self.head_size = c["hidden_size"] // self.heads
        self.rotary_ndims = int(self.head_size * c["rotary_pct"])
        self.norm_factor = torch.sqrt(torch.tensor(self.head_size, dtype=torch.float32))
        self.query_key_value = nn.Linear(c["hidden_size"], 3 * c["hidden_size"])
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        inv_freq = 1.0 / (c["rotary_emb_base"] ** (torch.arange(0, self.rotary_ndims, 2).float() / self.rotary_ndims))
        t = torch.arange(c["max_position_embeddings"], dtype=inv_freq.dtype)
        freqs = torch.einsum("i,j->ij", t, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()

    @staticmethod
    def rotate_half(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    def forward(self, h):
        B, T, _ = h.shape
        qkv = self.query_key_value(h).view(B, T, self.heads, 3 * self.head_size)
        q = qkv[..., : self.head_size].permute(0, 2, 1, 3)
        k = qkv[..., self.head_size: 2 * self.head_size].permute(0, 2, 1, 3)
        v = qkv[..., 2 * self.head_size:].permute(0, 2, 1, 3)
        q_rot, q_pass = q[..., : self.rotary_ndims], q[..., self.rotary_ndims:]
        k_rot, k_pass = k[..., : self.rotary_ndims], k[..., self.rotary_ndims:]
        cos, sin = self.cos[:T][None, None], self.sin[:T][None, None]
        q = torch.cat((q_rot * cos + self.rotate_half(q_rot) * sin, q_pass), dim=-1)
        k = torch.cat((k_rot * cos + self.rotate_half(k_rot) * sin, k_pass), dim=-1)
        qf = q.reshape(B * self.heads, T, self.head_size)
        kf = k.reshape(B * self.heads, T, self.head_size)
        scores = torch.zeros(B * self.heads, T, T, dtype=q.dtype)
        scores = torch.baddbmm(scores, qf, kf.transpose(1, 2), beta=1.0,
                               alpha=(torch.tensor(1.0, dtype=self.norm_factor.dtype) / self.norm_factor))
        scores = scores.view(B, self.heads, T, T)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None]
        scores = torch.where(causal, scores, torch.tensor(torch.finfo(scores.dtype).min, dtype=scores.dtype))
        probs = F.softmax(scores, dim=-1).to(v.dtype)
        out = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(B, T, self.heads * self.head_size)
        return self.dense(out)


class NeoxLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.post_attention_layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.attention = NeoxAttention(c)
        self.mlp = nn.Module()
        self.mlp.dense_h_to_4h = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.mlp.dense_4h_to_h = nn.Linear(c["intermediate_size"], c["hidden_size"])

    def forward(self, h):
        attn = self.attention(self.input_layernorm(h))
        mlp = self.mlp.dense_4h_to_h(F.gelu(self.mlp.dense_h_to_4h(self.post_attention_layernorm(h))))
        return mlp + attn + h  # use_parallel_residual


class Neox(nn.Module):
    causal = True

    def __init__(self, c):
        super().__init__()
        self.gpt_neox = nn.Module()
        self.gpt_neox.embed_in = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.gpt_neox.layers = nn.ModuleList([NeoxLayer(c) for _ in range(c["num_hidden_layers"])])
        self.gpt_neox.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.embed_out = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def hidden(self, ids):
        h = self.gpt_neox.embed_in(ids)
        for layer in self.gpt_neox.layers:
            h = layer(h)
        return self.gpt_neox.final_layer_norm(h)

    def forward(self, ids):
        return self.embed_out(self.hidden(ids))


def neox_config():
    return {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256, "vocab_size": 512,
            "max_position_embeddings": 128, "rotary_pct": 0.25, "rotary_emb_base": 10000, "layer_norm_eps": 1e-5,
            "hidden_act": "gelu", "use_parallel_residual": True, "tie_word_embeddings": False,
            "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float32"}


# ---- BERT (modeling_bert.py, BertForMaskedLM) ----------------------------------------------------

class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, I = c["hidden_size"], c["intermediate_size"]
        self.heads = c["num_attention_heads"]
        self.head_size = H // self.heads
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.query = nn.Linear(H, H)
        self.attention.self.key = nn.Linear(H, H)
        self.attention.self.value = nn.Linear(H, H)
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(H, H)
        self.attention.output.LayerNorm = nn.LayerNorm(H, eps=c["layer_norm_eps"])
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(H, I)
        self.output = nn.Module()
        self.output.dense = nn.Linear(I, H)
        self.output.LayerNorm = nn.LayerNorm(H, eps=c["layer_norm_eps"])

    def split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, h):
        s = self.attention.self
        q, k, v = self.split(s.query(h)), self.split(s.key(h)), self.split(s.value(h))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)
        scores = scores + torch.zeros(1, 1, 1, h.shape[1])  # extended mask of an unpadded sentence
        probs = F.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(h.shape)
        a = self.attention.output.LayerNorm(self.attention.output.dense(ctx) + h)
        return self.output.LayerNorm(self.output.dense(F.gelu(self.intermediate.dense(a))) + a)


class Bert(nn.Module):
    causal = False

    def __init__(self, c):
        super().__init__()
        H, V = c["hidden_size"], c["vocab_size"]
        self.bert = nn.Module()
        self.bert.embeddings = nn.Module()
        e = self.bert.embeddings
        e.word_embeddings = nn.Embedding(V, H)
        e.position_embeddings = nn.Embedding(c["max_position_embeddings"], H)
        e.token_type_embeddings = nn.Embedding(c["type_vocab_size"], H)
        e.LayerNorm = nn.LayerNorm(H, eps=c["layer_norm_eps"])
        self.bert.encoder = nn.Module()
        self.bert.encoder.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])
        self.cls = nn.Module()
        self.cls.predictions = nn.Module()
        p = self.cls.predictions
        p.transform = nn.Module()
        p.transform.dense = nn.Linear(H, H)
        p.transform.LayerNorm = nn.LayerNorm(H, eps=c["layer_norm_eps"])
        p.decoder = nn.Linear(H, V)

    def hidden(self, ids):
        e = self.bert.embeddings
        T = ids.shape[1]
        x = e.word_embeddings(ids) + e.token_type_embeddings(torch.zeros_like(ids))
        x = x + e.position_embeddings(torch.arange(T)[None])
        h = e.LayerNorm(x)
        for layer in self.bert.encoder.layer:
            h = layer(h)
        return h

    def forward(self, ids):
        p = self.cls.predictions
        x = p.transform.LayerNorm(F.gelu(p.transform.dense(self.hidden(ids))))
        return p.decoder(x)


def bert_config():
    return {"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 256, "vocab_size": 512, "max_position_embeddings": 128,
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "pad_token_id": 0,
            "position_embedding_type": "absolute", "torch_dtype": "float32"}


# ---- commands ------------------------------------------------------------------------------------

def build(config):
    return Neox(config) if config["model_type"] == "gpt_neox" else Bert(config)


def make(kind, folder, seed):
    import os
    config = neox_config() if kind == "gpt_neox" else bert_config()
    torch.manual_seed(seed)
    model = build(config)
    state = {}
    for name, t in model.state_dict().items():
        if name.endswith("LayerNorm.weight") or name.endswith("layernorm.weight") or name.endswith("layer_norm.weight"):
            state[name] = 1.0 + 0.1 * torch.randn(t.shape)
        else:
            state[name] = 0.2 * torch.randn(t.shape)  # larger than HF's init: peaked, varied predictions
    if kind == "bert":
        state["cls.predictions.bias"] = state["cls.predictions.decoder.bias"]
        state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]  # tied, as HF
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(folder, "model.safetensors"), state)


def score(folder, requests_path, out_path):
    torch.set_num_threads(1)
    with open(f"{folder}/config.json") as f:
        config = json.load(f)
    with open(requests_path) as f:
        req = json.load(f)
    model = build(config)
    state = read_safetensors(f"{folder}/model.safetensors")
    state.pop("cls.predictions.bias", None)
    model.load_state_dict(state, strict=True)
    model.eval()
    if not req.get("float", False):
        torch.backends.quantized.engine = req.get("engine", "onednn")
        model = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    out = {}
    with torch.no_grad():
        if "causal" in req:
            bos = F.log_softmax(model(torch.tensor([[req["bos"]]])), -1)[0, 0]
            res = []
            for ids in req["causal"]:
                lp = F.log_softmax(model(torch.tensor([ids])), -1)[0]
                res.append([bos[ids[0]].item()] + [lp[i - 1, ids[i]].item() for i in range(1, len(ids))])
            out["causal"] = res
        if "masked" in req:
            res = []
            for q in req["masked"]:
                lp = F.log_softmax(model(torch.tensor([q["input_ids"]])), -1)[0]
                res.append([lp[p, t].item() for p, t in zip(q["positions"], q["targets"])])
            out["masked"] = res
        if "pooled" in req:
            out["pooled"] = [model.hidden(torch.tensor([ids]))[0].mean(0).tolist() for ids in req["pooled"]]
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "score":
        score(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(__doc__)
