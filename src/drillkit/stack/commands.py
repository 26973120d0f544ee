"""The commands a reader or a check runs inside a node of the run: ``psql`` and ``redis-cli``.

One place for both, so a ground-truth reader (`drillkit.stack.truth`) and a ``wait_until`` step or
gate (`drillkit.stack.runbook`, `drillkit.stack.gate`) ask a database the same way. Nothing here
runs anything: the callers exec the command in a container of the run.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["psql_command", "redis_cli_command", "REDIS_ERROR"]

# the first line of a redis-cli answer that is an error reply (redis-cli may still exit 0)
REDIS_ERROR = re.compile(r"^(ERR|WRONGTYPE|NOAUTH|NOPERM|READONLY|MASTERDOWN|LOADING|BUSY|NOSCRIPT|"
                         r"EXECABORT|CROSSSLOT|MOVED|ASK|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b")


def psql_command(attrs: dict[str, Any], *, csv: bool = True) -> list[str]:
    """The psql call for ``attrs`` (``query``; ``user`` (postgres), ``database``, ``host``, ``port``,
    ``password``); errors stop it. ``csv``: a header and comma-separated rows (a reader's ids and
    columns); else tuples only, one row a line, columns separated by ``|`` (what a check matches)."""
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--csv" if csv else "-At"]
    if attrs.get("host"):
        cmd += ["-h", attrs["host"]]
    if attrs.get("port"):
        cmd += ["-p", str(attrs["port"])]
    cmd += ["-U", attrs.get("user", "postgres")]
    if attrs.get("database"):
        cmd += ["-d", attrs["database"]]
    cmd += ["-c", attrs["query"]]
    if attrs.get("password"):
        cmd = ["env", f"PGPASSWORD={attrs['password']}", *cmd]
    return cmd


def redis_cli_command(attrs: dict[str, Any], words: list[str] | tuple[str, ...]) -> list[str]:
    """``redis-cli --raw -p PORT [-a PASSWORD] WORDS...`` (``port`` 6379 by default)."""
    cmd = ["redis-cli", "--raw", "-p", str(attrs.get("port", 6379))]
    if attrs.get("password"):
        cmd += ["-a", attrs["password"], "--no-auth-warning"]
    return [*cmd, *words]
