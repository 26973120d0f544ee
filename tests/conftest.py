"""Shared test settings: the pytester plugin for testing the plugin as users run it."""

pytest_plugins = ["pytester"]
