#!/usr/bin/env bash
# The run report: `genie run --report` writes a page that headless Chromium renders, not blank,
# with every section and nothing loaded from outside (tests/check_report_page.py); the check
# itself fails on a page that loads an outside image and on an empty page; `genie report`
# rebuilds the same page from the run's files and names a missing one.
# Usage: tests/report.sh path/to/genie
set -u
genie=${1:?usage: tests/report.sh path/to/genie}
check=$(dirname "$0")/check_report_page.py
if ! command -v chromium >/dev/null; then
  echo "report: chromium is missing; make deps installs it" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/expect.sh"

expect "run --report writes the page" 0 "report: .*/page/index.html" -- \
  "$genie" run --budget smoke --limit 500 --out "$tmp/out" --report "$tmp/page"
expect "the page renders, with every section, loading nothing" 0 "" -- \
  python3 "$check" "$tmp/page/index.html"

# The check can fail: an outside image (with the page's Content-Security-Policy taken out, so
# that Chromium really asks for it), and an empty page.
sed -e 's|<meta http-equiv="Content-Security-Policy"[^>]*>||' \
  -e 's|<body>|<body><img src="http://example.com/x.png">|' "$tmp/page/index.html" >"$tmp/outside.html"
expect "the check refuses an outside image" 1 "loaded 'http://example.com/x.png'" -- \
  python3 "$check" "$tmp/outside.html"
: >"$tmp/empty.html"
expect "the check refuses an empty page" 1 "screenshot is blank" -- python3 "$check" "$tmp/empty.html"

expect "report rebuilds the page" 0 "^report=$tmp/again/index.html$" -- \
  "$genie" report "$tmp/out" "$tmp/again"
expect "the rebuilt page is the run's" 0 "" -- cmp "$tmp/page/index.html" "$tmp/again/index.html"
cp -r "$tmp/out" "$tmp/cut"
rm "$tmp/cut/trace/steps.tsv"
expect "report names a missing file" 1 "^genie: .*cut/trace/steps.tsv: missing" -- \
  "$genie" report "$tmp/cut" "$tmp/never"
expect "report on a folder that is no run names run.tsv" 1 "trace/run.tsv: missing" -- \
  "$genie" report "$tmp/page" "$tmp/never"
expect "report needs a folder" 1 "nothere: not a folder" -- "$genie" report "$tmp/nothere" "$tmp/never"
expect "report needs two arguments" 2 "needs OUT_DIR" -- "$genie" report "$tmp/out"

echo "report: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
