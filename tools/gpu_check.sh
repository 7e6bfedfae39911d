#!/usr/bin/env bash
# The CUDA backend's check on a machine with an NVIDIA GPU, in one run of under 8 minutes:
#   1. build with CUDA=1;
#   2. the GPU parity suites (every op, GENIE-D, reconstruction and a quantization, CPU vs CUDA);
#   3. genie bench distill (ResNet-18, 224x224, batch 128) and recon (batch 32) on the GPU, each
#      beside the same work in PyTorch on the same GPU when torch.cuda is there;
#   4. genie run --budget demo --device cuda;
#   5. every figure into OUT.json, and a one-line summary last.
# A step that fails or times out is recorded and the next one still runs.
#
# Usage: tools/gpu_check.sh OUT.json
set -uo pipefail
cd "$(dirname "$0")/.."
out_json=${1:?usage: tools/gpu_check.sh OUT.json}
logs=$(mktemp -d /tmp/genie-gpu-check.XXXXXX)
python=${PYTHON:-python3}
genie=build/genie
declare -A figure  # name -> value, written to the JSON at the end

# step NAME SECONDS COMMAND...: runs it under a timeout into $logs/NAME.log; records its status.
step() {
  local name=$1 limit=$2 started=$SECONDS
  shift 2
  echo "== $name (at most ${limit}s)"
  timeout "$limit" "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  figure[${name}_rc]=$rc
  figure[${name}_seconds]=$((SECONDS - started))
  [ $rc -eq 0 ] || { echo "   failed (exit $rc), last lines:"; tail -5 "$logs/$name.log"; }
  return $rc
}

# value KEY FILE: the value of key=value in the last line of FILE that has it.
value() { grep -o "$1=[^ ]*" "$2" 2>/dev/null | tail -1 | cut -d= -f2; }

have_torch_cuda() { "$python" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; }

bench_pair() {  # bench_pair NAME MODE FLAGS...: genie, then PyTorch, on the GPU; their ratio
  local name=$1 mode=$2
  shift 2
  step "${name}_genie" 40 "$genie" bench "$mode" --device cuda --iters 5 "$@"
  figure[${name}_genie_sec]=$(value sec_per_iter "$logs/${name}_genie.log")
  figure[${name}_genie_peak_gpu_mb]=$(value peak_gpu_mb "$logs/${name}_genie.log")
  if have_torch_cuda; then
    step "${name}_torch" 40 "$python" tools/torch_reference.py "$mode" --device cuda --iters 5 "$@"
    figure[${name}_torch_sec]=$(value sec_per_iter "$logs/${name}_torch.log")
    figure[${name}_torch_peak_gpu_mb]=$(value peak_gpu_mb "$logs/${name}_torch.log")
    figure[${name}_ratio]=$(awk -v g="${figure[${name}_genie_sec]}" -v t="${figure[${name}_torch_sec]}" \
      'BEGIN { if (g > 0 && t > 0) printf "%.3f", g / t }')
  fi
}

step build 150 make CUDA=1 -j"$(nproc)" build/genie build/genie_tests
step parity 60 build/genie_tests -tc='gpu*'
figure[parity]=$(grep -q "Status: SUCCESS" "$logs/parity.log" && echo pass || echo fail)
grep -q "GPU parity cases skipped" "$logs/parity.log" && figure[parity]=skipped
bench_pair distill distill --arch resnet18 --size 224 --batch 128
bench_pair recon recon --arch resnet18 --size 224 --batch 32
step run 100 "$genie" run --budget demo --device cuda --out "$logs/out"
for key in fp32_top1 rtn_top1 genie_top1 seconds; do
  figure[run_$key]=$(value "$key" "$logs/run.log")
done
figure[device]=$("$genie" info 2>/dev/null | grep '^device=cuda' | head -1 | cut -d= -f2-)

{
  echo "{"
  first=1
  for key in $(printf '%s\n' "${!figure[@]}" | sort); do
    v=${figure[$key]}
    [ $first -eq 1 ] || echo ","
    first=0
    if [[ $v =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf '  "%s": %s' "$key" "$v"
    else printf '  "%s": "%s"' "$key" "${v//\"/\'}"; fi
  done
  echo
  echo "}"
} >"$out_json"
echo "logs in $logs, figures in $out_json"
echo "gpu_check: parity=${figure[parity]} distill_ratio=${figure[distill_ratio]:-none}" \
  "recon_ratio=${figure[recon_ratio]:-none}" \
  "genie_peak_gpu_mb=${figure[distill_genie_peak_gpu_mb]:-none}" \
  "torch_peak_gpu_mb=${figure[distill_torch_peak_gpu_mb]:-none}" \
  "genie_top1=${figure[run_genie_top1]:-none} build_rc=${figure[build_rc]}"
[ "${figure[parity]}" = pass ] && [ "${figure[run_rc]}" = 0 ]
