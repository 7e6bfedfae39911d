#!/bin/bash
# Ablations on the default model; each prints a table of mean/min/max top-1 on the 10,000 test
# images over seeds.
#
#   tools/ablation.sh GENIE OUT_DIR [distillation]
# Which part of GENIE-D matters. Each variant distills images, then the same GENIE-M (W2A4
# unless BITS says otherwise) quantizes on them, for each seed. Variants (name: distill flags):
#   genie          --method genie --swing on     generator + latent codes, swing convolution
#   swing-off      --method genie --swing off    the same without swing convolution
#   latent-only    --method latent               latent codes optimised, generator frozen
#   generator-only --method generator            generator optimised, latent codes fixed
#   pixels         --method zeroq                the pixels themselves optimised (ZeroQ)
#   noise          --method noise                Gaussian noise, no distillation
#
#   CALIB=IMAGES.gwt tools/ablation.sh GENIE OUT_DIR skip-input
# What a parameter-free shortcut reads (genie quantize --skip-input quantized|float): GENIE-M
# on the same distilled images with each setting, at each of BITS (default "4/4 2/4"), for
# each seed.
#
# Settings through the environment (defaults in brackets): SEEDS ["0 1 2"], IMAGES [64],
# DISTILL_ITERS [200], RECON_ITERS [500], BITS ["2/4"] (weight/activation), VARIANTS [all],
# SKIPS ["quantized float"] (skip-input only).
# A run whose .txt exists is not repeated, nor a distillation whose .gwt exists, so a killed
# ablation continues where it stopped.
set -euo pipefail
usage="usage: tools/ablation.sh GENIE OUT_DIR [distillation|skip-input]"
genie=${1:?$usage}
out=${2:?$usage}
part=${3:-distillation}
seeds=${SEEDS:-0 1 2}
images=${IMAGES:-64}
distill_iters=${DISTILL_ITERS:-200}
recon_iters=${RECON_ITERS:-500}
mkdir -p "$out"

distill_flags() {
  case $1 in
    genie) echo "--method genie --swing on" ;;
    swing-off) echo "--method genie --swing off" ;;
    latent-only) echo "--method latent" ;;
    generator-only) echo "--method generator" ;;
    pixels) echo "--method zeroq" ;;
    noise) echo "--method noise" ;;
    *) echo "tools/ablation.sh: unknown variant '$1'" >&2 && exit 1 ;;
  esac
}

# GENIE-M on $1 (calibration images) at $w/$a with seed $2 and extra quantize flags $4..., then
# top-1; one key=value line (prefixed by $3) into $out/$tag.txt.
quantize_and_evaluate() {
  local calib=$1 seed=$2 fields=$3 start top1
  shift 3
  start=$(date +%s)
  "$genie" quantize --calib "$calib" --method genie --iters "$recon_iters" --wbits "$w" \
    --abits "$a" --seed "$seed" "$@" --out "$out/$tag.gw" 2>>"$out/$tag.log" >/dev/null
  top1=$("$genie" eval --model "$out/$tag.gw" 2>>"$out/$tag.log" |
    sed -n 's/^top1=\([0-9.]*\).*/\1/p')
  echo "$fields wbits=$w abits=$a seed=$seed top1=$top1 seconds=$(($(date +%s) - start))" |
    tee "$out/$tag.txt.part"
  mv "$out/$tag.txt.part" "$out/$tag.txt"
}

# mean/min/max of top1 over the .txt files $2..., as one row whose first cells are $1.
table_row() {
  local cells=$1
  shift
  cat "$@" | awk -v cells="$cells" '
    { for (i = 1; i <= NF; ++i) { split($i, kv, "="); f[kv[1]] = kv[2] }
      t = f["top1"] + 0; s += t; n += 1
      if (n == 1 || t < lo) lo = t; if (n == 1 || t > hi) hi = t
      if (f["bns_loss_last"] != "" && f["bns_loss_last"] != "none") {
        b += f["bns_loss_last"]; nb += 1 } }
    END { printf "| %s | %d | %.2f | %.2f | %.2f |%s\n", cells, n, s / n, lo, hi,
          nb ? sprintf(" %.4g |", b / nb) : "" }'
}

distillation() {
  local bits=${BITS:-2/4} variants=${VARIANTS:-genie swing-off latent-only generator-only pixels noise}
  w=${bits%/*} a=${bits#*/}
  for variant in $variants; do
    flags=$(distill_flags "$variant")
    for seed in $seeds; do
      tag=${variant}_w${w}a${a}_s${seed}
      [ -f "$out/$tag.txt" ] && continue
      if [ ! -f "$out/$tag.gwt" ]; then
        # shellcheck disable=SC2086  # the flags are words
        "$genie" distill $flags --num "$images" --batch "$images" --iters "$distill_iters" \
          --seed "$seed" --out "$out/$tag.gwt" >"$out/$tag.distill.log" 2>&1
      fi
      bns=$(sed -n 's/.*bns_loss_last=\([^ ]*\).*/\1/p' "$out/$tag.distill.log" | tail -1)
      quantize_and_evaluate "$out/$tag.gwt" "$seed" "variant=$variant bns_loss_last=${bns:-none}"
    done
  done
  echo
  echo "| variant (W${w}A${a}) | runs | mean top-1 | min | max | mean last BN loss |"
  echo "|---|---|---|---|---|---|"
  for variant in $variants; do
    table_row "$variant" "$out/${variant}_w${w}a${a}_s"*.txt
  done
}

skip_input() {
  local calib=${CALIB:?"tools/ablation.sh skip-input needs CALIB=IMAGES.gwt"}
  for wa in ${BITS:-4/4 2/4}; do
    w=${wa%/*} a=${wa#*/}
    for skip in ${SKIPS:-quantized float}; do
      for seed in $seeds; do
        tag=skip-${skip}_w${w}a${a}_s${seed}
        [ -f "$out/$tag.txt" ] && continue
        quantize_and_evaluate "$calib" "$seed" "skip_input=$skip" --skip-input "$skip"
      done
    done
  done
  echo
  echo "| bits | skip reads | runs | mean top-1 | min | max |"
  echo "|---|---|---|---|---|---|"
  for wa in ${BITS:-4/4 2/4}; do
    w=${wa%/*} a=${wa#*/}
    for skip in ${SKIPS:-quantized float}; do
      table_row "W${w}A${a} | $skip" "$out/skip-${skip}_w${w}a${a}_s"*.txt
    done
  done
}

case $part in
  distillation) distillation ;;
  skip-input) skip_input ;;
  *) echo "$usage" >&2 && exit 2 ;;
esac
