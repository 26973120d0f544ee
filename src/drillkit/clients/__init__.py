"""Clients and synthetic users of any protocol, on one contract (Jepsen's ``client.clj``).

- :mod:`~drillkit.clients.contract`: :class:`Op`, :class:`Outcome` (ok / fail / unknown),
  :class:`Client` (``open`` / ``ops`` / ``invoke`` / ``close``)
- :mod:`~drillkit.clients.pool`: :class:`ClientPool` runs N clients, records every invoke
- :mod:`~drillkit.clients.journey`: HTTP journeys declared as data (user kinds)
- :mod:`~drillkit.clients.postgres`, :mod:`~drillkit.clients.redis`: ready-made protocol clients
- :mod:`~drillkit.clients.kinds`: from a kind (data or a stack plug-in's :class:`CodeKind`) to a pool
  (kinds *by name* are the stack's: :mod:`drillkit.stack.kinds`)
- :mod:`~drillkit.clients.declare`: the YAML (``x-drillkit.users`` / ``clients``) and its checks
- :mod:`~drillkit.clients.template`: the template and extraction language
"""

from drillkit.clients.contract import FAIL, OK, UNKNOWN, Client, ClientContext, Op, Outcome
from drillkit.clients.declare import ClientSpec, parse_client, parse_clients, parse_user_kind, parse_users
from drillkit.clients.journey import HttpJourney, UserKind
from drillkit.clients.kinds import CodeKind, pool_of
from drillkit.clients.pool import MAX_CLIENTS, ClientPool

__all__ = ["Op", "Outcome", "Client", "ClientContext", "ClientPool", "OK", "FAIL", "UNKNOWN", "MAX_CLIENTS",
           "UserKind", "HttpJourney", "ClientSpec", "parse_user_kind", "parse_users", "parse_client",
           "parse_clients", "pool_of", "CodeKind"]
