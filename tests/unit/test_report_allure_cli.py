"""ensure_allure's search order and its errors, without installing anything."""

from __future__ import annotations

import pytest

from drillkit.errors import LabError
from drillkit.report import allure_cli


def test_env_override_wins(tmp_path, monkeypatch):
    binary = tmp_path / "allure"
    binary.write_text("#!/bin/sh\necho 2.30.0\n")
    monkeypatch.setenv("DRILLKIT_ALLURE", str(binary))
    assert allure_cli.ensure_allure(tmp_path / "cache") == binary


def test_env_override_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("DRILLKIT_ALLURE", str(tmp_path / "nope"))
    with pytest.raises(LabError, match="DRILLKIT_ALLURE"):
        allure_cli.ensure_allure(tmp_path / "cache")


def test_cached_install_is_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("DRILLKIT_ALLURE", raising=False)
    monkeypatch.setattr(allure_cli, "_java_major", lambda: 17)
    cached = tmp_path / "allure/node_modules/allure-commandline/dist/bin/allure"
    cached.parent.mkdir(parents=True)
    cached.write_text("")
    assert allure_cli.ensure_allure(tmp_path) == cached


def test_missing_java_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("DRILLKIT_ALLURE", raising=False)
    monkeypatch.setattr(allure_cli.shutil, "which", lambda name: None)
    with pytest.raises(LabError, match="default-jre-headless"):
        allure_cli.ensure_allure(tmp_path, progress=lambda _: None)


def test_old_allure_on_path_is_ignored(tmp_path, monkeypatch):
    monkeypatch.delenv("DRILLKIT_ALLURE", raising=False)
    old = tmp_path / "bin" / "allure"
    old.parent.mkdir()
    old.write_text("#!/bin/sh\necho 3.0.0\n")
    old.chmod(0o755)
    monkeypatch.setattr(allure_cli.shutil, "which",
                        lambda name: str(old) if name == "allure" else None)
    said = []
    with pytest.raises(LabError, match="Java"):  # falls through to installing, which needs java
        allure_cli.ensure_allure(tmp_path / "cache", progress=said.append)
    assert "needs Allure 2" in said[0]


def test_generate_report_needs_results(tmp_path):
    with pytest.raises(LabError, match="no allure results"):
        allure_cli.generate_report(tmp_path / "missing", tmp_path / "report", allure=tmp_path / "x")
