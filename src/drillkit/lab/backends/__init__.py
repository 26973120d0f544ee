"""The lab's backends, one folder each; `drillkit.lab.backend` finds them by name."""
