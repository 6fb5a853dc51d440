"""PyTorch reference of the DistilBERT distillation loss (distiller.py: KLDivLoss(batchmean) * T^2,
cross-entropy with ignore_index -100, CosineEmbeddingLoss with target 1).

Reads a JSON object {s, t, hs, ht, labels, alpha, beta, gamma, T} from stdin (nested lists),
prints {"kl", "lm", "cos", "total"}."""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

x = json.load(sys.stdin)
s = torch.tensor(x["s"], dtype=torch.float32)
t = torch.tensor(x["t"], dtype=torch.float32)
hs = torch.tensor(x["hs"], dtype=torch.float32)
ht = torch.tensor(x["ht"], dtype=torch.float32)
labels = torch.tensor(x["labels"], dtype=torch.int64)
T = x["T"]
V = s.shape[-1]
H = hs.shape[-1]
kl = nn.KLDivLoss(reduction="batchmean")(F.log_softmax(s.view(-1, V) / T, dim=-1), F.softmax(t.view(-1, V) / T, dim=-1)) * T**2
lm = nn.CrossEntropyLoss(ignore_index=-100)(s.view(-1, V), labels.view(-1))
cos = nn.CosineEmbeddingLoss(reduction="mean")(hs.view(-1, H), ht.view(-1, H), torch.ones(hs.view(-1, H).shape[0]))
total = x["alpha"] * kl + x["beta"] * lm + x["gamma"] * cos
print(json.dumps({"kl": kl.item(), "lm": lm.item(), "cos": cos.item(), "total": total.item()}))
