"""Find or install the Allure 2 command line and build the HTML report from an allure-results folder.

Allure 2 comes from npm ``allure-commandline`` (the whole Java distribution, needs Java ≥ 8). It is
installed once into ``<cache_dir>/allure`` and reused. Trends work by copying the previous report's
``history/`` into the next results folder before generating.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from drillkit.errors import LabError

__all__ = ["ensure_allure", "generate_report", "allure_version"]

ALLURE_PACKAGE = "allure-commandline@2"
_BIN_IN_CACHE = Path("allure/node_modules/allure-commandline/dist/bin/allure")
_TAIL_LINES = 20


def _tail(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _env() -> dict[str, str]:
    return {**os.environ, "ALLURE_NO_ANALYTICS": "1"}


def allure_version(binary: str | os.PathLike) -> str | None:
    """The version an ``allure`` binary reports (``"2.34.1"``), or None if it does not run."""
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                             timeout=60, env=_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    match = re.search(r"\d+\.\d+(\.\d+)?", out.stdout + out.stderr)
    return match.group(0) if match else None


def _java_major() -> int | None:
    """Java's major version (8, 11, 17, …) from ``java -version``, or None if there is no java."""
    java = shutil.which("java")
    if java is None:
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return minor if major == 1 else major  # "1.8.0_392" is Java 8


def _require_java() -> None:
    major = _java_major()
    if major is None:
        raise LabError("Allure 2 needs Java ≥ 8, but `java -version` does not answer",
                       fix="install a Java runtime, e.g. `apt-get install default-jre-headless`")
    if major < 8:
        raise LabError(f"Allure 2 needs Java ≥ 8, found Java {major}",
                       fix="install a newer Java runtime, e.g. `apt-get install default-jre-headless`")


def ensure_allure(cache_dir: Path = Path(".cache"), progress: Callable[[str], None] = print) -> Path:
    """Path of an Allure 2 command line: ``$DRILLKIT_ALLURE``, the cached npm install, ``allure`` on
    PATH if it is 2.x — or install ``allure-commandline@2`` into ``cache_dir/allure`` with npm."""
    override = os.environ.get("DRILLKIT_ALLURE")
    if override:
        path = Path(override)
        if not path.is_file():
            raise LabError(f"DRILLKIT_ALLURE points to {override}, which is not a file",
                           fix="point it at an Allure 2 `allure` binary or unset it")
        return path

    cached = Path(cache_dir) / _BIN_IN_CACHE
    if cached.is_file():
        _require_java()
        return cached

    on_path = shutil.which("allure")
    if on_path:
        version = allure_version(on_path)
        if version and version.startswith("2."):
            return Path(on_path)
        progress(f"ignoring `allure` on PATH ({on_path}, version {version or 'unknown'}): "
                 "drillkit needs Allure 2")

    _require_java()
    npm = shutil.which("npm")
    if npm is None:
        raise LabError("cannot install Allure 2: npm is not on PATH",
                       fix="install Node.js with npm (e.g. `apt-get install nodejs npm`) or set "
                           "DRILLKIT_ALLURE to an Allure 2 binary")
    prefix = Path(cache_dir) / "allure"
    prefix.mkdir(parents=True, exist_ok=True)
    progress(f"installing {ALLURE_PACKAGE} into {prefix} (once) …")
    started = time.monotonic()
    try:
        out = subprocess.run([npm, "install", "--prefix", str(prefix), ALLURE_PACKAGE,
                              "--no-audit", "--no-fund"],
                             capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"`npm install {ALLURE_PACKAGE}` did not finish in {exc.timeout:.0f} s",
                       fix="check access to the npm registry, or set DRILLKIT_ALLURE") from None
    if out.returncode != 0 or not cached.is_file():
        raise LabError(f"`npm install {ALLURE_PACKAGE}` failed (exit {out.returncode}):\n"
                       f"{_tail(out.stdout + out.stderr)}",
                       fix="check access to the npm registry, or set DRILLKIT_ALLURE to an "
                           "Allure 2 binary")
    cached.chmod(cached.stat().st_mode | 0o111)
    progress(f"installed Allure 2 in {time.monotonic() - started:.0f} s: {cached}")
    return cached


def generate_report(results_dir: Path, report_dir: Path, *,
                    progress: Callable[[str], None] = print,
                    allure: Path | None = None) -> Path:
    """Build the Allure 2 HTML report from ``results_dir`` into ``report_dir`` (replaced), carrying the
    previous report's ``history/`` over so the trend charts grow. Returns ``report_dir/index.html``."""
    results_dir, report_dir = Path(results_dir), Path(report_dir)
    if not results_dir.is_dir():
        raise LabError(f"no allure results at {results_dir}",
                       fix="run pytest with --alluredir pointing there first")
    binary = allure or ensure_allure(progress=progress)

    previous_history = report_dir / "history"
    if previous_history.is_dir():
        shutil.copytree(previous_history, results_dir / "history", dirs_exist_ok=True)

    progress(f"generating Allure report {report_dir} …")
    try:
        out = subprocess.run([str(binary), "generate", "-c", str(results_dir), "-o", str(report_dir)],
                             capture_output=True, text=True, timeout=600, env=_env())
    except OSError as exc:
        raise LabError(f"cannot run Allure at {binary}: {exc}",
                       fix="delete the cached install to reinstall it, or set DRILLKIT_ALLURE") from None
    except subprocess.TimeoutExpired:
        raise LabError("`allure generate` did not finish in 600 s",
                       fix="check the results folder size and Java memory (JAVA_OPTS)") from None
    index = report_dir / "index.html"
    if out.returncode != 0 or not index.is_file():
        raise LabError(f"`allure generate` failed (exit {out.returncode}):\n"
                       f"{_tail(out.stdout + out.stderr)}",
                       fix="see the output above; a broken results file can be removed from "
                           f"{results_dir}")
    return index
