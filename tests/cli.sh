#!/usr/bin/env bash
# Command-line behaviour of build/genie: usage errors exit 2, bad files exit 1 with the file
# named, and eval prints its key=value line. Usage: tests/cli.sh path/to/genie
set -u
genie=${1:?usage: tests/cli.sh path/to/genie}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/expect.sh"

expect "help lists the subcommands" 0 "eval.*" -- "$genie" --help
expect "no arguments is a usage error" 2 "usage: genie" -- "$genie"
expect "an unknown command is a usage error" 2 "unknown command 'frobnicate'" -- "$genie" frobnicate
expect "an unknown flag is a usage error" 2 "bogus" -- "$genie" eval --bogus
expect "a stray argument is a usage error" 2 "unexpected argument 'extra'" -- "$genie" eval extra
expect "info FILE names a missing file" 1 "extra: cannot open" -- "$genie" info extra
expect "a bad flag value is a usage error" 2 "many.*failed to parse" -- "$genie" eval --batch many
expect "info names the OpenBLAS kernel" 0 "blas_core=" -- "$genie" info --threads 1
expect "info names oneDNN's instruction set" 0 "onednn_isa=" -- "$genie" info --threads 1
expect "info lists the devices" 0 "^device=cpu" -- "$genie" info --threads 1
expect "an unknown device is a usage error" 2 "device must be cpu or cuda, got 'gpu'" -- \
  "$genie" eval --device gpu
if ! "$genie" info | grep -q "^device=cuda [^u]"; then  # no usable GPU: --device cuda says why
  expect "--device cuda without a GPU names the reason" 1 "--device cuda: .*(without the CUDA|no CUDA GPU)" -- \
    "$genie" eval --device cuda --limit 1
  expect "run refuses --device cuda before making its --out folder" 0 "^refused$" -- \
    sh -c "'$genie' run --device cuda --out '$tmp/never' >/dev/null 2>&1; [ \$? -eq 1 ] && [ ! -e '$tmp/never' ] && echo refused"
fi
expect "a missing model file names the file" 1 "$tmp/none.gw" -- "$genie" eval --model "$tmp/none.gw"
printf 'GNIE\x03\x00\x00\x00' >"$tmp/v3.gw"
expect "a wrong format version names the file" 1 "v3.gw.*version" -- "$genie" eval --model "$tmp/v3.gw"
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
expect "an unknown --skip-input names the flag and its values" 2 \
  "--skip-input must be quantized or float, got 'both'" -- \
  "$genie" quantize --calib "$tmp/d.gwt" --skip-input both --out "$tmp/x.gw"
expect "run refuses it too" 2 "--skip-input must be quantized or float" -- \
  "$genie" run --skip-input half --out "$tmp/x"
expect "a quantized file says what its skips read" 0 "skip_input=quantized" -- "$genie" info "$tmp/q.gw"
expect "bench infer times the three engines and ends with their ratio" 0 \
  "^infer arch=resnet20 batch=8 threads=1 float=[0-9.]+ sim=[0-9.]+ int=[0-9.]+ int_vs_float=[0-9.]+$" -- \
  "$genie" bench infer --model "$tmp/q.gw" --batch 8 --iters 3 --threads 1
expect "an unknown distillation method is a usage error" 2 "zeroq" -- \
  "$genie" distill --method gan --out "$tmp/x.gwt"

# Hostile flag values: each a usage error naming the flag and the range it accepts.
range_error() { # FLAG VALUE COMMAND...: the command refuses FLAG VALUE, naming both.
  local flag=$1 value=$2
  shift 2
  expect "$1 --$flag $value is a usage error" 2 "--$flag must be .*, got $value" -- "$genie" "$@" --"$flag" "$value"
}
for value in 0 -3 10000; do range_error threads "$value" info; done
expect "GENIE_THREADS=0 is a usage error" 2 "GENIE_THREADS must be 1..4096" -- env GENIE_THREADS=0 "$genie" info
cores=$(getconf _NPROCESSORS_ONLN)
expect "--threads above the cores is capped at the cores" 0 "^threads=$cores " -- "$genie" info --threads 4096
expect "the cap is said" 0 "4096 threads asked for, $cores used" -- "$genie" info --threads 4096
range_error batch 0 eval
range_error limit -1 eval
range_error num 0 distill --out "$tmp/x.gwt"
range_error num 99999999 distill --out "$tmp/x.gwt"
range_error batch 1 distill --out "$tmp/x.gwt"
range_error iters -1 distill --out "$tmp/x.gwt"
range_error wbits 9 quantize --calib "$tmp/d.gwt" --out "$tmp/x.gw"
range_error abits 1 quantize --calib "$tmp/d.gwt" --out "$tmp/x.gw"
range_error qdrop 1.5 quantize --calib "$tmp/d.gwt" --out "$tmp/x.gw"
range_error round-weight -1 quantize --calib "$tmp/d.gwt" --out "$tmp/x.gw"
range_error iters -5 quantize --calib "$tmp/d.gwt" --out "$tmp/x.gw"
range_error batch -1 quantize --calib "$tmp/d.gwt" --out "$tmp/x.gw"
range_error num 0 quantize --calib "$tmp/d.gwt" --out "$tmp/x.gw"
expect "a NaN --qdrop is a usage error naming the flag" 2 "--qdrop: .*nan.*failed to parse" -- "$genie" quantize --calib "$tmp/d.gwt" --out "$tmp/x.gw" --qdrop nan
expect "a negative --seed is a usage error naming the flag" 2 "--seed: .*-1.*failed to parse" -- \
  "$genie" distill --out "$tmp/x.gwt" --seed=-1
range_error epochs 0 train --out "$tmp/x.gw"
range_error lr -1 train --out "$tmp/x.gw"
range_error weight-decay 2 train --out "$tmp/x.gw"
range_error batch 0 train --out "$tmp/x.gw"
expect "an unknown --arch is a usage error" 2 "unknown arch 'resnet99'" -- "$genie" train --arch resnet99 --out "$tmp/x.gw"
range_error wbits 1 run --out "$tmp/run"
range_error limit -1 run --out "$tmp/run"
expect "a --budget typo is a usage error" 2 "--budget must be smoke, demo or paper, got 'smok'" -- "$genie" run --budget smok
range_error batch 1 bench recon
range_error channels 0 bench recon
range_error size 2 bench recon
expect "an unknown bench --arch is a usage error" 2 "unknown arch 'foo'" -- "$genie" bench recon --arch foo

# Outputs are checked before any work (timeout: a late check would first run the whole job), and
# an output never overwrites an input, by the same path, a link or a hard link.
late() { timeout 20 "$genie" "$@"; }
expect "a missing --out folder is found first" 1 "nodir/x.gwt: the folder of --out does not exist" -- \
  late distill --out "$tmp/nodir/x.gwt"
expect "a missing --png folder is found first" 1 "nodir/s.png: the folder of --png does not exist" -- \
  late distill --out "$tmp/x.gwt" --png "$tmp/nodir/s.png"
expect "a file as the --out folder is found first" 1 "the folder of --out does not exist" -- \
  late quantize --calib "$tmp/d.gwt" --out "$tmp/d.gwt/q.gw"
expect "a folder as --out is refused" 1 "is a folder" -- late quantize --calib "$tmp/d.gwt" --out "$tmp"
expect "run's --out folder must be possible" 1 "cannot make the --out folder" -- late run --out "$tmp/d.gwt/run"
cp data/default.gw "$tmp/m.gw"
cp "$tmp/d.gwt" "$tmp/d_before.gwt"
ln -s "$tmp/d.gwt" "$tmp/link.gwt"
ln "$tmp/d.gwt" "$tmp/hard.gwt"
for same in d.gwt link.gwt hard.gwt; do
  expect "quantize --out $same may not be --calib" 2 "--out '.*$same' is the same file as --calib" -- \
    late quantize --calib "$tmp/d.gwt" --out "$tmp/$same"
done
expect "quantize --out may not be --model" 2 "same file as --model" -- \
  late quantize --model "$tmp/m.gw" --calib "$tmp/d.gwt" --out "$tmp/./m.gw"
expect "distill --out may not be --model" 2 "--out '.*m.gw' is the same file as --model" -- \
  late distill --model "$tmp/m.gw" --out "$tmp/m.gw"
expect "distill --png may not be --out" 2 "--png .* is the same file as --out" -- \
  late distill --out "$tmp/x.gwt" --png "$tmp/x.gwt"
expect "train's checkpoint may not be --data" 2 "checkpoint '.*t.gw.ckpt' is the same file as --data" -- \
  late train --data "fashion-mnist:$tmp/t.gw.ckpt" --out "$tmp/t.gw"
expect "run's files may not be --model" 2 "--out '.*run/fp32.gw' is the same file as --model" -- \
  late run --model "$tmp/run/fp32.gw" --out "$tmp/run"
expect "the refused inputs are intact" 0 "" -- sh -c "cmp data/default.gw '$tmp/m.gw' && cmp '$tmp/d_before.gwt' '$tmp/d.gwt'"

# The benchmark's three steps, each in the format tools/bench.sh reads.
expect "bench needs a mode" 2 "distill, recon, train or infer" -- "$genie" bench --threads 1
expect "an unknown bench mode is a usage error naming the modes" 2 "distill, recon, train or infer" -- \
  "$genie" bench frobnicate --threads 1
# Enough iterations that the timed work (0.1-0.3 s) outweighs a loaded machine's noise: bench
# refuses a time that its setup's noise swamps, and once did here with --iters 1 under three
# parallel builds.
expect "bench times a training step" 0 "^train arch=resnet20 batch=8 .*sec_per_iter=[0-9.]+ .*peak_rss_mb=[0-9.]+" -- \
  "$genie" bench train --iters 10 --batch 8 --threads 1
for mode in distill recon; do
  expect "bench times a $mode iteration" 0 "^$mode arch=resnet20 batch=16 device=cpu threads=1 sec_per_iter=[0-9.]+ .*peak_rss_mb=" -- \
    "$genie" bench "$mode" --batch 16 --iters 20 --channels 1 --size 16 --threads 1
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

# Sharded distillation: two shards as separate processes, merged in either order, are the bytes
# of a single run; an incomplete, mixed or overlapping set of parts is refused by name.
d_flags=(--num 24 --batch 8 --iters 3 --threads 1)
"$genie" distill "${d_flags[@]}" --out "$tmp/single.gwt" >/dev/null 2>&1
"$genie" distill "${d_flags[@]}" --shard 0/2 --out "$tmp/part0.gwt" >/dev/null 2>&1 &
pid0=$!
"$genie" distill "${d_flags[@]}" --shard 1/2 --out "$tmp/part1.gwt" >/dev/null 2>&1 &
pid1=$!
wait "$pid0" "$pid1"
expect "a shard holds its share of the batches" 0 "^  shard=1/2$" -- "$genie" info "$tmp/part1.gwt"
expect "merge joins the shards" 0 "^merged=.* parts=2 batches=3 images=24$" -- \
  "$genie" merge "$tmp/merged.gwt" "$tmp/part0.gwt" "$tmp/part1.gwt"
expect "the merged file equals the single run" 0 "" -- cmp "$tmp/single.gwt" "$tmp/merged.gwt"
expect "merge takes the parts in any order" 0 "images=24" -- \
  "$genie" merge "$tmp/reversed.gwt" "$tmp/part1.gwt" "$tmp/part0.gwt"
expect "the merge of reversed parts equals the single run" 0 "" -- \
  cmp "$tmp/single.gwt" "$tmp/reversed.gwt"
expect "--shard 0/1 is a single run" 0 "" -- sh -c \
  "'$genie' distill ${d_flags[*]} --shard 0/1 --out '$tmp/whole.gwt' >/dev/null 2>&1 && cmp '$tmp/single.gwt' '$tmp/whole.gwt'"
expect "a missing shard is named" 1 "shard 1/2 is missing" -- \
  "$genie" merge "$tmp/x.gwt" "$tmp/part0.gwt"
expect "a shard given twice is refused" 1 "part0.gwt: shard 0/2 is given twice" -- \
  "$genie" merge "$tmp/x.gwt" "$tmp/part0.gwt" "$tmp/part0.gwt" "$tmp/part1.gwt"
"$genie" distill "${d_flags[@]}" --seed 5 --shard 1/2 --out "$tmp/seed5.gwt" >/dev/null 2>&1
expect "a part of another seed is refused, naming both values" 1 \
  "seed5.gwt: made with seed=5, .*part0.gwt with seed=0" -- \
  "$genie" merge "$tmp/x.gwt" "$tmp/part0.gwt" "$tmp/seed5.gwt"
expect "the refused merges wrote nothing" 0 "^none$" -- sh -c "[ ! -e '$tmp/x.gwt' ] && echo none"
expect "merge may not overwrite a part" 2 "is the same file as part" -- \
  "$genie" merge "$tmp/part1.gwt" "$tmp/part0.gwt" "$tmp/part1.gwt"
for bad in 2/2 0/0 1 -1/2 1/x; do
  expect "--shard $bad is a usage error" 2 "--shard must be i/n with 0 <= i < n, got '$bad'" -- \
    "$genie" distill "${d_flags[@]}" --shard "$bad" --out "$tmp/x.gwt"
done
expect "more shards than batches is a usage error" 2 "--shard 0/4: the run has only 3 batches" -- \
  "$genie" distill "${d_flags[@]}" --shard 0/4 --out "$tmp/x.gwt"
# A shard killed after its first batch is refused by merge until --resume finishes it.
"$genie" distill "${d_flags[@]}" --iters 40 --out "$tmp/single40.gwt" >/dev/null 2>&1
"$genie" distill "${d_flags[@]}" --iters 40 --shard 1/2 --out "$tmp/done40.gwt" >/dev/null 2>&1
"$genie" distill "${d_flags[@]}" --iters 40 --shard 0/2 --out "$tmp/cut40.gwt" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ -e "$tmp/cut40.gwt" ] && break; sleep 0.05; done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
expect "a killed shard is refused, with its batches" 1 "cut40.gwt: shard 0/2 is incomplete: 1 of its 2 batches" -- \
  "$genie" merge "$tmp/x.gwt" "$tmp/cut40.gwt" "$tmp/done40.gwt"
expect "a shard resumes only as the same shard" 1 "cannot resume: it was made with shard=0/2, this run has shard=\(none\)" -- \
  "$genie" distill "${d_flags[@]}" --iters 40 --out "$tmp/cut40.gwt" --resume
expect "the killed shard resumes" 0 "images=16" -- \
  "$genie" distill "${d_flags[@]}" --iters 40 --shard 0/2 --out "$tmp/cut40.gwt" --resume
expect "its merge equals the single run" 0 "" -- sh -c \
  "'$genie' merge '$tmp/m40.gwt' '$tmp/done40.gwt' '$tmp/cut40.gwt' >/dev/null && cmp '$tmp/single40.gwt' '$tmp/m40.gwt'"

# A quantization killed with SIGKILL resumes from its last finished unit to the same bytes: once
# just after the first unit's checkpoint, once after the sixth, each plus a random delay.
# The second with the float skip, which the file then records and eval reads back.
q_flags=(--calib "$tmp/d.gwt" --iters 40 --threads 1)
"$genie" quantize "${q_flags[@]}" --out "$tmp/qfull1.gw" >/dev/null 2>&1
"$genie" quantize "${q_flags[@]}" --skip-input float --out "$tmp/qfull6.gw" >/dev/null 2>&1
expect "a float-skip file says so" 0 "skip_input=float" -- "$genie" info "$tmp/qfull6.gw"
expect "the skip setting changes the result" 1 "differ" -- cmp "$tmp/qfull1.gw" "$tmp/qfull6.gw"
for after in 1 6; do
  out="$tmp/qkill$after.gw"
  skip=$([ "$after" = 6 ] && echo float || echo quantized)
  "$genie" quantize "${q_flags[@]}" --skip-input "$skip" --out "$out" >/dev/null 2>"$tmp/qkill$after.log" &
  pid=$!
  for _ in $(seq 1200); do grep -qa "unit $after/11 done" "$tmp/qkill$after.log" && break; sleep 0.05; done
  sleep "0.$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  expect "a quantization killed after unit $after left its state" 0 "." -- ls "$out.state"
  expect "resume goes on after unit $after or later" 0 "resuming .*unit ([2-9]|1[01])" -- \
    "$genie" quantize "${q_flags[@]}" --skip-input "$skip" --out "$out" --resume
  expect "the resumed quantization (killed after unit $after) equals the uninterrupted one" 0 "" -- \
    cmp "$tmp/qfull$after.gw" "$out"
  expect "a finished quantization removes its state" 0 "^removed$" -- \
    sh -c "[ ! -e '$out.state' ] && echo removed"
done
"$genie" quantize "${q_flags[@]}" --out "$tmp/qother.gw" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1200); do [ -e "$tmp/qother.gw.state" ] && break; sleep 0.05; done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
expect "quantize --resume refuses other settings, naming them" 1 "cannot resume: .*wbits=4, this run has wbits=3" -- \
  "$genie" quantize "${q_flags[@]}" --wbits 3 --out "$tmp/qother.gw" --resume
expect "quantize --resume refuses another skip input" 1 "skip_input=quantized, this run has skip_input=float" -- \
  "$genie" quantize "${q_flags[@]}" --skip-input float --out "$tmp/qother.gw" --resume

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
