"""Reference outputs of torch.ao.quantization.quantize_dynamic for the dynamic int8 test.

usage: dynamic_int8_reference.py IN_DIR OUT_DIR
IN_DIR holds, per case <c>: <c>.weight, optional <c>.bias, <c>.x and the case list cases.json
([{"name", "engine", "scheme"}]). For each case the script builds an nn.Linear with those
parameters, quantizes it exactly as a user would (quantize_dynamic with {nn.Linear} for the
per-tensor default, or per_channel_dynamic_qconfig), and writes <c>.y, <c>.int_weight and
<c>.scales.
"""
import json
import os
import sys

import torch
import torch.nn as nn
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tensor_io import read_tensors, write_tensors  # noqa: E402


def main(in_dir, out_dir):
    torch.set_num_threads(1)
    inputs = read_tensors(in_dir)
    with open(os.path.join(in_dir, "cases.json")) as f:
        cases = json.load(f)
    outputs = {}
    for case in cases:
        name = case["name"]
        torch.backends.quantized.engine = case["engine"]
        weight = inputs[name + ".weight"]
        bias = inputs.get(name + ".bias")
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if bias is not None:
                linear.bias.copy_(bias)
        model = nn.Sequential(linear).eval()
        if case["scheme"] == "per_channel":
            spec = {nn.Linear: per_channel_dynamic_qconfig}
        else:
            spec = {nn.Linear}
        qmodel = quantize_dynamic(model, spec, dtype=torch.qint8)
        with torch.no_grad():
            y = qmodel(inputs[name + ".x"])
        qweight = qmodel[0].weight()
        outputs[name + ".y"] = y
        outputs[name + ".int_weight"] = qweight.int_repr()
        if case["scheme"] == "per_channel":
            outputs[name + ".scales"] = qweight.q_per_channel_scales().to(torch.float32)
        else:
            outputs[name + ".scales"] = torch.tensor([qweight.q_scale()], dtype=torch.float32)
    write_tensors(out_dir, outputs)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
