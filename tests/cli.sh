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

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
