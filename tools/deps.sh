#!/usr/bin/env bash
# Installs the Debian packages genie.cpp needs; does nothing when they are all present.
set -euo pipefail
# python3 runs the converter's tests in `make test`; libdnnl-dev is oneDNN, the integer engine's
# int8 convolutions; python3-onnx writes `genie export --onnx` files; chromium renders the run
# report in `make test` (tests/report.sh).
packages=(g++ make python3 libopenblas-dev libstb-dev doctest-dev libcxxopts-dev zlib1g-dev dataset-fashion-mnist libdnnl-dev python3-onnx chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
line="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "genie.cpp needs these Debian packages; install them with:" >&2
  echo "  sudo $line" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive $line >/dev/null; }; then
  echo "could not install the packages; run:" >&2
  echo "  $line" >&2
  exit 1
fi
