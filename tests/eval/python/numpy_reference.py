"""numpy / CPython arithmetic the metric references rely on, for the biaslab_eval tests.

Input JSON: {"op": name, ...}; output JSON depends on the op (floats round-trip exactly through JSON).
"""
import json
import sys

import numpy as np

spec = json.load(open(sys.argv[1]))
op = spec["op"]
out = None

if op == "reductions":
    out = []
    for values in spec["arrays"]:
        a = np.array(values, dtype=np.float64)
        out.append({
            "np_sum": float(np.sum(a)),
            "np_mean": float(np.mean(a)) if len(a) else None,
            "np_std0": float(np.std(a)) if len(a) else None,
            "np_std1": float(np.std(a, ddof=1)) if len(a) > 1 else None,
            "py_sum": sum(values),
        })
elif op == "rounding":
    out = []
    for x in spec["values"]:
        out.append({
            "python3": round(float(x), 3),
            "python2": round(float(x) * 100, 2),
            "numpy3": float(round(np.float64(x), 3)),
            "repr": repr(float(x)),
        })
elif op == "repr":
    out = [repr(float(x)) for x in spec["values"]]
elif op == "mt19937":
    rs = np.random.RandomState(spec["seed"])
    raw = [int(v) for v in rs._bit_generator.random_raw(spec["n_raw"])]
    np.random.seed(spec["seed"])
    shuffles = []
    for n in spec["shuffle_sizes"]:
        arr = np.arange(n, dtype=np.int64)
        np.random.shuffle(arr)
        shuffles.append([int(v) for v in arr])
    # cumulative in-place shuffles of one array, as weat.py does
    np.random.seed(spec["seed"])
    xy = np.arange(spec["cumulative_size"], dtype=np.int64)
    cumulative = []
    for _ in range(spec["cumulative_rounds"]):
        np.random.shuffle(xy)
        cumulative.append([int(v) for v in xy])
    out = {"raw": raw, "shuffles": shuffles, "cumulative": cumulative}
elif op == "causal_score":
    # "numpy": the reference expression verbatim. numpy >= 1.22 evaluates log2/power with Intel SVML on
    # AVX-512 CPUs; "libm": the same expression with the C library's log2/pow (what numpy uses elsewhere).
    import math
    out = []
    for probs in spec["probabilities"]:
        score = np.sum([np.log2(i) for i in probs])
        score /= len(probs)
        score = np.power(2, score)
        libm = np.sum([math.log2(i) for i in probs])
        libm /= len(probs)
        out.append({"numpy": float(score), "libm": math.pow(2, float(libm))})
elif op == "percentile":
    out = [[float(np.percentile(np.array(v), q)) for q in spec["q"]] for v in spec["arrays"]]
else:
    raise SystemExit("unknown op " + op)

json.dump(out, open(sys.argv[2], "w"))
