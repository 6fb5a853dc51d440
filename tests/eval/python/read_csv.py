"""Rows of a CSV/TSV file as Python's csv.DictReader returns them (the references' loaders).

Input JSON: {"path": str, "delimiter": str}. Output JSON: {"header": [...], "rows": [[field...]...]}.
"""
import csv
import json
import sys

spec = json.load(open(sys.argv[1]))
with open(spec["path"], newline="") as f:
    reader = csv.DictReader(f, delimiter=spec["delimiter"])
    rows = [[row[name] for name in reader.fieldnames] for row in reader]
    header = reader.fieldnames
json.dump({"header": header, "rows": rows}, open(sys.argv[2], "w"))
