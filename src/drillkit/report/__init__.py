"""Reports computed from the timeline: the drill chart, the summary and trend history, Allure helpers
and the Allure 2 command line. Submodules import matplotlib / allure lazily; import them directly."""
