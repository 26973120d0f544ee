"""The management page: its content from summary.json and history.jsonl, and the page as headless
Chromium builds it (figures present, charts drawn) — not its pixels."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import management_data as data  # noqa: E402

from drillkit.report.browser import dump_dom, find_chromium, print_pdf  # noqa: E402
from drillkit.report.management import (  # noqa: E402
    DASH,
    build_page,
    changes,
    read_history,
    svg_line_chart,
    trend_runs,
    write_management_page,
)


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_scorecard_figures_targets_and_dashes():
    text = text_of(build_page(data.summary(), data.history()))
    assert "1 of 4 drills found a problem that users would feel: registry node kill" in text
    assert "2.4 s target ≤ 3 s" in text                  # recovery against its target
    assert "logged-in users 97.2 %" in text and "citizens 99.3 %" in text
    assert "sessions lost: 5 of 20 (expected 0)" in text   # the verdict sentence, not a traceback
    # the zone outage measured no writes: a dash, never 0; all-down measured no recovery: a dash
    zone_row = re.search(r"registry zone outage.*?</tr>", build_page(data.summary(), data.history()), re.S)[0]
    assert text_of(zone_row).split()[-1] == DASH or DASH in text_of(zone_row)
    assert "0 %" not in text_of(zone_row) and "100 %" not in text_of(zone_row).replace("98.6 %", "")


def test_a_none_with_a_reason_says_the_reason_and_headlines_lead():
    page = build_page(data.summary(), data.history())
    zone_row = text_of(re.search(r"<b>registry zone outage</b>.*?</tr>", page, re.S)[0])
    assert "no outage seen" in zone_row
    summary = data.summary()
    summary["drills"][3]["figures"]["headlines"] = ["2 acknowledged bookings lost while users saw no error"]
    summary["drills"][3]["figures"]["notes"]["sessions_lost"] = "no sessions in this drill"
    row = text_of(re.search(r"<b>booking instance kill</b>.*?</tr>", build_page(summary, data.history()), re.S)[0])
    assert "2 acknowledged bookings lost while users saw no error" in row and "no sessions in this drill" in row


def test_changes_name_what_turned_red_and_green():
    found, previous = changes(data.history())
    assert previous == data.DATES[1]
    by = {c["drill"]: (c["before"], c["now"]) for c in found}
    assert by == {data.NODE_KILL: ("passed", "failed"), data.BOOKING: ("failed", "passed")}
    text = text_of(build_page(data.summary(), data.history()))
    assert "turned red registry node kill held on 11.03. 06:00, now it found a problem" in text
    assert "turned green booking instance kill found a problem on 11.03. 06:00, now it held" in text


def test_first_run_has_nothing_to_compare_and_no_results_is_said_plainly():
    first = [e for e in data.history() if e["date"] == data.DATES[0]]
    assert "first recorded run" in text_of(build_page(data.summary(), first))
    assert "No drill results yet" in text_of(build_page(None, []))


def test_criterion_11_record():
    text = text_of(build_page(data.summary(), data.history()))
    assert "criterion 11" in text
    assert "Users shown the disruption notice when the service was down ≥ 95% 100 % yes" in text
    assert "not drilled for this service" in text            # booking has no all-down drill
    assert "Requests served in normal operation (lowest of all drills) ≥ 99.0% 100 % yes" in text
    assert "2 of 2 drills; longest 2.4 s" in text


def test_trend_charts_have_one_line_per_drill_and_gaps_for_unmeasured_runs():
    page = build_page(data.summary(), data.history())
    assert trend_runs(data.history()) == data.DATES
    recovery_chart = page.split("<svg class=\"chart\"")[1]
    assert len(re.findall(r'<path d="M ', recovery_chart)) == 3    # all-down never measured a recovery
    assert recovery_chart.count("<circle") == 9
    assert len(re.findall(r'stroke="#dc2626"', recovery_chart)) == 3  # runs that found a problem


def test_chart_without_values_says_so():
    svg = svg_line_chart([("a", "#000", [None, None], [None, None])], ["1", "2"], unit=" s", title="t")
    assert "not measured yet" in svg and "<path" not in svg


def test_write_page_reads_the_report_folder(tmp_path):
    page = write_management_page(data.write(tmp_path))
    assert page == tmp_path / "management.html"
    assert len(read_history(tmp_path / "history.jsonl")) == 12
    assert 'href="summary.json"' in page.read_text()


@pytest.mark.skipif(find_chromium() is None, reason="headless Chromium is not installed")
def test_chromium_renders_the_page_with_its_figures_and_charts(tmp_path):
    page = write_management_page(data.write(tmp_path))
    dom = dump_dom(page)
    assert "registry node kill" in dom and "97.2 %" in dom and "criterion 11" in dom
    paths = re.findall(r'<path d="M [^"]+"', dom)
    assert len(paths) >= 6                                    # both charts drew their lines
    assert all(len(p.split(" L ")) >= 2 for p in paths)
    pdf = print_pdf(page, tmp_path / "management.pdf", one_page=True)
    raw = pdf.read_bytes()
    assert raw.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", raw)) == 1   # one page
