#!/bin/bash
# make bench: genie's and PyTorch's time for each step GENIE runs (one GENIE-D iteration at batch
# 128, one GENIE-M iteration at batch 32 and at 128, one training step at batch 128), the two run
# alternately for several rounds, and per step the median over rounds of genie's time over
# PyTorch's (lower is better) against its target, with each side's peak RSS. Only the ratio
# means anything: the machines are shared, so absolute times move from run to run, and the
# median of alternating rounds keeps a burst of load on one side from deciding it.
#
#   tools/bench.sh GENIE_BINARY [extra flags for both sides, e.g. --arch resnet56]
# Environment: THREADS (default: all cores), ITERS timed iterations per run (default: 5 for
# GENIE-D and training, whose iterations take a few tenths of a second; 100 and 30 for GENIE-M at
# batch 32 and 128, whose take milliseconds, so that each run times about a second), ROUNDS
# (default 3). The PyTorch side is tools/torch_reference.py (the same work); without PyTorch only
# genie's side is printed.
set -euo pipefail
genie=$1
shift
extra=("$@")
threads=${THREADS:-$(nproc)}
rounds=${ROUNDS:-3}
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
  echo "bench: ROUNDS must be a positive whole number, got '$rounds'" >&2
  exit 2
fi
reference=$(dirname "$0")/torch_reference.py
python=/usr/bin/python3

have_torch() {
  [ -f "$reference" ] && "$python" -c 'import torch, torchvision' 2>/dev/null
}

# value KEY: the number after KEY= in the key=value line on stdin.
value() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }

# median and largest of the numbers on stdin, one a line (blank lines skipped).
median() {
  grep . | sort -g |
    awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
largest() { grep . | sort -g | tail -n 1; }

# bench_step MODE BATCH TARGET ITERS: ROUNDS rounds of genie then PyTorch, one line each, then
# the summary: the median time ratio against TARGET and each side's largest peak RSS.
bench_step() {
  local mode=$1 batch=$2 target=$3 iters=${ITERS:-$4} r ours theirs ratio
  local ratios="" genie_sec="" genie_rss="" torch_rss=""
  for ((r = 1; r <= rounds; r++)); do
    ours=$("$genie" bench "$mode" --device cpu --threads "$threads" --iters "$iters" \
      --batch "$batch" "${extra[@]}")
    if [ "$r" -eq 1 ]; then echo "${ours%% sec_per_iter=*}"; fi  # mode, arch, batch, threads
    genie_sec+=$(value sec_per_iter <<<"$ours")$'\n'
    genie_rss+=$(value peak_rss_mb <<<"$ours")$'\n'
    printf '  round %d: genie sec_per_iter=%s peak_rss_mb=%s' "$r" \
      "$(value sec_per_iter <<<"$ours")" "$(value peak_rss_mb <<<"$ours")"
    if [ "$torch" = yes ]; then
      theirs=$("$python" "$reference" "$mode" --threads "$threads" --iters "$iters" \
        --batch "$batch" "${extra[@]}")
      ratio=$(awk -v g="$(value sec_per_iter <<<"$ours")" \
        -v t="$(value sec_per_iter <<<"$theirs")" 'BEGIN { printf "%.3f", g / t }')
      ratios+=$ratio$'\n'
      torch_rss+=$(value peak_rss_mb <<<"$theirs")$'\n'
      printf ', torch sec_per_iter=%s peak_rss_mb=%s, genie/torch=%s' \
        "$(value sec_per_iter <<<"$theirs")" "$(value peak_rss_mb <<<"$theirs")" "$ratio"
    fi
    echo
  done
  local label
  label="$mode batch=$(value batch <<<"$ours")"
  if [ "$torch" = yes ]; then
    awk -v l="$label" -v m="$(median <<<"$ratios")" -v n="$rounds" -v t="$target" \
      -v g="$(largest <<<"$genie_rss")" -v p="$(largest <<<"$torch_rss")" \
      'BEGIN { printf "%s: time genie/torch median=%.2f over %d rounds (target <= %s: %s) " \
               "rss_mb genie=%.0f torch=%.0f\n", l, m, n, t, m <= t ? "met" : "not met", g, p }'
  else
    awk -v l="$label" -v s="$(median <<<"$genie_sec")" -v n="$rounds" \
      -v g="$(largest <<<"$genie_rss")" \
      'BEGIN { printf "%s: genie sec_per_iter median=%.4f over %d rounds rss_mb genie=%.0f\n",
               l, s, n, g }'
  fi
}

torch=no
if have_torch; then torch=yes; fi
if [ "$torch" = no ]; then
  echo "bench: no PyTorch (apt-get install python3-torch python3-torchvision for the comparison);" \
    "genie's side only"
fi
# genie picks a fast OpenBLAS kernel when OPENBLAS_CORETYPE is unset; PyTorch gets the same one.
core=$("$genie" info | sed -n 's/.*blas_core=\([^ ]*\).*/\1/p')
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$core}
echo "bench: $threads threads, ${ITERS:-5 to 100} timed iterations, $rounds rounds," \
  "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"
# The targets are the issue's: GENIE-D at most 0.8 of PyTorch's time, GENIE-M at most half,
# training no slower.
bench_step distill 128 0.8 5
bench_step recon 32 0.5 100
bench_step recon 128 0.5 30
bench_step train 128 1.0 5
