"""The host's side of npuhub's networks: what a container may open on the host.

Docker keeps containers of an internal network off other containers and off the outside,
but a container still reaches every socket of the host bound to its network's gateway or
to 0.0.0.0 (a Slurm daemon, a database, anything an operator runs). npuhub drops all of
that: one iptables chain per bridge of its own networks, jumped to from INPUT for packets
coming in on that bridge, lets through only replies to the host's own connections (the
proxy talking to a server) and new TCP connections to the hub's API and the platform
service at the internal network's gateway; everything else a container sends to the host
is dropped. Traffic through the host (an outbound network's internet) is not INPUT and is
not touched.

``npuhub up`` (re)writes the chains (:func:`apply`, idempotent); :func:`remove` undoes
them for a network that is removed. Needs root (or CAP_NET_ADMIN) and ``iptables``;
``c.NPUHub.host_firewall = False`` leaves the host's filtering to the operator.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable

PREFIX = "NPUHUB-"


class FirewallError(Exception):
    """The chains cannot be written, said in one line with the fix."""


def chain_name(bridge: str) -> str:
    """The chain of the bridge `bridge` (at most 15 characters: 22 of iptables' 28)."""
    return PREFIX + bridge


def rules(bridge: str, gateway: str, ports: Iterable[int]) -> list[list[str]]:
    """The chain's rules, in order (arguments of ``iptables``)."""
    chain = chain_name(bridge)
    dports = ",".join(str(p) for p in sorted(set(ports)))
    return [
        ["-A", chain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"],
        ["-A", chain, "-p", "tcp", "-d", gateway, "-m", "multiport", "--dports", dports,
         "-j", "RETURN"],
        ["-A", chain, "-j", "DROP"],
    ]


def _iptables(*args: str, check: bool = True) -> bool:
    if not shutil.which("iptables"):
        raise FirewallError("iptables is not installed: install it, or set "
                            "c.NPUHub.host_firewall = False and filter the bridges yourself")
    r = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)  # noqa: S603,S607
    if check and r.returncode != 0:
        raise FirewallError(f"iptables {' '.join(args)}: {r.stderr.strip()} (npuhub up needs "
                            "root or CAP_NET_ADMIN for its host firewall; or set "
                            "c.NPUHub.host_firewall = False and filter the bridges yourself)")
    return r.returncode == 0


def apply(bridge: str, gateway: str, ports: Iterable[int]) -> None:
    """Write the chain of `bridge` (allowing `ports` at `gateway`) and its jump from INPUT."""
    chain = chain_name(bridge)
    if not _iptables("-L", chain, "-n", check=False):
        _iptables("-N", chain)
    _iptables("-F", chain)
    for rule in rules(bridge, gateway, ports):
        _iptables(*rule)
    jump = ("INPUT", "-i", bridge, "-j", chain)
    if not _iptables("-C", *jump, check=False):
        _iptables("-I", *jump)


def remove(bridge: str) -> None:
    """Undo :func:`apply` for `bridge` (nothing if it was never applied)."""
    chain = chain_name(bridge)
    if not shutil.which("iptables"):
        return
    while _iptables("-D", "INPUT", "-i", bridge, "-j", chain, check=False):
        pass
    if _iptables("-F", chain, check=False):
        _iptables("-X", chain, check=False)
