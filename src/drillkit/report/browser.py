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

__all__ = ["find_chromium", "print_pdf", "screenshot", "dump_dom", "CHROMIUM_FLAGS"]

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


def print_pdf(page: Path, pdf: Path, *, timeout: float = 120.0) -> Path:
    """Print ``page`` (an HTML file) to ``pdf`` as a browser's print would (A4 from the page's CSS)."""
    pdf = Path(pdf)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    if pdf.exists():
        pdf.unlink()
    _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf.resolve()}", _url(page)], timeout=timeout)
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
