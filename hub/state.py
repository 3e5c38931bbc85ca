"""The state dir: secrets and stable ports, created once, kept 0600."""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path

SECRET_FILES = ("admin.token", "proxy.token", "service.token")


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, never world-readable even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def read_or_create_secret(path: Path, nbytes: int = 32) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_hex(nbytes)
    write_private(path, value + "\n")
    return value


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def stable_ports(state_dir: Path, wanted: dict[str, int]) -> dict[str, int]:
    """Internal ports chosen once per state dir and kept, so that running user servers
    still reach the hub after a restart. A configured (non-zero) port wins."""
    path = state_dir / "ports.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    ports = {}
    for name, configured in wanted.items():
        ports[name] = configured or known.get(name) or free_port()
    if ports != known:
        path.write_text(json.dumps(ports, indent=1) + "\n")
    return ports


def prepare(state_dir: Path) -> dict[str, str]:
    """Create the state dir and its secrets; return the secrets by name."""
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(state_dir, 0o711)  # noqa: S103 - users traverse to their mount folders
    return {name: read_or_create_secret(state_dir / name) for name in SECRET_FILES}


def local_urls(settings) -> tuple[str, str]:
    """(hub API, platform service API) of the running hub of `settings` on the addresses
    its internal listeners use: the hub's API at the gateway of npuhub's network (a
    host-local address), the service on 127.0.0.1; ports as `npuhub up` kept them."""
    from .network import gateway_of

    root = Path(settings.state_dir)
    path = root / "ports.json"
    ports = json.loads(path.read_text()) if path.exists() else {}
    gateway = gateway_of(settings.state_dir, settings.network_name) or "127.0.0.1"
    return (f"http://{gateway}:{ports.get('hub_api', 0)}/hub/api",
            f"http://127.0.0.1:{ports.get('service', 0)}/services/npuhub/api/v1")
