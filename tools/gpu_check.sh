#!/usr/bin/env bash
# The CUDA backend's check on a machine with an NVIDIA GPU, in one run of under 8 minutes:
#   1. build with CUDA=1;
#   2. the GPU parity suites (every op, GENIE-D, reconstruction and a quantization, CPU vs CUDA);
#   3. genie bench distill (ResNet-18, 224x224, batch 128) and recon (ResNet-20, batch 32) on
#      the GPU, each beside the same work in PyTorch on the same GPU when torch.cuda is there;
#   4. genie run --budget demo --device cuda;
#   5. every figure into OUT.json, and a one-line summary last.
# A step that fails or times out is recorded and the next one still runs. Each step's time limit
# is below; together, with the PyTorch probe, at most 470 s.
#
# Usage: tools/gpu_check.sh OUT.json
# Each step's whole output goes to OUT.logs/ beside OUT.json. Environment: BUILD (the build
# folder, default build), PYTHON (default python3), PREBUILT=1 (skip step 1 and use the binaries
# already in BUILD: for a GPU machine without the build dependencies; see tools/gpu_bundle.sh).
set -uo pipefail
out_json=$(realpath -m "${1:?usage: tools/gpu_check.sh OUT.json}")  # before the cd below
cd "$(dirname "$0")/.." || exit 1
logs=${out_json%.json}.logs
mkdir -p "$logs" || exit 1
scratch=$(mktemp -d /tmp/genie-gpu-check.XXXXXX)  # the run's models and images: not figures
python=${PYTHON:-python3}
build=${BUILD:-build}
genie=$build/genie
declare -A figure  # name -> value, written to the JSON at the end
failed=()          # the steps that failed or timed out, in order

# step NAME SECONDS COMMAND...: runs it under a timeout into $logs/NAME.log; records its status.
step() {
  local name=$1 limit=$2 started=$SECONDS
  shift 2
  echo "== $name (at most ${limit}s)"
  timeout -k 5 "$limit" "$@" >"$logs/$name.log" 2>&1  # -k: KILL what ignores the TERM
  local rc=$?
  figure[${name}_rc]=$rc
  figure[${name}_seconds]=$((SECONDS - started))
  [ $rc -eq 0 ] || {
    failed+=("$name")
    echo "   failed (exit $rc$([ $rc -eq 124 ] && echo ', timed out')), last lines:"
    tail -5 "$logs/$name.log"
  }
  return $rc
}

# value KEY FILE: the value of key=value in the last line of FILE that has it.
value() { grep -o "$1=[^ ]*" "$2" 2>/dev/null | tail -1 | cut -d= -f2; }

# Asked once: importing torch takes seconds.
torch_cuda=no
timeout 15 "$python" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null &&
  torch_cuda=yes
figure[torch_cuda]=$torch_cuda

# bench_pair NAME MODE GENIE_LIMIT TORCH_LIMIT FLAGS...: genie, then PyTorch, on the GPU, 5
# timed iterations each; their ratio.
bench_pair() {
  local name=$1 mode=$2 genie_limit=$3 torch_limit=$4
  shift 4
  step "${name}_genie" "$genie_limit" "$genie" bench "$mode" --device cuda --iters 5 "$@"
  figure[${name}_genie_sec]=$(value sec_per_iter "$logs/${name}_genie.log")
  figure[${name}_genie_peak_gpu_mb]=$(value peak_gpu_mb "$logs/${name}_genie.log")
  if [ "$torch_cuda" = yes ]; then
    step "${name}_torch" "$torch_limit" "$python" tools/torch_reference.py "$mode" --device cuda --iters 5 "$@"
    figure[${name}_torch_sec]=$(value sec_per_iter "$logs/${name}_torch.log")
    figure[${name}_torch_peak_gpu_mb]=$(value peak_gpu_mb "$logs/${name}_torch.log")
    figure[${name}_ratio]=$(awk -v g="${figure[${name}_genie_sec]}" -v t="${figure[${name}_torch_sec]}" \
      'BEGIN { if (g > 0 && t > 0) printf "%.3f", g / t }')
  fi
}

if [ "${PREBUILT:-0}" = 1 ]; then
  figure[build]=prebuilt
else
  step build 150 make CUDA=1 BUILD="$build" -j"$(nproc)" "$build/genie" "$build/genie_tests"
fi
step parity 50 "$build/genie_tests" -tc='gpu*'
figure[parity]=$(grep -q "Status: SUCCESS" "$logs/parity.log" && echo pass || echo fail)
grep -q "GPU parity cases skipped" "$logs/parity.log" && figure[parity]=skipped
bench_pair distill distill 40 35 --arch resnet18 --size 224 --batch 128
bench_pair recon recon 40 30 --batch 32
figure[ratio_meaning]="genie sec_per_iter / torch sec_per_iter: above 1, genie is slower"
step run 110 "$genie" run --budget demo --device cuda --out "$scratch/run"
for key in fp32_top1 rtn_top1 genie_top1; do  # (run_seconds is the step's wall time)
  figure[run_$key]=$(value "$key" "$logs/run.log")
done
figure[device]=$("$genie" info 2>/dev/null | grep '^device=cuda' | head -1 | cut -d= -f2-)
figure[failed_steps]=$(IFS=,; echo "${failed[*]}")
figure[total_seconds]=$SECONDS

{
  echo "{"
  first=1
  for key in $(printf '%s\n' "${!figure[@]}" | sort); do
    v=${figure[$key]}
    [ $first -eq 1 ] || echo ","
    first=0
    if [[ $v =~ ^-?(0|[1-9][0-9]*)(\.[0-9]+)?$ ]]; then  # a JSON number
      printf '  "%s": %s' "$key" "$v"
    else
      v=${v//\\/\\\\}
      printf '  "%s": "%s"' "$key" "${v//\"/\\\"}"
    fi
  done
  echo
  echo "}"
} >"$out_json"
echo "logs in $logs, figures in $out_json"
echo "gpu_check: parity=${figure[parity]} distill_ratio=${figure[distill_ratio]:-none}" \
  "recon_ratio=${figure[recon_ratio]:-none}" \
  "genie_peak_gpu_mb=${figure[distill_genie_peak_gpu_mb]:-none}" \
  "torch_peak_gpu_mb=${figure[distill_torch_peak_gpu_mb]:-none}" \
  "genie_top1=${figure[run_genie_top1]:-none} failed_steps=${figure[failed_steps]:-none}" \
  "seconds=${figure[total_seconds]}"
[ "${figure[parity]}" = pass ] && [ "${figure[run_rc]}" = 0 ]
