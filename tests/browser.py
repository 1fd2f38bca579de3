"""Open an HTML file in headless Chromium (Debian's ``chromium``), as a user would.

:func:`open_page` loads a copy of the page with a small probe script added (its
hash allowed by the page's own Content-Security-Policy, which is kept) that
records, once the page has loaded, every image's natural size and place on the
page and every error: script errors, resources that failed to load and CSP
violations (anything the page tried to fetch from elsewhere). Chromium prints the
DOM with the probe's record (``--dump-dom``); a second run, in a window of the same
size, takes a screenshot of the original page, so :func:`image_contrast` can tell
whether the images on it are really drawn.

Without ``chromium`` the calling test is skipped, except under ``CI=true``, where
it fails (``.ci/run`` installs it).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageStat

_PROBE = """
window.__errors = [];
addEventListener("error", (e) => __errors.push(e.message ||
  ("failed to load " + (e.target.src || e.target.href || e.target.tagName)).slice(0, 120)), true);
addEventListener("securitypolicyviolation", (e) =>
  __errors.push("CSP blocked " + e.blockedURI + " (" + e.violatedDirective + ")"));
addEventListener("load", () => {
  const images = Array.from(document.images).map((i) => {
    const r = i.getBoundingClientRect();
    return {alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
            box: [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY]};
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: images, errors: __errors});
  document.body.appendChild(out);
});
"""
#: Grey-level deviation above which an image on a screenshot is drawn (a blank one: about 0).
DRAWN = 10
#: Chromium's window (CSS pixels) for both runs: the layout, and the screenshot's size.
WINDOW = (1280, 2400)
_PROBE_RE = re.compile(r'<pre id="probe">(.*?)</pre>', re.DOTALL)
_CSP_RE = re.compile(r'(<meta http-equiv="Content-Security-Policy" content=")([^"]*)(")')


@dataclass(frozen=True)
class PageLoad:
    """What Chromium saw.

    Attributes:
        images: Each ``<img>``: ``alt``, ``complete``, natural ``width`` and ``height``,
            and its ``box`` on the page (left, top, right, bottom in CSS pixels).
        errors: Script errors, failed loads and CSP violations, in order.
        screenshot: PNG of the page's first screen (:data:`WINDOW`).
    """

    images: list[dict]
    errors: list[str]
    screenshot: Path


def chromium() -> str:
    """Path of the ``chromium`` binary; skip the test without it, fail under CI=true."""
    path = shutil.which("chromium")
    if path is None:
        message = "chromium not on PATH (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(args: list[str], workdir: Path) -> str:
    profile = workdir / "chromium-profile"
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _with_probe(page: str) -> str:
    """The page with the probe before ``</head>``, its hash added to the page's CSP."""
    digest = base64.b64encode(hashlib.sha256(_PROBE.encode()).digest()).decode()
    page, found = _CSP_RE.subn(
        lambda m: f"{m.group(1)}{m.group(2)}; script-src 'sha256-{digest}'{m.group(3)}", page
    )
    assert found == 1, "the page has no Content-Security-Policy meta tag"
    return page.replace("</head>", f"<script>{_PROBE}</script></head>", 1)


def open_page(path: Path, workdir: Path) -> PageLoad:
    """Load ``path`` in headless Chromium; return its images, errors and a screenshot."""
    probed = workdir / f"probed-{path.name}"
    probed.write_text(_with_probe(path.read_text(encoding="utf-8")), encoding="utf-8")
    window = f"--window-size={WINDOW[0]},{WINDOW[1]}"
    dom = _run([window, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()], workdir)
    found = _PROBE_RE.search(dom)
    assert found, f"the probe did not run; DOM tail: {dom[-500:]}"
    record = json.loads(html.unescape(found.group(1)))
    screenshot = workdir / "screenshot.png"
    _run([window, f"--screenshot={screenshot}", path.as_uri()], workdir)
    return PageLoad(record["images"], record["errors"], screenshot)


def image_contrast(load: PageLoad) -> dict[str, float]:
    """How much each image on the screenshot varies: its region's grey-level deviation.

    A drawn plot (axes, marks, labels) deviates by tens of grey levels; a blank or
    one-colour image by about 0.

    Returns:
        ``alt`` -> standard deviation of the grey levels of its region, for every
        image wholly on the screenshot.
    """
    with Image.open(load.screenshot) as shot:
        grey = shot.convert("L")
        result = {}
        for image in load.images:
            left, top, right, bottom = (round(v) for v in image["box"])
            if right - left > 1 and bottom - top > 1 and bottom <= grey.height:
                region = grey.crop((left, top, right, bottom))
                result[image["alt"]] = ImageStat.Stat(region).stddev[0]
    return result
