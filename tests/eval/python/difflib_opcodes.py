"""Reference alignments from CPython's difflib for the biaslab_eval tests.

Input JSON: {"cases": [{"a": [...], "b": [...], "as_strings": bool, "autojunk": bool, "junk": [...]}]}
With as_strings the items are rendered with str() first, as the CrowS-Pairs references do with token ids.
Output JSON: one {"opcodes": [[tag, i1, i2, j1, j2]...], "blocks": [[a, b, size]...]} per case.
"""
import difflib
import json
import sys

cases = json.load(open(sys.argv[1]))["cases"]
results = []
for case in cases:
    a, b = case["a"], case["b"]
    if case.get("as_strings", False):
        a = [str(x) for x in a]
        b = [str(x) for x in b]
    junk = set(case.get("junk", []))
    isjunk = (lambda x: x in junk) if junk else None
    matcher = difflib.SequenceMatcher(isjunk, a, b, autojunk=case.get("autojunk", True))
    results.append({
        "opcodes": [list(op) for op in matcher.get_opcodes()],
        "blocks": [list(block) for block in matcher.get_matching_blocks()],
    })
json.dump(results, open(sys.argv[2], "w"))
