"""The NPU ledger: which devices exist, who holds which, what it cost, and the rules.

- :mod:`.ledger` — :class:`Ledger`: grants, releases, reconciliation, job charges;
- :mod:`.inventory` — :class:`Inventory`: nodes, devices, drains, the stored topology;
- :mod:`.policies` — :class:`Policies`: quota policies, user overrides, limits, holdings;
- :mod:`.usage` — :class:`Usage`: usage records and NPU-hours; :mod:`.summary` a user's
  standing;
- :mod:`.quota` (pure): accounts, limits, the quota check; :mod:`.capacity` (pure
  wording): refusals for lack of NPUs; :mod:`.topology` (pure): rings and device paths;
- :mod:`.discovery`: the NPUs of this host (discovered, declared or simulated);
  :mod:`.slurm_discovery` (pure): those of a cluster, Slurm's nodes and GRES npu;
- :mod:`.free` and :mod:`.store`: the free devices remembered between grants and the
  version counters that keep them true; :mod:`.reconcile`: the service's watch.

Placement, the pure choice of devices, is :mod:`npuhub.hub.placement`.
"""

from .capacity import WAIT_WINDOW_S, CapacityError
from .inventory import MANAGED_ELSEWHERE, Inventory
from .ledger import Grant, Ledger
from .policies import Policies
from .quota import LedgerError, QuotaError
from .topology import NodeSpec, device_path
from .usage import Usage

__all__ = [
    "MANAGED_ELSEWHERE",
    "WAIT_WINDOW_S",
    "CapacityError",
    "Grant",
    "Inventory",
    "Ledger",
    "LedgerError",
    "NodeSpec",
    "Policies",
    "QuotaError",
    "Usage",
    "device_path",
]
