#!/bin/bash
# make bench: genie's and PyTorch's time for one GENIE-D and one GENIE-M iteration on this
# machine, run back to back, and their ratio. Only the ratio means anything: the machines are
# shared, so absolute times move from run to run.
#
#   tools/bench.sh GENIE_BINARY [extra flags for both sides, e.g. --arch resnet20 --batch 64]
# Environment: THREADS (default: all cores), ITERS (default 5). The PyTorch side is
# tools/torch_reference.py (the same work); without PyTorch only genie's side is printed.
set -euo pipefail
genie=$1
shift
threads=${THREADS:-$(nproc)}
iters=${ITERS:-5}
reference=$(dirname "$0")/torch_reference.py
python=/usr/bin/python3

have_torch() {
  [ -f "$reference" ] && "$python" -c 'import torch, torchvision' 2>/dev/null
}

sec_per_iter() { sed -n 's/.*sec_per_iter=\([0-9.]*\).*/\1/p'; }

if ! have_torch; then
  echo "bench: no PyTorch (apt-get install python3-torch python3-torchvision for the comparison);" \
    "genie's side only"
fi
# genie picks a fast OpenBLAS kernel when OPENBLAS_CORETYPE is unset; PyTorch gets the same one.
core=$("$genie" info | sed -n 's/.*blas_core=\([^ ]*\).*/\1/p')
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$core}
echo "bench: $threads threads, $iters timed iterations, OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"
for mode in distill recon; do
  ours=$("$genie" bench "$mode" --device cpu --threads "$threads" --iters "$iters" "$@")
  echo "genie: $ours"
  if have_torch; then
    theirs=$("$python" "$reference" "$mode" --threads "$threads" --iters "$iters" "$@")
    echo "torch: $theirs"
    awk -v m="$mode" -v g="$(echo "$ours" | sec_per_iter)" -v t="$(echo "$theirs" | sec_per_iter)" \
      'BEGIN { printf "%s: genie is %.2fx the speed of PyTorch (torch sec / genie sec)\n", m, t / g }'
  fi
done
