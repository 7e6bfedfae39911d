#!/bin/bash
# How genie's time per step grows with the batch: `genie bench distill|recon|train` at several
# batch sizes and depths, genie's side only, as a markdown table (arch, batch, step, seconds per
# iteration and per image), then a least-squares line per arch and step, time = fixed + per_image
# x batch: a fixed part that is large against per_image x batch is per-iteration overhead (setup
# of each op, allocation, threads) rather than work that grows with the images.
#
#   tools/bench_scaling.sh GENIE_BINARY [extra flags for genie bench, e.g. --threads 2]
# Environment: ITERS timed iterations per run (default 3), ARCHS (default "resnet20 resnet56"),
# BATCHES (default "32 64 128 256"), STEPS (default "distill recon train"). The default grid is
# heavy (24 runs, ResNet-56 at batch 256 among them); the variables pick a part of it.
set -euo pipefail
genie=$1
shift
iters=${ITERS:-3}
read -ra archs <<<"${ARCHS:-resnet20 resnet56}"
read -ra batches <<<"${BATCHES:-32 64 128 256}"
read -ra steps <<<"${STEPS:-distill recon train}"

# value KEY: the number after KEY= in the key=value line on stdin.
value() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }

rows=""  # arch step batch sec, one run a line, for the fit
echo "| arch | batch | step | sec_per_iter | sec per image |"
echo "|---|---:|---|---:|---:|"
for arch in "${archs[@]}"; do
  for step in "${steps[@]}"; do
    for batch in "${batches[@]}"; do
      sec=$("$genie" bench "$step" --arch "$arch" --batch "$batch" --iters "$iters" "$@" |
        value sec_per_iter)
      awk -v a="$arch" -v b="$batch" -v s="$step" -v t="$sec" \
        'BEGIN { printf "| %s | %d | %s | %.4f | %.6f |\n", a, b, s, t, t / b }'
      rows+="$arch $step $batch $sec"$'\n'
    done
  done
done

echo
echo "| arch | step | fixed sec per iteration | sec per image |"
echo "|---|---|---:|---:|"
# Ordinary least squares of sec on batch per (arch, step); one batch size fits no line.
awk 'NF == 4 {
       k = $1 " " $2; if (!(k in n)) order[++groups] = k
       n[k]++; sx[k] += $3; sy[k] += $4; sxx[k] += $3 * $3; sxy[k] += $3 * $4
     }
     END {
       for (i = 1; i <= groups; i++) {
         k = order[i]; split(k, name, " ")
         d = n[k] * sxx[k] - sx[k] * sx[k]
         if (d == 0) { printf "| %s | %s | - | - |\n", name[1], name[2]; continue }
         slope = (n[k] * sxy[k] - sx[k] * sy[k]) / d
         fixed = (sy[k] - slope * sx[k]) / n[k]
         printf "| %s | %s | %.4f | %.6f |\n", name[1], name[2], fixed, slope
       }
     }' <<<"$rows"
