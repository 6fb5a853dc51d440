#!/usr/bin/env bash
# usage: out_of_tree_plugin.sh BUILD_DIR SOURCE_DIR WORK_DIR CMAKE NINJA
set -euo pipefail
build=$1 src=$2 work=$3 cmake=$4 ninja=$5
rm -rf "$work" && mkdir -p "$work"
prefix="$work/prefix"

"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log"
test -x "$prefix/bin/biaslab"
test -f "$prefix/lib/cmake/biaslab/biaslabConfig.cmake"
test -f "$prefix/include/biaslab/plugin.hpp"
test -f "$prefix/share/biaslab/schemas/pipeline.schema.json"
# The installed CLI finds its SentencePiece shim (lib/biaslab/) for tokenizer.model files.
spm_ids=$(printf 'The nurse said that she would be late.\n' |
  "$prefix/bin/biaslab" tokenize --tokenizer "$src/tests/runtime/data/tiny_spm/tokenizer.model")
[[ "$spm_ids" == '{"ids":[36,78,62,26,79,13,12,86,37,13,4,78,97,66,58,33,15,7,93]'* ]] || {
  echo "installed biaslab tokenize gave: $spm_ids"; exit 1; }

# The plugin is built by a separate CMake project that only knows the installed package.
"$cmake" -S "$src/docs/examples/hello_plugin" -B "$work/hello" -G Ninja -DCMAKE_MAKE_PROGRAM="$ninja" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release > "$work/hello-configure.log"
"$cmake" --build "$work/hello" > "$work/hello-build.log"
test -f "$work/hello/hello_plugin.so"

export BIASLAB_PLUGIN_PATH="$work/hello:$BIASLAB_TEST_PLUGIN_DIR"
biaslab="$prefix/bin/biaslab"
"$biaslab" plugins describe metric.hello_length > "$work/describe.txt"
grep -q "^metric.hello_length 0.1.0 (metric)" "$work/describe.txt"
grep -q "  scale : number = 1.0" "$work/describe.txt"

"$biaslab" --cache-dir "$work/cache" --run-dir "$work/run" run "$src/docs/examples/hello_plugin/pipeline.toml" 2> "$work/run.log"
# the metric reports scale 0.5 * bytes of the artifact directory (value.txt only).
bytes=$(stat -c %s "$(find "$work/cache/objects" -path '*/artifact/value.txt' | head -n1)")
expected=$(awk -v b="$bytes" 'BEGIN { printf "%g", b * 0.5 }')
"$biaslab" results "$work/run" --format csv > "$work/results.csv"
# columns: cell,node,plugin,model,metric,category,value,ci_low,ci_high,n,extra
got=$(awk -F, '$5 == "hello.bytes" { print $7 }' "$work/results.csv")
awk -v a="$got" -v b="$expected" 'BEGIN { exit !(a != "" && a + 0 == b + 0) }' || {
  echo "expected hello.bytes = $expected, got '$got' in:"; cat "$work/results.csv"; exit 1; }
echo "out-of-tree plugin ok: hello.bytes = $expected"
