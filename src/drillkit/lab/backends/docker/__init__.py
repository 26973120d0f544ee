"""The docker backend: every replica a container on one Docker engine (the default)."""

from drillkit.lab.backends.docker.backend import DockerBackend

__all__ = ["DockerBackend"]
