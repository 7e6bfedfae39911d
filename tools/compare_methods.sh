#!/bin/bash
# The README's method comparison: every method at every bit width and seed, quantized on the same
# calibration images, then evaluated on the 10,000 test images; a table of mean/min/max top-1.
#
#   tools/compare_methods.sh GENIE CALIB OUT_DIR [ITERS]
# Settings through the environment (defaults in brackets):
#   METHODS ["genie qdrop brecq adaround rtn"]   BITS ["3/3 2/4"] (weight/activation)   SEEDS ["0 1 2"]
# Each run leaves OUT_DIR/<method>_w<W>a<A>_s<seed>.gw and .txt; a run whose .txt exists is not
# repeated, so a killed comparison continues where it stopped.
set -euo pipefail
genie=${1:?usage: tools/compare_methods.sh GENIE CALIB OUT_DIR [ITERS]}
calib=${2:?usage: tools/compare_methods.sh GENIE CALIB OUT_DIR [ITERS]}
out=${3:?usage: tools/compare_methods.sh GENIE CALIB OUT_DIR [ITERS]}
iters=${4:-1500}
methods=${METHODS:-genie qdrop brecq adaround rtn}
bits=${BITS:-3/3 2/4}
seeds=${SEEDS:-0 1 2}
mkdir -p "$out"

for wa in $bits; do
  w=${wa%/*} a=${wa#*/}
  for method in $methods; do
    # Round to nearest draws nothing at random: one seed says all.
    for seed in $([ "$method" = rtn ] && echo 0 || echo "$seeds"); do
      tag=${method}_w${w}a${a}_s${seed}
      [ -f "$out/$tag.txt" ] && continue
      start=$(date +%s)
      "$genie" quantize --calib "$calib" --method "$method" --iters "$iters" --wbits "$w" \
        --abits "$a" --seed "$seed" --out "$out/$tag.gw" 2>"$out/$tag.log" >/dev/null
      top1=$("$genie" eval --model "$out/$tag.gw" 2>>"$out/$tag.log" |
        sed -n 's/^top1=\([0-9.]*\).*/\1/p')
      echo "method=$method wbits=$w abits=$a seed=$seed top1=$top1 seconds=$(($(date +%s) - start))" |
        tee "$out/$tag.txt.part"
      mv "$out/$tag.txt.part" "$out/$tag.txt"
    done
  done
done

echo
echo "| bits | method | runs | mean top-1 | min | max |"
echo "|---|---|---|---|---|---|"
for wa in $bits; do
  w=${wa%/*} a=${wa#*/}
  for method in $methods; do
    cat "$out/${method}_w${w}a${a}_s"*.txt | sed -n 's/.*top1=\([0-9.]*\).*/\1/p' |
      awk -v bits="W${w}A${a}" -v m="$method" '
        { s += $1; n += 1; if (n == 1 || $1 < lo) lo = $1; if (n == 1 || $1 > hi) hi = $1 }
        END { printf "| %s | %s | %d | %.2f | %.2f | %.2f |\n", bits, m, n, s / n, lo, hi }'
  done
done
