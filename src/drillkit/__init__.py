"""drillkit: failover drills with measured verdicts. See docs/architecture.md for the floors."""

from drillkit import deprecated

deprecated.install()
