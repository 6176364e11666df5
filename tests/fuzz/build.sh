#!/usr/bin/env bash
# Builds the libFuzzer targets of the file readers with clang-14 (Debian: clang-14,
# libclang-rt-14-dev), under AddressSanitizer and UndefinedBehaviorSanitizer:
#   tests/fuzz/build.sh [BUILD_DIR]          (default build-fuzz, under the source root)
# then fuzz, e.g. two minutes on a scratch copy of the saved inputs:
#   cp -r tests/fuzz/corpus/idx /tmp/idx && build-fuzz/fuzz_idx /tmp/idx -max_total_time=120
# and keep what matters: a crash input (crash-*) goes into tests/fuzz/corpus/<target>/
# once fixed, and `fuzz_idx -merge=1 tests/fuzz/corpus/idx /tmp/idx` adds the inputs that
# reach new code. The normal test suite replays corpus/ (meson.build beside this file).
# SRC overrides the source root (default: two levels above this script).
set -euo pipefail
src=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
out=${1:-$src/build-fuzz}
cc=${CC_FUZZ:-clang-14}
san=-fsanitize=address,undefined
if [ ! -f "$out/build.ninja" ]; then
    CC=$cc meson setup "$out" "$src" -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined" >/dev/null
fi
ninja -C "$out" libnabla.a >/dev/null
for target in idx csv; do
    $cc -g -O1 -fsanitize=fuzzer $san -fno-sanitize-recover=undefined -D_GNU_SOURCE \
        -I"$src/include" "$src/tests/fuzz/fuzz_$target.c" "$out/libnabla.a" \
        -fopenmp $(pkg-config --libs sleef zlib) -lm -ldl -lpthread -o "$out/fuzz_$target"
    echo "$out/fuzz_$target"
done
