"""bias-bench weat.py's permutation test and effect size, run from given s(w) values.

Input JSON: {"seed": int, "n_samples": int, "tests": [{"s": [...], "n": int}]} -- one np.random.seed(seed)
for all tests, in order (SEATRunner). Output JSON: [{"p_value", "effect_size", "exact"}...].
"""
import itertools
import json
import math
import sys

import numpy as np

spec = json.load(open(sys.argv[1]))
np.random.seed(spec["seed"])
n_samples = spec["n_samples"]
results = []
for test in spec["tests"]:
    memo = np.array(test["s"], dtype=np.float64)
    n = test["n"]
    X = np.arange(n, dtype=np.int64)
    XY = np.concatenate((X, np.arange(n, 2 * n, dtype=np.int64)))
    observed = memo[X].sum()
    hits = total = 0
    exact = math.comb(2 * n, n) <= n_samples
    if not exact:
        hits = total = 1
        for _ in range(n_samples - 1):
            np.random.shuffle(XY)
            si = memo[XY[:n]].sum()
            hits += int(si > observed or si == observed)
            total += 1
    else:
        for Xi in itertools.combinations(XY, n):
            si = memo[np.array(Xi, dtype=np.int64)].sum()
            hits += int(si > observed or si == observed)
            total += 1
    effect = (np.mean(memo[:n]) - np.mean(memo[n:])) / np.std(memo, ddof=1)
    results.append({"p_value": hits / total, "effect_size": float(effect), "exact": exact})
json.dump(results, open(sys.argv[2], "w"))
