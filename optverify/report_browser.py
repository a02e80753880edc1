"""Check the HTML report in a real headless browser (Chromium), without any network.

* :func:`check_anchors` — loads ``index.html`` in Chromium (inside a small checker page),
  follows every ``href="#…"`` link of the page, and reports the ones whose target element is
  missing or was not scrolled to;
* :func:`screenshot` — a PNG of the page, or of the page showing one claim only.

``python -m optverify.report_browser REPORT_DIR [--claim ID]`` does both and writes
``REPORT_DIR/screenshots/index.png`` and ``…/<claim ID>.png``; exit 1 when an anchor does not
resolve, 2 when no Chromium is installed (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["check_anchors", "find_chromium", "screenshot"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-extensions",
    "--disable-background-networking",
    "--hide-scrollbars",
)

_CHECKER = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<iframe id="f" src="%(src)s" style="width:1200px;height:900px"></iframe>
<pre id="result">pending</pre>
<script>
const f = document.getElementById('f');
f.addEventListener('load', async () => {
  const doc = f.contentDocument, win = f.contentWindow;
  const ids = [...new Set([...doc.querySelectorAll('a[href^="#"]')]
                 .map(a => decodeURIComponent(a.getAttribute('href').slice(1))))];
  const bad = [];
  for (const id of ids) {
    const el = doc.getElementById(id);
    if (!el) { bad.push([id, 'no element']); continue; }
    win.scrollTo(0, 0);
    win.location.hash = '#' + id;
    await new Promise(r => setTimeout(r, 0));
    const top = el.getBoundingClientRect().top;
    const end = win.scrollY + win.innerHeight >= doc.documentElement.scrollHeight - 2;
    if (Math.abs(top) > 2 && !end) bad.push([id, 'not scrolled to (top ' + top + ')']);
  }
  document.getElementById('result').textContent =
    'RESULT ' + JSON.stringify({checked: ids.length, bad: bad});
});
</script></body></html>"""


def find_chromium() -> str | None:
    """The path of an installed Chromium (or Chrome), or None."""
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: Sequence[str], timeout: float = 120) -> str:
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("no Chromium installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [exe, *_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    return out.stdout


def check_anchors(html: Path) -> tuple[int, list[tuple[str, str]]]:
    """(number of distinct in-page links checked, [(id, what went wrong)])."""
    html = html.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        checker = Path(tmp) / "check.html"
        checker.write_text(_CHECKER % {"src": html.as_uri()}, encoding="utf-8")
        dom = _run(
            [
                "--allow-file-access-from-files",
                "--virtual-time-budget=60000",
                "--dump-dom",
                checker.as_uri(),
            ]
        )
    m = re.search(r"RESULT (\{.*?\})</pre>", dom, re.S)
    if not m:
        raise RuntimeError("the checker page did not finish: " + dom[-300:])
    got = json.loads(m.group(1))
    return int(got["checked"]), [tuple(b) for b in got["bad"]]


def screenshot(html: Path, png: Path, claim: str = "", size: str = "1280,1600") -> Path:
    """Render ``html`` into ``png``; with ``claim``, the page as it shows that one claim.

    Headless Chromium paints a fragment-scrolled page unreliably, so for one claim the same
    page is loaded with a style that keeps only that claim's ``<section>`` visible.
    """
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        page = html.resolve()
        if claim:
            text = html.read_text(encoding="utf-8")
            if f'id="{claim}"' not in text:
                raise ValueError(f"{html} has no claim {claim}")
            only = (
                "<style>body > *:not(main){display:none}"
                f'main > section:not([id="{claim}"]){{display:none}}</style></head>'
            )
            page = Path(tmp) / "claim.html"
            page.write_text(text.replace("</head>", only, 1), encoding="utf-8")
        _run(
            [
                f"--screenshot={png.resolve()}",
                f"--window-size={size}",
                "--virtual-time-budget=15000",
                page.as_uri(),
            ]
        )
    if not png.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot of {html}")
    return png


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optverify.report_browser")
    parser.add_argument("report", type=Path, help="the report directory (holds index.html)")
    parser.add_argument("--claim", default="N000.mom.steady", help="claim to screenshot")
    args = parser.parse_args(argv)
    html = args.report / "index.html"
    if not html.is_file():
        print(f"report_browser: {html}: no such file", file=sys.stderr)
        return 2
    if find_chromium() is None:
        print("report_browser: no Chromium installed (apt-get install chromium)", file=sys.stderr)
        return 2
    shots = args.report / "screenshots"
    for png in (screenshot(html, shots / "index.png"),
                screenshot(html, shots / f"{args.claim}.png", args.claim)):  # fmt: skip
        print(f"wrote {png}")
    checked, bad = check_anchors(html)
    for anchor, why in bad:
        print(f"anchor #{anchor}: {why}", file=sys.stderr)
    print(f"{checked} in-page links checked in Chromium, {len(bad)} unresolved")
    return 1 if bad or checked == 0 else 0


if __name__ == "__main__":
    raise SystemExit(main())
