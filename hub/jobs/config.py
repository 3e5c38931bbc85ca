"""Settings of batch jobs (section ``JobsConfig`` of the deployment config file).

    c.JobsConfig.backend = "slurm"            # default "local": containers on this host
    c.JobsConfig.slurm_partition = "npu"
    c.JobsConfig.slurm_account = "center"

Limits a job's container gets (memory, CPUs, processes) default to those of notebook
servers (``c.NPUHub.mem_limit`` …); the container prefix, the binding mode and the driver
paths follow ``c.NPUSpawner.prefix``, ``c.NPUSpawner.binding_mode`` and
``c.NPUSpawner.driver_paths``, so a job's container is named,
mounted and bound like the user's server.
"""

from __future__ import annotations

import re
from pathlib import Path

from traitlets import Dict, Enum, Float, Integer, List, TraitError, Unicode, validate
from traitlets.config import Config, Configurable

from npuhub.hub.binding import DEFAULT_DRIVER_PATHS

BACKENDS = ("local", "slurm")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MEMORY = re.compile(r"^([1-9][0-9]*[KMGT]?)?$")


class JobsConfig(Configurable):
    """Batch jobs: which backend runs them and within which limits."""

    backend = Enum(
        list(BACKENDS),
        default_value="local",
        help="""Where batch jobs run: "local" (the embedded default: a queue in the
        platform database, jobs as containers on this host holding NPUs from the same
        ledger as notebooks) or "slurm" (sbatch with --gres=npu:N on a cluster).""",
    ).tag(config=True)

    poll_interval = Float(
        2.0, min=0.2, help="Seconds between the scheduler's looks at queued and running jobs."
    ).tag(config=True)
    default_time_limit = Integer(
        86400, min=1, help="Time limit (seconds) of a job submitted without one."
    ).tag(config=True)
    max_time_limit = Integer(
        7 * 86400, min=1, help="The longest time limit (seconds) a job may ask for."
    ).tag(config=True)
    fairshare_half_life = Float(
        7.0,
        min=0.01,
        help="""Local queue: days after which an account's past NPU use counts half in
        its fair share (the line puts accounts that used less first; Slurm's
        PriorityDecayHalfLife).""",
    ).tag(config=True)
    max_active_per_user = Integer(
        20, min=1, help="Queued and running jobs one user may have at once."
    ).tag(config=True)
    max_cpu_jobs_per_user = Integer(
        4, min=1, help="Of those, jobs without NPUs (CPU only) one user may have at once."
    ).tag(config=True)
    cpu_hours_per_user = Float(
        200.0,
        min=0,
        help="""CPU-hours (the job's cores × hours it ran) of jobs without NPUs one user may
        use in each cpu_hours_period; running jobs count up to now. 0: no limit.""",
    ).tag(config=True)
    cpu_hours_per_account = Dict(
        value_trait=Float(min=0),
        help="""CPU-hours of jobs without NPUs all of an account's jobs together may use in
        each cpu_hours_period, e.g. {"course-ai101-students": 2000} (a group charged like
        an NPU quota's account).""",
    ).tag(config=True)
    cpu_hours_period = Enum(
        ["day", "week", "month"], "week",
        help="Period of the CPU-hour limits: day, week (from Monday) or month, UTC.",
    ).tag(config=True)
    log_max_size = Unicode(
        "10m", help="Size of a job container's log file before Docker rotates it (json-file)."
    ).tag(config=True)
    log_max_files = Integer(
        3, min=1, help="Log files Docker keeps of a job's container (the oldest is dropped)."
    ).tag(config=True)
    memory = Unicode(
        "", help="Memory limit of a job's container (default c.NPUHub.mem_limit)."
    ).tag(config=True)

    @validate("memory", "slurm_memory")
    def _validate_memory(self, proposal):
        if not MEMORY.match(proposal.value):
            raise TraitError(f"{proposal.trait.name} must look like 512M or 4G")
        return proposal.value

    cpu_limit = Float(
        0.0, min=0, help="CPU cores of a job's container (0: c.NPUHub.cpu_limit)."
    ).tag(config=True)
    pids_limit = Integer(
        0, min=0, help="Process limit of a job's container (0: c.NPUHub.pids_limit)."
    ).tag(config=True)
    network = Unicode(
        "",
        help="""Docker network of a job's container. Empty (the default): npuhub's own
        network, as for servers (c.NPUHub.network_name: internal, no other container
        reachable; the outbound one for a profile with "internet": True). "none": no
        network at all, only loopback.""",
    ).tag(config=True)
    stop_timeout = Integer(
        5, min=1, help="Seconds a job gets to exit after a cancel or its time limit."
    ).tag(config=True)
    prefix = Unicode(
        "", help="Prefix of job containers and home volumes (default c.NPUSpawner.prefix)."
    ).tag(config=True)
    binding_mode = Unicode(
        "", help="How NPUs reach a job (default c.NPUSpawner.binding_mode, else devices)."
    ).tag(config=True)
    driver_paths = List(
        Unicode(),
        default_value=None,
        allow_none=True,
        help="""Host paths of the Ascend driver, bind-mounted read-only into a job where
        present (default c.NPUSpawner.driver_paths, else the usual Ascend paths).""",
    ).tag(config=True)
    node_root = Unicode(
        "/",
        help="""Where the local node's file system is read for a job's provenance: its NPU
        driver (usr/local/Ascend/driver/version.info) and CANN (usr/local/Ascend/
        ascend-toolkit/latest/version.cfg) versions.""",
    ).tag(config=True)

    slurm_partition = Unicode("", help="Slurm partition of jobs (empty: the default).").tag(
        config=True
    )
    slurm_account = Unicode("", help="Slurm account of jobs (empty: none given).").tag(config=True)

    @validate("slurm_partition", "slurm_account")
    def _validate_slurm_name(self, proposal):
        if proposal.value and not NAME.match(proposal.value):
            raise TraitError(f"{proposal.trait.name} must be a Slurm name (letters, digits, _.-)")
        return proposal.value

    slurm_conf = Unicode("", help="SLURM_CONF for sbatch/scontrol/scancel (empty: Slurm's).").tag(
        config=True
    )
    slurm_device_dir = Unicode(
        "/dev", help="Where gres.conf's npu File= devices live on the compute nodes."
    ).tag(config=True)
    slurm_log_dir = Unicode(
        "",
        help="""Slurm output files of jobs, on storage the compute nodes and the hub share
        (default: slurm-logs in the state dir).""",
    ).tag(config=True)
    slurm_memory = Unicode(
        "", help="sbatch --mem and the container's memory (default memory)."
    ).tag(config=True)
    docker = Unicode("docker", help="The docker command on the compute nodes.").tag(config=True)


def load_jobs_config(config_file: str | None, settings) -> JobsConfig:
    """JobsConfig from the deployment config file, its defaults filled from the NPUHub
    `settings` and the NPUSpawner section."""
    from traitlets.config import PyFileConfigLoader

    config = Config()
    if config_file:
        p = Path(config_file)
        config = PyFileConfigLoader(p.name, path=str(p.parent)).load_config()
    cfg = JobsConfig(config=config)
    spawner = config.get("NPUSpawner", {})
    cfg.prefix = cfg.prefix or spawner.get("prefix") or "npuhub"
    cfg.binding_mode = cfg.binding_mode or spawner.get("binding_mode") or "devices"
    if cfg.driver_paths is None:
        cfg.driver_paths = list(spawner.get("driver_paths", DEFAULT_DRIVER_PATHS))
    cfg.memory = cfg.memory or settings.mem_limit
    cfg.cpu_limit = cfg.cpu_limit or float(settings.cpu_limit)
    cfg.pids_limit = cfg.pids_limit or settings.pids_limit
    cfg.slurm_memory = cfg.slurm_memory or cfg.memory
    from ..network import plan

    internal, outbound = plan(settings.network_name)
    cfg.internal_network, cfg.outbound_network = internal.name, outbound.name
    cfg.internet_profiles = {p["slug"] for p in settings.profiles if p.get("internet")}
    cfg.slurm_log_dir = cfg.slurm_log_dir or str(settings.path("slurm-logs"))
    return cfg
