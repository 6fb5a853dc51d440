"""Reference values for biaslab_eval's statistics, computed with exact rational arithmetic and numpy.

Input JSON: {"mcnemar": [[b, c]...], "percentile": {"arrays": [...], "q": [...]}}
Output JSON: {"mcnemar": [{"exact_p", "mid_p", "chi_square", "chi_square_p"}...], "percentile": [[...]...]}
"""
import json
import math
import sys
from fractions import Fraction

import numpy as np

spec = json.load(open(sys.argv[1]))
out = {"mcnemar": [], "percentile": []}
for b, c in spec["mcnemar"]:
    n = b + c
    if n == 0:
        out["mcnemar"].append({"exact_p": 1.0, "mid_p": 1.0, "chi_square": 0.0, "chi_square_p": 1.0})
        continue
    k = min(b, c)
    cdf = Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2 ** n)
    pmf = Fraction(math.comb(n, k), 2 ** n)
    chi = (abs(b - c) - 1) ** 2 / n
    out["mcnemar"].append({
        "exact_p": float(min(Fraction(1), 2 * cdf)),
        "mid_p": float(min(Fraction(1), 2 * (cdf - pmf / 2))),
        "chi_square": chi,
        "chi_square_p": math.erfc(math.sqrt(chi / 2)),
    })
for values in spec["percentile"]["arrays"]:
    out["percentile"].append([float(np.percentile(np.array(values, dtype=np.float64), q)) for q in spec["percentile"]["q"]])
json.dump(out, open(sys.argv[2], "w"))
