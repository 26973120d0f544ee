"""Headless Chromium for the reports: the management page printed to PDF, a screenshot of it, and its
DOM as the browser built it (what the tests check: figures present, charts drawn).

Debian's ``chromium`` (``apt-get install chromium``; ``scripts/bootstrap.sh report`` installs it when
missing). It runs as root here, so without its sandbox, and with its background networking off: on a
closed network Chromium's own connections are refused many at a time and slow every start. Each call
gets a fresh, empty profile that is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from drillkit.errors import LabError

__all__ = ["find_chromium", "print_pdf", "screenshot", "dump_dom", "content_height", "one_page_zoom",
           "CHROMIUM_FLAGS"]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio"]
_FIX = "install Debian's chromium (`apt-get install chromium`, or scripts/bootstrap.sh report), " \
       "or set DRILLKIT_CHROMIUM to a Chromium binary"


def find_chromium() -> str | None:
    """``$DRILLKIT_CHROMIUM``, else chromium / chromium-browser / google-chrome on PATH, else None."""
    override = os.environ.get("DRILLKIT_CHROMIUM")
    if override:
        return override if Path(override).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(args: list[str], *, timeout: float = 120.0) -> subprocess.CompletedProcess:
    binary = find_chromium()
    if binary is None:
        raise LabError("headless Chromium is not installed", fix=_FIX)
    with tempfile.TemporaryDirectory(prefix="drillkit-chromium-") as profile:
        cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                 env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired:
            raise LabError(f"headless Chromium did not finish in {timeout:.0f} s",
                           fix="check that Chromium starts: chromium --headless --no-sandbox --dump-dom about:blank") from None
        except OSError as exc:
            raise LabError(f"cannot start Chromium at {binary}: {exc}", fix=_FIX) from None
    if out.returncode != 0:
        last = " | ".join(l for l in out.stderr.strip().splitlines()[-3:] if l.strip())
        raise LabError(f"headless Chromium failed (exit {out.returncode}): {last[-300:]}", fix=_FIX)
    return out


def _url(page: Path) -> str:
    return Path(page).resolve().as_uri()


# A4 with the page's 9 mm / 10 mm margins, in CSS pixels (96 per inch): what one printed page holds
A4_WIDTH_PX, A4_HEIGHT_PX = 718, 1040


def _with_style(page: Path, css: str) -> Path:
    """A copy of ``page`` beside it (relative links keep working) with ``css`` added last."""
    text = Path(page).read_text(encoding="utf-8")
    copy = Path(page).with_name(f".{Path(page).stem}.{os.getpid()}.html")
    copy.write_text(text.replace("</head>", f"<style>{css}</style></head>", 1), encoding="utf-8")
    return copy


def content_height(page: Path, width: int, *, timeout: float = 120.0) -> int:
    """How tall ``page`` is, in CSS pixels, laid out ``width`` pixels wide as print lays it out (the
    last row of the screenshot that is not blank)."""
    from PIL import Image  # deferred: Pillow, only to measure a printed page
    copy = _with_style(page, "main { max-width: none !important; padding: 0 !important; zoom: 1 !important; }")
    try:
        with tempfile.TemporaryDirectory(prefix="drillkit-measure-") as tmp:
            png = screenshot(copy, Path(tmp) / "m.png", width=width, height=6000, timeout=timeout)
            with Image.open(png) as img:
                grey = img.convert("L")
                bbox = grey.point(lambda v: 255 if v < 250 else 0).getbbox()
    finally:
        copy.unlink(missing_ok=True)
    return bbox[3] if bbox else 0


def one_page_zoom(page: Path, *, steps: int = 3, timeout: float = 120.0) -> float:
    """The zoom at which ``page`` prints on one A4 page: 1 when it fits. Shrinking widens the layout
    (fewer wrapped lines), so the page is measured again at the width each zoom gives: the zoom that
    fits at the narrow width is the floor, the one computed from the wide layout the ceiling, and a
    few halvings between them find the largest that fits."""
    def fits(zoom: float) -> tuple[bool, int]:
        height = content_height(page, int(A4_WIDTH_PX / zoom), timeout=timeout)
        return height * zoom <= A4_HEIGHT_PX, height

    ok, height = fits(1.0)
    if ok:
        return 1.0
    low = A4_HEIGHT_PX / height                       # fits: the layout only gets shorter when wider
    ok, wide = fits(low)
    high = min(1.0, A4_HEIGHT_PX / max(wide, 1))      # at best: the wide layout's height
    for _ in range(steps):
        if high - low < 0.01:
            break
        mid = (low + high) / 2
        if fits(mid)[0]:
            low = mid
        else:
            high = mid
    return round(low, 3)


def print_pdf(page: Path, pdf: Path, *, one_page: bool = False, timeout: float = 120.0) -> Path:
    """Print ``page`` (an HTML file) to ``pdf`` as a browser's print would (A4 from the page's CSS);
    ``one_page``: shrink it until it fits on one page."""
    pdf = Path(pdf)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    if pdf.exists():
        pdf.unlink()
    source = Path(page)
    if one_page:
        zoom = one_page_zoom(page, timeout=timeout)
        source = _with_style(page, f"@media print {{ main {{ zoom: {zoom} !important; }} }}")
    try:
        _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf.resolve()}", _url(source)], timeout=timeout)
    finally:
        if source != Path(page):
            source.unlink(missing_ok=True)
    if not pdf.is_file() or pdf.stat().st_size == 0:
        raise LabError(f"Chromium wrote no PDF to {pdf}", fix=_FIX)
    return pdf


def screenshot(page: Path, png: Path, *, width: int = 1280, height: int = 1800, timeout: float = 120.0) -> Path:
    """A PNG of ``page`` as a ``width`` × ``height`` browser window shows it."""
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    if png.exists():
        png.unlink()
    _run([f"--screenshot={png.resolve()}", f"--window-size={width},{height}", _url(page)], timeout=timeout)
    if not png.is_file():
        raise LabError(f"Chromium wrote no screenshot to {png}", fix=_FIX)
    return png


def dump_dom(page: Path, *, timeout: float = 120.0) -> str:
    """The page's DOM after the browser loaded it, as HTML text."""
    return _run(["--dump-dom", _url(page)], timeout=timeout).stdout
