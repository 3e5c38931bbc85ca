"""Deployment settings of the platform (traitlets, section ``NPUHub`` of the config file).

The same config file configures JupyterHub (``c.JupyterHub``), the spawner
(``c.NPUSpawner``) and the platform (``c.NPUHub``); the hub process and the platform
service both read it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from traitlets import (
    Bool,
    Dict,
    Float,
    Integer,
    List,
    TraitError,
    Unicode,
    default,
    validate,
)
from traitlets.config import Configurable

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class NPUHub(Configurable):
    """Where npuhub keeps its state and how it is reached."""

    state_dir = Unicode(
        help="""Folder of npuhub's state: databases, secrets, admin.token, simulated devices,
        user mount folders. Default: $NPUHUB_STATE_DIR, else /var/lib/npuhub.""",
    ).tag(config=True)

    @default("state_dir")
    def _state_dir_default(self):
        return os.environ.get("NPUHUB_STATE_DIR", "/var/lib/npuhub")

    ip = Unicode(help="Address the public proxy listens on (default 127.0.0.1).").tag(config=True)
    port = Integer(min=1, max=65535, help="Port of the public proxy (default 8000).").tag(
        config=True
    )

    @default("ip")
    def _ip_default(self):
        return os.environ.get("NPUHUB_IP", "127.0.0.1")

    @default("port")
    def _port_default(self):
        return int(os.environ.get("NPUHUB_PORT", "8000"))

    db_url = Unicode(
        help="""SQLAlchemy URL of the platform database (NPU ledger, quotas, datasets, jobs,
        courses). Default: SQLite in the state dir. PostgreSQL:
        postgresql+psycopg2://user:password@host/db""",
    ).tag(config=True)

    @default("db_url")
    def _db_url_default(self):
        return f"sqlite:///{Path(self.state_dir) / 'npuhub.sqlite'}"

    hub_db_url = Unicode(
        help="SQLAlchemy URL of JupyterHub's own database. Default: SQLite in the state dir.",
    ).tag(config=True)

    @default("hub_db_url")
    def _hub_db_url_default(self):
        return f"sqlite:///{Path(self.state_dir) / 'jupyterhub.sqlite'}"

    admin_user = Unicode(
        "admin",
        help="""The bootstrap admin. Its password is generated at the first `npuhub up`,
        printed once and kept in admin.password (0600) in the state dir.""",
    ).tag(config=True)

    simulated_npus = Integer(
        8,
        min=0,
        help="""Where no /dev/davinci* exists, create a simulated node of this many devices
        (character devices that behave like /dev/null, made in the state dir). 0: none.""",
    ).tag(config=True)

    device_dir = Unicode(
        "/dev", help="Where to discover Ascend device nodes (davinciN) on this host."
    ).tag(config=True)

    nodes = List(
        Dict(),
        help="""NPU nodes declared by the deployment, each a dict:
        {"name": "node1", "type": "Ascend910B", "devices": 8,
         "rings": [[0,1,2,3],[4,5,6,7]], "device_dir": "/dev"}.
        Nodes can also be declared in files applied with `npuhub apply -f`.""",
    ).tag(config=True)

    profiles = List(
        Dict(),
        help="""Server profiles offered on the spawn page. Each a dict:
        {"slug": "base", "display_name": "...", "description": "...",
         "image": "npuhub/base:latest", "npus": [0, 1, 2, 4], "device_type": null,
         "groups": [], "internet": False}   (groups: who sees it; empty = everyone;
        internet: its servers and jobs may reach outside the host, on the outbound network).""",
    ).tag(config=True)

    @default("profiles")
    def _profiles_default(self):
        return [
            {
                "slug": "base",
                "display_name": "JupyterLab",
                "description": "Python 3, JupyterLab, ipywidgets, nbconvert",
                "image": "npuhub/base:latest",
                "npus": [0, 1, 2, 4],
                "device_type": None,
                "groups": [],
            }
        ]

    @validate("profiles")
    def _validate_profiles(self, proposal):
        seen = set()
        for p in proposal.value:
            slug = p.get("slug", "")
            if not SLUG.match(str(slug)):
                raise TraitError(
                    f"c.NPUHub.profiles: slug {slug!r} must be lowercase letters, digits, '-'"
                )
            if slug in seen:
                raise TraitError(f"c.NPUHub.profiles: slug {slug!r} appears twice")
            seen.add(slug)
            if not p.get("image"):
                raise TraitError(f"c.NPUHub.profiles: profile {slug!r} has no image")
            npus = p.setdefault("npus", [0])
            if not all(isinstance(n, int) and n >= 0 for n in npus):
                raise TraitError(f"c.NPUHub.profiles: npus of {slug!r} must be counts >= 0")
            p.setdefault("display_name", slug)
            p.setdefault("description", "")
            p.setdefault("device_type", None)
            p.setdefault("groups", [])
            if not isinstance(p.setdefault("internet", False), bool):
                raise TraitError(f"c.NPUHub.profiles: internet of {slug!r} must be True or False")
        return proposal.value

    network_name = Unicode(
        help="""Docker network of the user servers and batch jobs, created and owned by
        npuhub (bridge, internal, inter-container traffic off). Profiles with
        "internet": True use a second one, NAME-out, that is not internal. Default: the
        spawner's prefix (c.NPUSpawner.prefix, "npuhub").""",
    ).tag(config=True)

    @default("network_name")
    def _network_name_default(self):
        return str(self.config.get("NPUSpawner", {}).get("prefix", "npuhub"))

    @validate("network_name")
    def _validate_network_name(self, proposal):
        if not SLUG.match(proposal.value) or len(proposal.value) > 40:
            raise TraitError(f"c.NPUHub.network_name {proposal.value!r}: lowercase letters, "
                             "digits and '-', at most 40")
        return proposal.value

    network_subnet = Unicode(
        "",
        help="""Subnet of the internal network, e.g. 10.213.0.0/24; its first address is
        the gateway where containers reach the hub. Empty: a free /24 of 10.213.0.0/16,
        chosen once and kept (network.json in the state dir).""",
    ).tag(config=True)
    outbound_subnet = Unicode(
        "", help="Subnet of the outbound network NAME-out (empty: chosen like network_subnet)."
    ).tag(config=True)
    host_firewall = Bool(
        True,
        help="""Whether `npuhub up` writes iptables rules (one chain per bridge of its
        networks, NPUHUB-BRIDGE) so that a container opens nothing of the host but the
        hub's API and the platform service at the gateway, not even what listens on
        0.0.0.0. Needs root or CAP_NET_ADMIN. False: the operator filters the bridges.""",
    ).tag(config=True)

    @validate("network_subnet", "outbound_subnet")
    def _validate_subnet(self, proposal):
        import ipaddress

        if proposal.value:
            try:
                net = ipaddress.IPv4Network(proposal.value)
            except ValueError:
                raise TraitError(f"c.NPUHub.{proposal.trait.name} = {proposal.value!r}: an "
                                 "IPv4 subnet like 10.213.0.0/24") from None
            if net.prefixlen > 28 or not net.is_private:
                raise TraitError(f"c.NPUHub.{proposal.trait.name} = {proposal.value!r}: a "
                                 "private IPv4 subnet of at least 16 addresses")
        return proposal.value

    engine = Unicode(
        "docker",
        help="""What places user servers: "docker" (this host's Docker engine, the default)
        or "slurm" (cluster mode: every server is a Slurm job; see README "Running on a
        cluster", c.SlurmNPUSpawner.* and a profile's "partition").""",
    ).tag(config=True)

    @validate("engine")
    def _validate_engine(self, proposal):
        if proposal.value not in ("docker", "slurm"):
            raise TraitError(f'c.NPUHub.engine must be "docker" or "slurm", not {proposal.value!r}')
        return proposal.value

    spawn_concurrency = Integer(
        4,
        min=1,
        help="""How many user containers may be starting at once. Others wait in order
        and see their position; no spawn fails for want of CPU.""",
    ).tag(config=True)

    line_max_wait = Integer(
        4 * 3600,
        min=1,
        help="""The longest a server request waits in the line for NPUs (seconds, default
        4 hours); then it is refused with a message that says so. A request with
        user_options {"wait": false} is refused at once instead of waiting.""",
    ).tag(config=True)

    line_session_limit = Integer(
        8 * 3600,
        min=0,
        help="""How long a server is expected to run where its quota sets no
        max_session_hours (seconds, default 8 hours): the line's estimated starts and
        its backfill count on it. 0: unknown (such servers are taken to run for ever).""",
    ).tag(config=True)

    poll_interval = Integer(
        10, min=1, help="Seconds between checks that each user container still runs."
    ).tag(config=True)

    watch_interval = Integer(
        60,
        min=1,
        help="""Seconds between the service's checks of running servers: the ledger is
        reconciled with them, budgets and session limits are enforced.""",
    ).tag(config=True)

    slurm_sync_interval = Integer(
        30,
        min=1,
        help="""Cluster mode: seconds between the service's reads of Slurm's nodes
        (`scontrol show node`); the ledger's inventory follows their GRES npu and their
        DOWN/DRAIN state.""",
    ).tag(config=True)

    course_release_interval = Integer(
        30,
        min=1,
        help="""Seconds between the service's checks for assignments whose `release` time
        has come (each is then released from its stored sources, as by its instructor).""",
    ).tag(config=True)

    budget_grace_seconds = Integer(
        600,
        min=0,
        help="""When an account's NPU-hour budget is spent (or a session reaches
        max_session_hours), its running servers are warned and stopped after this many
        seconds. Their home data is kept.""",
    ).tag(config=True)

    npu_idle_threshold = Float(
        1.0,
        min=0.0,
        max=100.0,
        help="""A server's NPUs count as idle while every one of them reads below this use
        (percent of AI Core, or GPU utilization on NVIDIA nodes).""",
    ).tag(config=True)

    npu_idle_timeout = Integer(
        1800,
        min=1,
        help="""Seconds a server's NPUs may stay idle before the server is warned (in the Lab
        status bar and on the hub's home page) that it will be stopped.""",
    ).tag(config=True)

    npu_idle_grace = Integer(
        600,
        min=0,
        help="""Seconds between the idle warning and the stop. Using the NPUs again (above
        npu_idle_threshold) withdraws the warning. The home volume is kept.""",
    ).tag(config=True)

    npu_idle_reclaim = Unicode(
        "when_waiting",
        help="""When idle NPUs are taken back: "when_waiting" (only while others wait for
        NPUs: queued batch jobs, waiting servers), "always", or "never".""",
    ).tag(config=True)

    @validate("npu_idle_reclaim")
    def _validate_npu_idle_reclaim(self, proposal):
        if proposal.value not in ("always", "when_waiting", "never"):
            raise TraitError(
                'c.NPUHub.npu_idle_reclaim must be "always", "when_waiting" or "never", '
                f"not {proposal.value!r}"
            )
        return proposal.value

    npu_utilization_source = Unicode(
        "auto",
        help="""Where each device's use is read: "auto" (per node: simulated where the
        devices are simulated or fake, nvidia-smi on nvidia nodes, npu-smi otherwise),
        "simulated" (STATE/devices/utilization/davinciN, a percentage; absent = 0),
        "npu-smi" (`npu-smi info -t usages`, AI Core usage), "nvidia-smi",
        "npu-exporter" (Ascend's npu-exporter, npu_chip_info_utilization) or
        "dcgm-exporter" (DCGM_FI_DEV_GPU_UTIL); the exporters at npu_utilization_url.""",
    ).tag(config=True)

    @validate("npu_utilization_source")
    def _validate_npu_utilization_source(self, proposal):
        allowed = ("auto", "simulated", "npu-smi", "nvidia-smi", "npu-exporter", "dcgm-exporter")
        if proposal.value not in allowed:
            raise TraitError(
                f"c.NPUHub.npu_utilization_source must be one of {', '.join(allowed)}, "
                f"not {proposal.value!r}"
            )
        return proposal.value

    npu_utilization_url = Unicode(
        "http://127.0.0.1:8082/metrics",
        help="""The exporter's metrics URL for the "npu-exporter" and "dcgm-exporter"
        sources; {node} is replaced by the node's name (e.g. http://{node}:8082/metrics).""",
    ).tag(config=True)

    idle_culler_timeout = Integer(
        3600,
        min=0,
        help="""Servers without NPUs are stopped after this many seconds without HTTP
        activity, by jupyterhub-idle-culler running as a hub-managed service (servers
        with NPUs are left to the NPU idle watch). 0: no culler.""",
    ).tag(config=True)

    idle_culler_every = Integer(
        0,
        min=0,
        help="Seconds between the culler's checks (0: half of idle_culler_timeout).",
    ).tag(config=True)

    service_port = Integer(
        0,
        min=0,
        max=65535,
        help="""Port of the platform service, on 127.0.0.1 and on the network's gateway
        (0: chosen once and kept).""",
    ).tag(config=True)

    hub_api_port = Integer(
        0,
        min=0,
        max=65535,
        help="""Port of the hub's internal API, on the network's gateway address
        (0: chosen once and kept).""",
    ).tag(config=True)

    proxy_api_port = Integer(
        0,
        min=0,
        max=65535,
        help="Port of the proxy's REST API on 127.0.0.1 (0: chosen once and kept).",
    ).tag(config=True)

    mem_limit = Unicode("4G", help="Memory limit of each user container.").tag(config=True)
    cpu_limit = Unicode("2", help="CPU limit of each user container (cores).").tag(config=True)
    pids_limit = Integer(512, min=16, help="Process limit of each user container.").tag(
        config=True
    )

    debug = Bool(False, help="Verbose logs of hub and service.").tag(config=True)

    authenticate_prometheus = Bool(
        True,
        help="""Whether /services/npuhub/metrics needs a token with the read:metrics scope
        (as JupyterHub's /hub/metrics does with c.JupyterHub.authenticate_prometheus).
        False opens the platform's metrics to anyone who reaches the proxy.""",
    ).tag(config=True)

    activation_link_hours = Float(
        7 * 24.0,
        min=0.01,
        help="""How long a one-time activation link of a new account stays valid (default
        7 days). A new link replaces the earlier one.""",
    ).tag(config=True)

    grading_max_timeout = Integer(
        300,
        min=1,
        max=3600,
        help="""Ceiling of a course's per-cell grading time (autograde.timeout, seconds)
        that instructors who are not administrators may set.""",
    ).tag(config=True)

    grading_max_memory = Unicode(
        "2g",
        help="""Ceiling of a course's grading memory (autograde.memory) that instructors
        who are not administrators may set, e.g. 2g.""",
    ).tag(config=True)

    grading_max_cpus = Float(
        2.0,
        min=0.1,
        help="Ceiling of a course's grading CPUs (autograde.cpus) for instructors.",
    ).tag(config=True)

    submission_max_attempts = Integer(
        50,
        min=1,
        help="""How many times a student may submit one assignment (each attempt is kept
        and stored in the database, so this bounds what one student can fill).""",
    ).tag(config=True)

    submission_min_interval = Float(
        10.0,
        min=0,
        help="""Seconds a student waits between two submissions of one assignment (a
        burst of submissions is refused with the time left).""",
    ).tag(config=True)

    account_managers = Dict(
        help="""Who sees each member's usage of an account: {"lab-vision": ["alice"]}.
        Administrators see all accounts, and a course's instructors its groups; other
        members see their own usage and the account's total.""",
    ).tag(config=True)

    @validate("grading_max_memory")
    def _validate_grading_max_memory(self, proposal):
        if not re.match(r"^[0-9]{1,6}[kmg]$", str(proposal["value"]).lower()):
            raise TraitError(
                f"c.NPUHub.grading_max_memory = {proposal['value']!r}: a size like 512m or 2g"
            )
        return str(proposal["value"]).lower()

    def path(self, *parts: str) -> Path:
        return Path(self.state_dir, *parts)


def load_settings(config_file: str | None = None) -> NPUHub:
    """The NPUHub settings from the deployment config file (or defaults)."""
    from traitlets.config import Config, PyFileConfigLoader

    config = Config()
    if config_file:
        p = Path(config_file)
        config = PyFileConfigLoader(p.name, path=str(p.parent)).load_config()
    return NPUHub(config=config)
