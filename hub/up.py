"""`npuhub up`: prepare the state dir, check what must be there, start JupyterHub (which
starts the proxy and the platform service) and stop it all cleanly on Ctrl-C. User
servers keep running and are picked up again by the next `npuhub up`."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from . import db, firewall, network, slurm_inventory, slurm_nodes, state
from .configcheck import ConfigProblem, check_config_file
from .ledger.discovery import local_nodes
from .platform import platform_for
from .portholder import describe
from .settings import NPUHub, load_settings

log = logging.getLogger("npuhub.up")
HUB_CONFIG = Path(__file__).with_name("jupyterhub_config.py")


class UpError(Exception):
    """A reason not to start, said in one line with the fix."""


def preflight(settings: NPUHub) -> None:
    if state.port_in_use(settings.ip, settings.port):
        raise UpError(
            f"port {settings.port} on {settings.ip} is already in use"
            f"{describe(settings.port)} (another npuhub?): stop what holds it, or choose "
            "another with `npuhub up --port N`"
        )
    if not shutil.which("configurable-http-proxy"):
        raise UpError(
            "configurable-http-proxy is not installed: `npm install -g configurable-http-proxy`"
            " (`make run` does this)"
        )
    import docker

    try:
        docker.from_env(timeout=5).ping()
    except Exception:
        raise UpError(
            "cannot reach the Docker daemon (DOCKER_HOST or /var/run/docker.sock): start it "
            "with `scripts/start-dockerd` (or `dockerd &`), then run `npuhub up` again"
        ) from None


def networks(settings: NPUHub) -> dict[str, network.Net]:
    """The deployment's Docker networks, created if missing (see :mod:`.network`)."""
    import docker

    try:
        return network.ensure(settings, docker.from_env(timeout=30))
    except network.NetworkError as e:
        raise UpError(str(e)) from None


def guard(nets, gateway: str, ports: list[int]) -> None:
    """A container of `nets` opens nothing of the host but `ports` at `gateway`."""
    try:
        for net in nets:
            firewall.apply(net.bridge, gateway, ports)
    except firewall.FirewallError as e:
        raise UpError(str(e)) from None


def bootstrap_admin(settings: NPUHub) -> str | None:
    """Generate the bootstrap admin's password once; return it the first time only. It
    is random, printed once and kept 0600 in the state dir, so nobody can claim the
    account. Passwords of an earlier first-use password file are carried over."""
    import secrets

    from .platform import platform_for

    store = platform_for(settings.db_url).accounts
    store.import_dbm(settings.path("passwords.dbm"))
    path = settings.path("admin.password")
    if path.exists():
        return None
    password = secrets.token_urlsafe(12)
    store.set_password(settings.admin_user, password, origin="bootstrap")
    state.write_private(path, password + "\n")
    return password


def prepare(settings: NPUHub, gateway: str) -> dict[str, int]:
    """State dir, secrets, database schema and NPU inventory; return the internal ports.
    The hub's API and the service listen on the network's `gateway` address too."""
    root = Path(settings.state_dir)
    state.prepare(root)
    ports = state.stable_ports(
        root,
        {
            "hub_api": settings.hub_api_port,
            "proxy_api": settings.proxy_api_port,
            "service": settings.service_port,
        },
    )
    for name, port in ports.items():
        for address in ("127.0.0.1", gateway):
            if state.port_in_use(address, port):
                raise UpError(
                    f"internal {name} port {port} on {address} is in use{describe(port)} (is "
                    f"npuhub already running with state dir {root}?): stop it, or set "
                    f"c.NPUHub.{name}_port"
                )
    db.upgrade(settings.db_url)
    inventory = platform_for(settings.db_url).ledger.inventory
    if settings.engine == "slurm":
        sync_with_slurm(inventory, settings)
        return ports
    specs = local_nodes(
        hostname=socket.gethostname().split(".")[0],
        device_dir=settings.device_dir,
        declared=settings.nodes,
        simulated_npus=settings.simulated_npus,
        state_dir=root,
    )
    inventory.sync(specs)
    return ports


def sync_with_slurm(inventory, settings: NPUHub) -> None:
    """Cluster mode: the inventory is Slurm's nodes. A controller that does not answer
    keeps the stored inventory; with none stored yet there is nothing to start on."""
    if settings.nodes:
        log.warning("c.NPUHub.nodes is not used in cluster mode: the inventory is Slurm's nodes")
    try:
        slurm_inventory.sync_once(inventory, settings)
    except slurm_nodes.SlurmNodeError as e:
        if not inventory.devices():
            raise UpError(
                f"cannot read Slurm's nodes (scontrol show node: {e}): start slurmctld or set "
                "c.SlurmNPUSpawner.slurm_conf"
            ) from None
        log.warning("Slurm's nodes not read, keeping the stored inventory: %s", e)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return False


def up(config_file: str | None = None) -> int:
    if config_file:
        try:
            check_config_file(config_file)
        except ConfigProblem as e:
            raise UpError(str(e)) from None
        config_file = str(Path(config_file).resolve())
    settings = load_settings(config_file)
    preflight(settings)
    state.prepare(Path(settings.state_dir))
    nets = networks(settings)
    gateway = nets["internal"].gateway
    ports = prepare(settings, gateway)
    if settings.host_firewall:
        guard(nets.values(), gateway, [ports["hub_api"], ports["service"]])
    password = bootstrap_admin(settings)
    secrets = state.prepare(Path(settings.state_dir))
    env = dict(os.environ)
    env.update(
        NPUHUB_STATE_DIR=settings.state_dir,
        NPUHUB_IP=settings.ip,
        NPUHUB_PORT=str(settings.port),
        CONFIGPROXY_AUTH_TOKEN=secrets["proxy.token"],
        NPUHUB_GATEWAY=gateway,
        **{f"NPUHUB_{k.upper()}_PORT": str(v) for k, v in ports.items()},
    )
    if config_file:
        env["NPUHUB_CONFIG"] = config_file
    logfile = open(settings.path("hub.log"), "ab")  # noqa: SIM115 - lives as long as the hub
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)],
        cwd=settings.state_dir,
        env=env,
        stdout=logfile,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def forward(signum, _frame):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    public = f"http://{settings.ip}:{settings.port}"
    # the hub through the public port (its route answers every host), the service at its
    # own address: with c.JupyterHub.subdomain_host the proxy routes the service by host
    # (npuhub--service.DOMAIN), a name this machine need not resolve
    service = f"http://127.0.0.1:{ports['service']}/services/npuhub/api/v1/health"
    if not (wait_ready(f"{public}/hub/health", proc) and wait_ready(service, proc)):
        forward(signal.SIGTERM, None)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        tail = settings.path("hub.log").read_text(errors="replace").strip().splitlines()[-1:]
        raise UpError(
            "JupyterHub did not start; last log line: "
            + (tail[0] if tail else "(none)")
            + f" — see {settings.path('hub.log')}"
        )
    print(f"npuhub is up at {public}/  (log: {settings.path('hub.log')})", flush=True)
    if password:
        print(
            f"bootstrap admin: user {settings.admin_user!r}, password {password} "
            f"(shown once; kept in {settings.path('admin.password')}, mode 0600)",
            flush=True,
        )
    code = proc.wait()
    print("npuhub stopped (user servers keep running)", flush=True)
    return 0 if code in (0, -signal.SIGTERM, 128 + signal.SIGTERM) else code
