#!/usr/bin/env bash
# Command-line behaviour of build/genie: usage errors exit 2, bad files exit 1 with the file
# named, and eval prints its key=value line. Usage: tests/cli.sh path/to/genie
set -u
genie=${1:?usage: tests/cli.sh path/to/genie}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect NAME CODE PATTERN -- command...: the exit code is CODE and stdout+stderr match PATTERN.
expect() {
  local name=$1 code=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$code" ] && grep -qE -- "$pattern" <<<"$out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf 'FAILED: %s: exit %s (wanted %s), output:\n%s\n' "$name" "$rc" "$code" "$out" >&2
  fi
}

expect "help lists the subcommands" 0 "eval.*" -- "$genie" --help
expect "no arguments is a usage error" 2 "usage: genie" -- "$genie"
expect "an unknown command is a usage error" 2 "unknown command 'frobnicate'" -- "$genie" frobnicate
expect "an unknown flag is a usage error" 2 "bogus" -- "$genie" eval --bogus
expect "a stray argument is a usage error" 2 "unexpected argument 'extra'" -- "$genie" info extra
expect "a bad flag value is a usage error" 2 "many.*failed to parse" -- "$genie" eval --batch many
expect "info names the OpenBLAS kernel" 0 "blas_core=" -- "$genie" info --threads 1
expect "a missing model file names the file" 1 "$tmp/none.gw" -- "$genie" eval --model "$tmp/none.gw"
printf 'GNIE\x02\x00\x00\x00' >"$tmp/v2.gw"
expect "a wrong format version names the file" 1 "v2.gw.*version" -- "$genie" eval --model "$tmp/v2.gw"
head -c 5000 data/default.gw >"$tmp/cut.gw"
expect "a truncated model names the file" 1 "cut.gw" -- "$genie" eval --model "$tmp/cut.gw"
expect "a missing dataset names the path" 1 "$tmp/nodata" -- "$genie" eval --data "fashion-mnist:$tmp/nodata"
expect "an unknown dataset kind lists the accepted forms" 1 "fashion-mnist" -- "$genie" eval --data imagenet
expect "eval prints top1, top5 and n" 0 "^top1=[0-9.]+ top5=[0-9.]+ n=200$" -- \
  "$genie" eval --limit 200 --threads 1

# GENIE-D, then GENIE-M on its images, then the quantized model's accuracy: a tiny end to end.
expect "distill reports its BN loss" 0 "^bns_loss_first=.* images=16 " -- \
  "$genie" distill --num 16 --batch 8 --iters 3 --out "$tmp/d.gwt" --png "$tmp/d.png" --threads 1
expect "distill wrote a contact sheet" 0 "PNG" -- head -c 4 "$tmp/d.png"
expect "quantize writes a quantized model" 0 "^quantized=.*method=genie wbits=4 abits=4" -- \
  "$genie" quantize --calib "$tmp/d.gwt" --iters 4 --out "$tmp/q.gw" --threads 1
expect "a quantized model evaluates" 0 "^top1=[0-9.]+ top5=[0-9.]+ n=100$" -- \
  "$genie" eval --model "$tmp/q.gw" --limit 100 --threads 1
# 4-bit codes instead of 32-bit floats, plus per-channel steps, BN and the 8-bit first/last layers.
q_size=$(stat -c %s "$tmp/q.gw") f_size=$(stat -c %s data/default.gw)
expect "the quantized file is about 8x smaller" 0 "yes" -- \
  sh -c "[ $((q_size * 5)) -lt $f_size ] && echo yes"
expect "an unknown method lists the methods" 2 "genie, qdrop, brecq, adaround or rtn" -- \
  "$genie" quantize --calib "$tmp/d.gwt" --method gptq --out "$tmp/x.gw"
expect "an unknown distillation method is a usage error" 2 "zeroq" -- \
  "$genie" distill --method gan --out "$tmp/x.gwt"

# The benchmark's two loops, each in the format tools/bench.sh reads.
expect "bench needs a mode" 2 "distill or recon" -- "$genie" bench --threads 1
for mode in distill recon; do
  expect "bench times a $mode iteration" 0 "^$mode arch=resnet20 batch=16 threads=1 sec_per_iter=[0-9.]+ " -- \
    "$genie" bench "$mode" --batch 16 --iters 3 --channels 1 --size 16 --threads 1
done

# A distillation killed with SIGKILL after its first batch resumes to the same file.
"$genie" distill --num 24 --batch 8 --iters 6 --out "$tmp/full.gwt" --threads 1 >/dev/null 2>&1
"$genie" distill --num 24 --batch 8 --iters 6 --out "$tmp/killed.gwt" --threads 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ -e "$tmp/killed.gwt" ] && break; sleep 0.05; done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
expect "the killed run kept its finished batches" 0 "." -- ls "$tmp/killed.gwt"
expect "resume finishes the killed run" 0 "images=24" -- \
  "$genie" distill --num 24 --batch 8 --iters 6 --out "$tmp/killed.gwt" --resume --threads 1
expect "the resumed file equals the uninterrupted one" 0 "" -- cmp "$tmp/full.gwt" "$tmp/killed.gwt"
expect "resume refuses other settings" 1 "cannot resume.*seed" -- \
  "$genie" distill --num 24 --batch 8 --iters 6 --seed 3 --out "$tmp/killed.gwt" --resume

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
