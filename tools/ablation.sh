#!/bin/bash
# GENIE-D's ablation on the default model: which part of the distillation matters. Each variant
# distills images, then the same GENIE-M (W2A4 unless BITS says otherwise) quantizes on them,
# for each seed; a table of mean/min/max top-1 on the 10,000 test images.
#
#   tools/ablation.sh GENIE OUT_DIR
# Variants (name: genie distill flags):
#   genie          --method genie --swing on     generator + latent codes, swing convolution
#   swing-off      --method genie --swing off    the same without swing convolution
#   latent-only    --method latent               latent codes optimised, generator frozen
#   generator-only --method generator            generator optimised, latent codes fixed
#   pixels         --method zeroq                the pixels themselves optimised (ZeroQ)
#   noise          --method noise                Gaussian noise, no distillation
# Settings through the environment (defaults in brackets): SEEDS ["0 1 2"], IMAGES [64],
# DISTILL_ITERS [200], RECON_ITERS [500], BITS ["2/4"] (weight/activation), VARIANTS [all].
# A run whose .txt exists is not repeated, so a killed ablation continues where it stopped.
set -euo pipefail
usage="usage: tools/ablation.sh GENIE OUT_DIR"
genie=${1:?$usage}
out=${2:?$usage}
seeds=${SEEDS:-0 1 2}
images=${IMAGES:-64}
distill_iters=${DISTILL_ITERS:-200}
recon_iters=${RECON_ITERS:-500}
bits=${BITS:-2/4}
w=${bits%/*} a=${bits#*/}
variants=${VARIANTS:-genie swing-off latent-only generator-only pixels noise}
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

for variant in $variants; do
  flags=$(distill_flags "$variant")
  for seed in $seeds; do
    tag=${variant}_w${w}a${a}_s${seed}
    [ -f "$out/$tag.txt" ] && continue
    start=$(date +%s)
    # shellcheck disable=SC2086  # the flags are words
    "$genie" distill $flags --num "$images" --batch "$images" --iters "$distill_iters" \
      --seed "$seed" --out "$out/$tag.gwt" >"$out/$tag.log" 2>&1
    bns=$(sed -n 's/.*bns_loss_last=\([^ ]*\).*/\1/p' "$out/$tag.log" | tail -1)
    "$genie" quantize --calib "$out/$tag.gwt" --method genie --iters "$recon_iters" --wbits "$w" \
      --abits "$a" --seed "$seed" --out "$out/$tag.gw" 2>>"$out/$tag.log" >/dev/null
    top1=$("$genie" eval --model "$out/$tag.gw" 2>>"$out/$tag.log" |
      sed -n 's/^top1=\([0-9.]*\).*/\1/p')
    echo "variant=$variant wbits=$w abits=$a seed=$seed bns_loss_last=${bns:-none} top1=$top1" \
      "seconds=$(($(date +%s) - start))" | tee "$out/$tag.txt.part"
    mv "$out/$tag.txt.part" "$out/$tag.txt"
  done
done

echo
echo "| variant (W${w}A${a}) | runs | mean top-1 | min | max | mean last BN loss |"
echo "|---|---|---|---|---|---|"
for variant in $variants; do
  cat "$out/${variant}_w${w}a${a}_s"*.txt | awk -v v="$variant" '
    { for (i = 1; i <= NF; ++i) { split($i, kv, "="); f[kv[1]] = kv[2] }
      t = f["top1"] + 0; s += t; n += 1
      if (n == 1 || t < lo) lo = t; if (n == 1 || t > hi) hi = t
      if (f["bns_loss_last"] != "none") { b += f["bns_loss_last"]; nb += 1 } }
    END { printf "| %s | %d | %.2f | %.2f | %.2f | %s |\n", v, n, s / n, lo, hi,
          nb ? sprintf("%.4g", b / nb) : "-" }'
done
