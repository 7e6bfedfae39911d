# The CLI test scripts' one check, sourced by tests/cli.sh and tests/report.sh: it counts into
# `passed` and `failed`, which the script reports at its end.
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
