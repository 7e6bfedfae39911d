#!/bin/bash
# Whether two genie binaries compute the same bits: short runs of every kind of work behind the
# README's accuracy figures, made by each binary, their files compared byte for byte. A speed
# change that keeps them all equal leaves those figures where they are; one that does not changes
# results in their last bits, and the figures it touches must be re-measured (and the commit
# must say so).
#
#   tools/same_bits.sh OLD_GENIE NEW_GENIE [WORK_DIR]
# Runs (2 threads unless named): GENIE-D and ZeroQ distillation of 64 images (the GENIE-D images
# are then every quantization's calibration); GENIE-M, BRECQ and QDrop at W2A4; GENIE-M at W4A4
# with --skip-input float on 1 thread; one epoch of `genie train` on 512 Fashion-MNIST images
# (the embedded dataset path, see `genie train --help`). About 3 minutes per binary on 2 cores.
# Prints one line per file and exits 1 when any differs.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: tools/same_bits.sh OLD_GENIE NEW_GENIE [WORK_DIR]" >&2
  exit 2
fi
old=$1 new=$2
work=${3:-$(mktemp -d)}
mkdir -p "$work"
for g in "$old" "$new"; do
  [ -x "$g" ] || { echo "same_bits: $g is not an executable genie" >&2; exit 2; }
done

# make GENIE DIR: the short runs, their files in DIR.
make_files() {
  local g=$1 dir=$2
  mkdir -p "$dir"
  "$g" distill --num 64 --batch 32 --iters 30 --out "$dir/genie.gwt" --threads 2
  "$g" distill --num 64 --batch 32 --iters 30 --method zeroq --out "$dir/zeroq.gwt" --threads 2
  for method in genie brecq qdrop; do
    "$g" quantize --calib "$dir/genie.gwt" --method "$method" --wbits 2 --abits 4 --iters 120 \
      --batch 32 --out "$dir/$method.gw" --threads 2
  done
  "$g" quantize --calib "$dir/genie.gwt" --wbits 4 --abits 4 --iters 60 --batch 32 \
    --skip-input float --out "$dir/genie_skip-float.gw" --threads 1
  "$g" train --epochs 1 --limit 512 --out "$dir/train.gw" --threads 2
}

for side in old new; do
  echo "same_bits: $side (${!side}) -> $work/$side" >&2
  make_files "${!side}" "$work/$side" >"$work/$side.log" 2>&1 ||
    { echo "same_bits: the $side binary failed, see $work/$side.log" >&2; exit 2; }
done

differ=0
for f in genie.gwt zeroq.gwt genie.gw brecq.gw qdrop.gw genie_skip-float.gw train.gw; do
  if cmp -s "$work/old/$f" "$work/new/$f"; then
    echo "same      $f"
  else
    echo "DIFFERENT $f"
    differ=1
  fi
done
exit $differ
