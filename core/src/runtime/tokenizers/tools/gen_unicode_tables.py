#!/usr/bin/python3
"""Generate core/src/runtime/tokenizers/unicode_tables.cpp.

HuggingFace `tokenizers` (the Rust library behind transformers' fast tokenizers) mixes Unicode data
of three different ages, and matching it token for token needs the same mix:

* Rust std / regex crate (current Unicode): char::is_whitespace, char::is_numeric,
  char::to_lowercase, regex `\\w` and `\\s`. We use Unicode 14.0 (Python 3.11 `unicodedata`,
  Perl 5.36 for the binary properties); the golden texts only contain Unicode 14 characters and
  these properties are stable for already-assigned characters.
* crate `unicode_categories` 0.1.1 (tables from UCD 8.0.0): BertNormalizer's control test,
  accent stripping (`Mn`) and BertPreTokenizer / Punctuation pre-tokenizer (`P*`).
* crate `unicode-normalization-alignments` 0.1.12 (UCD 9.0.0): NFD/NFC/NFKD/NFKC and
  StripAccents (`General_Category=Mark`).

Inputs are the original unicode.org files, checked by sha256:
  --ucd8 DIR   Public/8.0.0/ucd/UnicodeData.txt
  --ucd9 DIR   Public/9.0.0/ucd/UnicodeData.txt and DerivedNormalizationProps.txt
Run with /usr/bin/python3 (unicodedata 14.0.0) on a machine with perl 5.36 (Unicode 14.0):
  gen_unicode_tables.py --ucd8 DIR8 --ucd9 DIR9 --out unicode_tables.cpp
"""
import argparse
import hashlib
import os
import subprocess
import sys
import unicodedata

EXPECTED_SHA256 = {
    ("8", "UnicodeData.txt"): "38b17e1118206489a7e0ab5d29d7932212d38838df7d3ec025ecb58e8798ec20",
    ("9", "UnicodeData.txt"): "68dfc414d28257b9b5d6ddbb8b466c768c00ebdf6cbf7784364a9b6cad55ee8f",
    ("9", "DerivedNormalizationProps.txt"):
        "02d8e12cea7c61a9f3cc5fbf8eaceadf8da23fe83d60c64cf647088830b810cc",
}

# Order must match enum class GeneralCategory in unicode_data.hpp.
CATEGORIES = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd",
              "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf",
              "Cs", "Co"]

MAX_CP = 0x10FFFF


def read_checked(version, directory, name):
    path = os.path.join(directory, name)
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != EXPECTED_SHA256[(version, name)]:
        sys.exit(f"{path}: sha256 {digest} is not the UCD {version}.0.0 file")
    return data.decode("utf-8")


def unicode_data_rows(text):
    """Yields (code point, fields) per line; ranges (First/Last) give only their two ends."""
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split(";")
        yield int(fields[0], 16), fields


def to_ranges(code_points):
    ranges = []
    for cp in sorted(set(code_points)):
        if ranges and ranges[-1][1] + 1 == cp:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return ranges


def perl_property_ranges(regex):
    """Code points (Unicode 14, Perl 5.36) matching a one-character Perl regex."""
    script = ("my @r; for my $c (0..0x10FFFF) { next if $c >= 0xD800 && $c <= 0xDFFF;"
              " print \"$c\\n\" if chr($c) =~ /^" + regex + "$/; }")
    out = subprocess.run(["perl", "-e", script], check=True, capture_output=True, text=True).stdout
    return to_ranges(int(x) for x in out.split())


def emit_ranges(out, name, ranges, comment):
    out.append(f"// {comment}")
    out.append(f"extern const CodepointRange {name}[] = {{")
    for lo, hi in ranges:
        out.append(f"    {{0x{lo:X}, 0x{hi:X}}},")
    out.append("};")
    out.append(f"extern const std::size_t {name}Size = {len(ranges)};")
    out.append("")


def emit_mappings(out, name, mapping, comment):
    """mapping: {cp: [cp...]} -> sorted entries + one pool."""
    pool = []
    entries = []
    for cp in sorted(mapping):
        seq = mapping[cp]
        entries.append((cp, len(pool), len(seq)))
        pool.extend(seq)
    assert len(pool) < 65536 and max(len(s) for s in mapping.values()) < 256
    out.append(f"// {comment}")
    out.append(f"extern const char32_t {name}Pool[] = {{")
    for i in range(0, len(pool), 10):
        out.append("    " + " ".join(f"0x{c:X}," for c in pool[i:i + 10]))
    out.append("};")
    out.append(f"extern const CodepointMapping {name}[] = {{")
    for cp, off, n in entries:
        out.append(f"    {{0x{cp:X}, {off}, {n}}},")
    out.append("};")
    out.append(f"extern const std::size_t {name}Size = {len(entries)};")
    out.append("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ucd8", required=True)
    ap.add_argument("--ucd9", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if unicodedata.unidata_version != "14.0.0":
        sys.exit(f"need Python unicodedata 14.0.0, have {unicodedata.unidata_version}")
    perl_version = subprocess.run(["perl", "-MUnicode::UCD", "-e",
                                   "print Unicode::UCD::UnicodeVersion()"],
                                  check=True, capture_output=True, text=True).stdout
    if perl_version != "14.0.0":
        sys.exit(f"need Perl with Unicode 14.0.0, have {perl_version}")

    out = []
    out.append("// GENERATED by tools/gen_unicode_tables.py -- do not edit.")
    out.append("// Unicode data for the HuggingFace-compatible tokenizers; see the script for sources.")
    out.append('#include "runtime/tokenizers/unicode_data.hpp"')
    out.append("")
    out.append("namespace biaslab::runtime::tokenizers::unicode_data {")
    out.append("")

    # --- Unicode 14: general category runs over the whole code space -------------------------
    runs = []
    for cp in range(MAX_CP + 1):
        cat = CATEGORIES.index(unicodedata.category(chr(cp)))
        if runs and runs[-1][2] == cat and runs[-1][1] + 1 == cp:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, cat])
    out.append("// Unicode 14.0 General_Category, consecutive runs covering U+0000..U+10FFFF.")
    out.append("extern const CategoryRun kGeneralCategory14[] = {")
    for lo, hi, cat in runs:
        out.append(f"    {{0x{lo:X}, 0x{hi:X}, {cat}}},")
    out.append("};")
    out.append(f"extern const std::size_t kGeneralCategory14Size = {len(runs)};")
    out.append("")

    emit_ranges(out, "kWhiteSpace14", perl_property_ranges(r"\p{White_Space}"),
                "Unicode 14.0 White_Space (Rust char::is_whitespace, regex \\s).")
    emit_ranges(out, "kWordChar14", perl_property_ranges(r"\w"),
                "Unicode 14.0 Alphabetic|M|Nd|Pc|Join_Control (Rust regex \\w, UTS #18).")

    lower = {}
    for cp in range(MAX_CP + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        low = chr(cp).lower()
        if low != chr(cp):
            lower[cp] = [ord(c) for c in low]
    emit_mappings(out, "kLowercase14", lower,
                  "Unicode 14.0 full lowercase mapping per character (Rust char::to_lowercase).")

    # --- UCD 8.0 as in crate unicode_categories 0.1.1 ----------------------------------------
    # The crate lists every UnicodeData.txt line, so First/Last ranges contribute their two
    # ends only (none of the categories used here has ranges; Co is hard-coded in C++).
    text8 = read_checked("8", args.ucd8, "UnicodeData.txt")
    other8, punct8, mn8 = [], [], []
    for cp, f in unicode_data_rows(text8):
        cat = f[2]
        if cat in ("Cc", "Cf"):
            other8.append(cp)
        elif cat.startswith("P"):
            punct8.append(cp)
        elif cat == "Mn":
            mn8.append(cp)
    emit_ranges(out, "kControlOrFormat8", to_ranges(other8),
                "UCD 8.0 Cc|Cf (unicode_categories 0.1.1 is_other minus private use).")
    emit_ranges(out, "kPunctuation8", to_ranges(punct8),
                "UCD 8.0 Pc|Pd|Ps|Pe|Pi|Pf|Po (unicode_categories 0.1.1 is_punctuation).")
    emit_ranges(out, "kNonspacingMark8", to_ranges(mn8),
                "UCD 8.0 Mn (unicode_categories 0.1.1 is_mark_nonspacing).")

    # --- UCD 9.0 normalization as in unicode-normalization-alignments 0.1.12 ------------------
    text9 = read_checked("9", args.ucd9, "UnicodeData.txt")
    props9 = read_checked("9", args.ucd9, "DerivedNormalizationProps.txt")
    ccc, canon, compat, marks9 = {}, {}, {}, []
    for cp, f in unicode_data_rows(text9):
        cat, cc, decomp = f[2], f[3], f[5]
        if cc != "0":
            ccc[cp] = int(cc)
        if decomp.startswith("<"):
            compat[cp] = [int(c, 16) for c in decomp.split()[1:]]
        elif decomp:
            canon[cp] = [int(c, 16) for c in decomp.split()]
        if cat in ("Mn", "Mc", "Me"):
            marks9.append(cp)
    exclusions = []
    for line in props9.splitlines():
        data = line.split("#")[0].split(";")
        if len(data) < 2 or data[1].strip() != "Full_Composition_Exclusion":
            continue
        lo, _, hi = data[0].strip().partition("..")
        exclusions.append((int(lo, 16), int(hi or lo, 16)))

    s_base, s_count = 0xAC00, 19 * 21 * 28

    def decompose(cp, compatible):
        if cp in canon:
            return [d for c in canon[cp] for d in decompose(c, compatible)]
        if compatible and cp in compat:
            return [d for c in compat[cp] for d in decompose(c, compatible)]
        return [cp]

    canon_full, compat_full = {}, {}
    for cp in set(canon) | set(compat):
        assert not (s_base <= cp < s_base + s_count)
        d = decompose(cp, False)
        if d != [cp]:
            canon_full[cp] = d
        d = decompose(cp, True)
        if d != [cp]:
            compat_full[cp] = d
    compositions = {}
    for cp, d in canon.items():
        if any(lo <= cp <= hi for lo, hi in exclusions):
            continue
        assert len(d) == 2 and tuple(d) not in compositions
        compositions[tuple(d)] = cp

    ccc_runs = []
    for cp in sorted(ccc):
        if ccc_runs and ccc_runs[-1][2] == ccc[cp] and ccc_runs[-1][1] + 1 == cp:
            ccc_runs[-1][1] = cp
        else:
            ccc_runs.append([cp, cp, ccc[cp]])
    out.append("// UCD 9.0 Canonical_Combining_Class != 0, runs.")
    out.append("extern const CombiningClassRun kCombiningClass9[] = {")
    for lo, hi, c in ccc_runs:
        out.append(f"    {{0x{lo:X}, 0x{hi:X}, {c}}},")
    out.append("};")
    out.append(f"extern const std::size_t kCombiningClass9Size = {len(ccc_runs)};")
    out.append("")
    emit_mappings(out, "kCanonicalDecomposition9", canon_full,
                  "UCD 9.0 full canonical decompositions (Hangul is algorithmic).")
    emit_mappings(out, "kCompatibilityDecomposition9", compat_full,
                  "UCD 9.0 full compatibility decompositions (superset of canonical).")
    out.append("// UCD 9.0 primary composites: (first, second) -> composite, sorted.")
    out.append("extern const Composition kComposition9[] = {")
    for (a, b), c in sorted(compositions.items()):
        out.append(f"    {{0x{a:X}, 0x{b:X}, 0x{c:X}}},")
    out.append("};")
    out.append(f"extern const std::size_t kComposition9Size = {len(compositions)};")
    out.append("")
    emit_ranges(out, "kMark9", to_ranges(marks9),
                "UCD 9.0 General_Category=Mark (unicode-normalization-alignments is_combining_mark).")

    out.append("}  // namespace biaslab::runtime::tokenizers::unicode_data")
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
