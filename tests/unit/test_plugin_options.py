"""The pytest plugin as users run it: marker registered, options with ini twins, clear bad values."""

import pytest


def test_drill_marker_is_registered_with_signature(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.drill(environment=None, *, switches=None*"])


def test_strict_markers_reject_typos(pytester: pytest.Pytester):
    pytester.makepyfile("""
        import pytest
        @pytest.mark.dril("registry")
        def test_x(): pass
    """)
    result = pytester.runpytest_subprocess("--strict-markers")
    result.stdout.fnmatch_lines(["*'dril' not found in `markers` configuration option*"])


@pytest.mark.parametrize("source", ["cli", "env", "ini"])
def test_probe_interval_from_each_source(pytester: pytest.Pytester, monkeypatch, source):
    pytester.makepyfile("""
        def test_x(drill_settings):
            print("INTERVAL", drill_settings.probe_interval, sorted(drill_settings.switches.items()))
    """)
    args = ["-s"]
    if source == "cli":
        args += ["--probe-interval", "0.02", "--drill-switch", "sessions=node-local"]
    elif source == "env":
        monkeypatch.setenv("DRILLKIT_PROBE_INTERVAL", "0.02")
        monkeypatch.setenv("DRILLKIT_SWITCHES", "sessions=node-local")
    else:
        pytester.makeini("[pytest]\ndrill_probe_interval = 0.02\ndrill_switches = sessions=node-local\n")
    result = pytester.runpytest_subprocess(*args)
    result.stdout.fnmatch_lines(["*INTERVAL 0.02 ?('sessions', 'node-local')?*"])


def test_cli_beats_env_beats_ini(pytester: pytest.Pytester, monkeypatch):
    pytester.makeini("[pytest]\ndrill_probe_interval = 0.3\n")
    pytester.makepyfile("def test_x(drill_settings): print('INTERVAL', drill_settings.probe_interval)")
    monkeypatch.setenv("DRILLKIT_PROBE_INTERVAL", "0.2")
    pytester.runpytest_subprocess("-s").stdout.fnmatch_lines(["*INTERVAL 0.2*"])
    pytester.runpytest_subprocess("-s", "--probe-interval=0.1").stdout.fnmatch_lines(["*INTERVAL 0.1*"])


def test_bad_probe_interval_names_its_source(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\ndrill_probe_interval = soon\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess()
    result.stderr.fnmatch_lines(["*ini option drill_probe_interval: probe interval 'soon' is not 0.005..10 seconds*"])
    assert result.ret != 0
