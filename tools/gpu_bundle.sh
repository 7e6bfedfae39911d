#!/usr/bin/env bash
# Packs a CUDA build and the shared libraries it needs beyond the CUDA Toolkit into one archive,
# for a GPU machine that has CUDA and Python but not the Debian build dependencies (OpenBLAS,
# oneDNN, stb, zlib). There:
#   tar -xJf BUNDLE -C DIR; LD_LIBRARY_PATH=DIR/lib:$LD_LIBRARY_PATH \
#     PREBUILT=1 BUILD=DIR/build tools/gpu_check.sh OUT.json
# The binaries are built for x86-64-v3 (AVX2), not -march=native, since the GPU machine's
# processor is not this one.
#
# Usage: tools/gpu_bundle.sh BUNDLE.tar.xz   (environment: BUILD, default build-gpu)
set -euo pipefail
bundle=$(realpath -m "${1:?usage: tools/gpu_bundle.sh BUNDLE.tar.xz}")
cd "$(dirname "$0")/.."
build=${BUILD:-build-gpu}
make CUDA=1 BUILD="$build" OPT="-O3 -march=x86-64-v3" -j"$(nproc)" "$build/genie" "$build/genie_tests"
stage=$(mktemp -d /tmp/genie-bundle.XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/build" "$stage/lib"
cp "$build/genie" "$build/genie_tests" "$stage/build/"
# Every library the binaries load from the system's own folders, under its soname so that the
# loader finds it, except those every such machine has in a version at least as new (libc, the C++
# runtime, zlib) and CUDA's own: LD_LIBRARY_PATH reaches PyTorch too, which needs the newer ones.
ldd "$build/genie" "$build/genie_tests" | awk '$2 == "=>" && $3 ~ /^\/(usr\/)?lib/ {print $1, $3}' |
  grep -Ev '^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libz|ld-linux[^ ]*|libcu[a-z]*)\.so' |
  sort -u | while read -r soname path; do cp -L "$path" "$stage/lib/$soname"; done
tar -cJf "$bundle" -C "$stage" build lib
ls -l "$bundle"
