"""The Docker networks npuhub creates and owns for its user containers.

Every user server and local batch job runs on a bridge network of its own deployment:
internal (no route out of the host), inter-container traffic off, its own bridge name
and subnet. A container reaches the host only at the network's gateway address, where
the hub's API and the platform service listen for it; everything else of the platform
binds to 127.0.0.1. Profiles that set ``"internet": True`` put their containers on a
second, non-internal network of the deployment (the operator's choice).

The names and the subnet are derived from the settings (:func:`plan`, pure); creating
them is idempotent (:func:`ensure`). A subnet that is not configured is chosen once per
state dir (network.json) among 10.213.0.0/16's /24 blocks that no Docker network uses.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

POOL = ipaddress.ip_network("10.213.0.0/16")
ICC_OFF = {"com.docker.network.bridge.enable_icc": "false"}
LABEL = "npuhub.network"


class NetworkError(Exception):
    """A network npuhub needs cannot be made, said in one line with the fix."""


@dataclass(frozen=True)
class Net:
    name: str  # Docker network name
    bridge: str  # Linux bridge name (at most 15 characters)
    internal: bool
    subnet: str = ""  # "" until chosen

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.subnet).hosts()))


def bridge_name(name: str) -> str:
    """A Linux interface name (15 characters at most) for the network `name`."""
    if len(name) <= 15:
        return name
    return "nh-" + hashlib.sha256(name.encode()).hexdigest()[:12]


def plan(name: str) -> tuple[Net, Net]:
    """The internal network `name` and its outbound sibling `name`-out (no subnets yet)."""
    out = f"{name}-out"
    return (Net(name, bridge_name(name), True), Net(out, bridge_name(out), False))


def create_args(net: Net) -> dict:
    """Keyword arguments of ``docker.networks.create`` for `net` (with its subnet)."""
    from docker.types import IPAMConfig, IPAMPool

    return {
        "name": net.name,
        "driver": "bridge",
        "internal": net.internal,
        "options": {**ICC_OFF, "com.docker.network.bridge.name": net.bridge},
        "ipam": IPAMConfig(pool_configs=[IPAMPool(subnet=net.subnet, gateway=net.gateway)]),
        "labels": {LABEL: net.name},
        "check_duplicate": True,
    }


def used_subnets(client) -> list[ipaddress.IPv4Network]:
    used = []
    for n in client.networks.list():
        for cfg in (n.attrs.get("IPAM") or {}).get("Config") or []:
            try:
                used.append(ipaddress.ip_network(cfg.get("Subnet", ""), strict=False))
            except ValueError:
                continue
    return used


def _existing(client, name: str):
    import docker

    try:
        return client.networks.get(name)
    except docker.errors.NotFound:
        return None


def _subnet_of(network) -> str:
    configs = (network.attrs.get("IPAM") or {}).get("Config") or []
    return configs[0].get("Subnet", "") if configs else ""


def ensure_one(client, net: Net, configured: str, remembered: str) -> Net:
    """The network `net` as it exists in Docker, created if missing: with the
    `configured` subnet, else the one `remembered` in the state dir, else a free /24."""
    import docker

    existing = _existing(client, net.name)
    if existing is not None:
        subnet = _subnet_of(existing)
        if configured and ipaddress.ip_network(configured) != ipaddress.ip_network(subnet):
            raise NetworkError(
                f"Docker network {net.name} exists with subnet {subnet}, not the configured "
                f"{configured}: stop the servers on it and `docker network rm {net.name}`, "
                "or configure its subnet"
            )
        if existing.attrs.get("Internal") != net.internal:
            raise NetworkError(
                f"Docker network {net.name} exists but is not "
                f"{'internal' if net.internal else 'outbound'}: stop the servers on it and "
                f"`docker network rm {net.name}`"
            )
        return Net(net.name, net.bridge, net.internal, subnet)
    candidates = [configured] if configured else [remembered] if remembered else []
    if not configured:
        used = used_subnets(client)
        candidates += [
            str(s) for s in POOL.subnets(new_prefix=24) if not any(s.overlaps(u) for u in used)
        ]
    for subnet in candidates:
        chosen = Net(net.name, net.bridge, net.internal, subnet)
        try:
            client.networks.create(**create_args(chosen))
            return chosen
        except docker.errors.APIError as e:
            if _existing(client, net.name) is not None:  # another `npuhub up` made it
                return ensure_one(client, net, configured, remembered)
            if configured or "overlap" not in str(e).lower():
                raise NetworkError(f"cannot create Docker network {net.name} ({subnet}): "
                                   f"{e.explanation or e}") from None
    raise NetworkError(f"no free /24 subnet in {POOL} for Docker network {net.name}: "
                       "configure c.NPUHub.network_subnet")


def ensure(settings, client) -> dict[str, Net]:
    """Create the deployment's networks that are needed (the outbound one only if a
    profile asks for it); return them by role ("internal", "outbound")."""
    internal, outbound = plan(settings.network_name)
    path = Path(settings.state_dir) / "network.json"
    remembered = json.loads(path.read_text()) if path.exists() else {}
    nets = {"internal": ensure_one(client, internal, settings.network_subnet,
                                   remembered.get(internal.name, ""))}
    if any(p.get("internet") for p in settings.profiles):
        nets["outbound"] = ensure_one(client, outbound, settings.outbound_subnet,
                                      remembered.get(outbound.name, ""))
    chosen = {n.name: n.subnet for n in nets.values()}
    if chosen != remembered:
        path.write_text(json.dumps(chosen, indent=1) + "\n")
    return nets


def gateway_of(state_dir: str, name: str) -> str:
    """The gateway address of network `name` as `npuhub up` recorded it ("" if none)."""
    path = Path(state_dir) / "network.json"
    subnet = json.loads(path.read_text()).get(name, "") if path.exists() else ""
    return Net(name, "", True, subnet).gateway if subnet else ""
