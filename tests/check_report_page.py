#!/usr/bin/env python3
"""Checks a run report page (genie/report_page.h) in headless Chromium: it renders to a
screenshot that is not one colour, its rendered DOM holds every section, and it loads nothing
from outside (no src/href/url() but data: or #, and Chromium's network log shows no request
made for the page other than file: and data: URLs). Prints one line per failure and exits 1.

Usage: tests/check_report_page.py PAGE.html  (Python standard library only)
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND"]
SECTIONS = ["result-table", "images", "distillation", "units", "layers"]
MIN_PLOTS = 4      # the BN loss, a unit, the step scatter, a histogram
MIN_IMAGES = 40    # distilled and real, a few dozen each


def chromium(page, tmp, *flags):
    profile = tempfile.mkdtemp(dir=tmp)  # a fresh profile: nothing cached from another page
    run = subprocess.run(CHROMIUM + ["--user-data-dir=" + profile, *flags, "file://" + page],
                         capture_output=True, text=True, timeout=90)
    return run.stdout


def png_values(path):
    """The distinct byte values of the decompressed image data: 1 to 3 for a blank image."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return set()
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return set(zlib.decompress(idat))


def page_requests(net_log):
    """URLs Chromium fetched on behalf of a page (its own update checks have no origin)."""
    log = json.load(open(net_log))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    params = [e.get("params", {}) for e in log["events"] if e["type"] == start]
    return {p["url"] for p in params if "url" in p and p.get("initiator") != "not an origin"}


def check(page):
    problems = []
    html = open(page, encoding="utf-8", errors="replace").read()
    for ref in re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)|url\(\s*["']?([^"')]*)""", html):
        target = ref[0] or ref[1]
        if not (target.startswith("data:") or target.startswith("#")):
            problems.append(f"the page refers to '{target[:80]}' (only data: and # are allowed)")
    with tempfile.TemporaryDirectory() as tmp:
        shot, net_log = os.path.join(tmp, "shot.png"), os.path.join(tmp, "net.json")
        chromium(page, tmp, "--screenshot=" + shot, "--window-size=1400,3000")
        if not os.path.exists(shot):
            problems.append("Chromium made no screenshot")
        elif len(png_values(shot)) < 16:
            problems.append("the screenshot is blank (one colour)")
        dom = chromium(page, tmp, "--dump-dom", "--log-net-log=" + net_log)
        for url in sorted(page_requests(net_log)):
            if not url.startswith(("file:", "data:")):
                problems.append(f"the page loaded '{url[:80]}'")
    for section in SECTIONS:
        if f'id="{section}"' not in dom:
            problems.append(f"the rendered page has no '{section}' section")
    plots = dom.count('<svg class="plot"')
    if plots < MIN_PLOTS:
        problems.append(f"the rendered page has {plots} plots, expected at least {MIN_PLOTS}")
    images = len(re.findall(r'<img[^>]*src="data:image/png;base64,', dom))
    if images < MIN_IMAGES:
        problems.append(f"the rendered page has {images} PNG images, expected at least {MIN_IMAGES}")
    if not re.search(r"<td>genie</td>.*W\dA\d", dom):
        problems.append("the rendered page has no result row for genie")
    return problems


def main():
    problems = check(os.path.abspath(sys.argv[1]))
    for p in problems:
        print(f"{sys.argv[1]}: {p}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
