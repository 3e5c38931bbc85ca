"""Spawn latency: npuhub's NPUSpawner beside stock DockerSpawner, same image, same host;
and npuhub in cluster mode (each server a Slurm job on the three-node test cluster of
scripts/start-slurm) beside single-host mode.

Measured from the REST request that starts a server until the server answers through the
proxy. Runs on demand (not a test): sequential spawns, then bursts of users at once, on a
real `npuhub up` each. Prints a table with p50, p95, failures and the ratio.

    .venv/bin/python benchmarks/spawn.py [--sequential 20] [--bursts 20 50] [--only npuhub]
    .venv/bin/python benchmarks/spawn.py --only npuhub --only cluster --sequential 10 --bursts 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import cleanup, new_hub  # noqa: E402
from tests.hubclient import Hub  # noqa: E402

# Stock DockerSpawner with only the two overrides that host networking needs here
# (ENVIRONMENT.md), default timeouts: the baseline.
STOCK = """
from dockerspawner import DockerSpawner
from jupyterhub.utils import random_port


class StockDockerSpawner(DockerSpawner):
    async def start(self):
        self.port = random_port()
        return await super().start()

    async def get_ip_and_port(self):
        return "127.0.0.1", self.port


c.JupyterHub.spawner_class = StockDockerSpawner
c.DockerSpawner.image = "npuhub/base:latest"
c.DockerSpawner.network_name = "host"
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.ip = "127.0.0.1"
c.DockerSpawner.remove = True
c.DockerSpawner.prefix = PREFIX
c.DockerSpawner.name_template = "{prefix}-{username}--{servername}"
c.DockerSpawner.volumes = {"{prefix}-home-{username}": "/home/jovyan"}
"""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def spawn_and_wait(hub: Hub, user: str, options: dict | None, timeout: float) -> float | None:
    """Seconds from the spawn request until the server answers through the proxy, or
    None if the spawn failed."""
    token = hub.admin_token
    t0 = time.monotonic()
    try:
        r = hub.request("POST", f"/users/{user}/server", json=options or {})
    except requests.RequestException:
        r = None  # the hub was too busy to answer in time; the spawn may still go on
    if r is not None and r.status_code >= 400:
        return None
    url = f"{hub.url}/user/{user}/api"
    while time.monotonic() - t0 < timeout:
        try:
            resp = requests.get(
                url, headers={"Authorization": f"token {token}"}, timeout=5, allow_redirects=False
            )
            if resp.status_code == 200 and "version" in resp.text:
                return time.monotonic() - t0
        except requests.RequestException:
            pass
        try:
            model = hub.request("GET", f"/users/{user}").json()
        except requests.RequestException:
            continue
        if "" not in model.get("servers", {}):
            return None  # the spawn failed and the hub gave up on it
        time.sleep(0.1)
    return None


def stop_all(hub: Hub, users: list[str]) -> None:
    def stop(u):
        try:
            hub.request("DELETE", f"/users/{u}/server")
        except requests.RequestException:
            pass

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(stop, users))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if not any(hub.request("GET", f"/users/{u}").json().get("servers") for u in users):
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)


def run(hub: Hub, label: str, args, options=None) -> list[dict]:
    rows = []
    names = [f"seq{i:02d}" for i in range(args.sequential)]
    for n in names:
        hub.create_user(n)
    times, fails = [], 0
    for n in names:
        t = spawn_and_wait(hub, n, options, timeout=120)
        fails += t is None
        if t is not None:
            times.append(t)
        stop_all(hub, [n])
    rows.append(
        {"spawner": label, "case": f"{args.sequential} sequential", "times": times, "fails": fails}
    )
    for size in args.bursts:
        names = [f"b{size}u{i:02d}" for i in range(size)]
        for n in names:
            hub.create_user(n)
        with ThreadPoolExecutor(size) as pool:
            results = list(pool.map(lambda n: spawn_and_wait(hub, n, options, timeout=600), names))
        rows.append(
            {
                "spawner": label,
                "case": f"burst of {size}",
                "times": [t for t in results if t is not None],
                "fails": sum(t is None for t in results),
            }
        )
        stop_all(hub, names)
    return rows


def cluster_setup(root: Path) -> str:
    """Start (or find) the test cluster; the config of an `npuhub up` in cluster mode."""
    from tests.cluster_config import cluster_config, node_root
    from tests.slurm_fixture import start_slurm

    conf, _ = start_slurm()
    log_dir = root / "slurm-logs"
    log_dir.mkdir(mode=0o755, exist_ok=True)
    slurm = {"slurm_conf": conf, "device_dir": str(Path(conf).parent / "devices" / "n1"),
             "log_dir": str(log_dir), "partition": "batch"}
    return cluster_config(slurm, node_root(root))


def with_hub(root: Path, config: str, fn):
    hub = new_hub(root)
    hub.extra_config = config.replace("PREFIX", repr(hub.prefix))
    hub.start()
    try:
        return fn(hub)
    finally:
        hub.stop()
        cleanup(hub)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sequential", type=int, default=20)
    p.add_argument("--bursts", type=int, nargs="*", default=[20, 50])
    p.add_argument("--only", choices=["npuhub", "npuhub-1npu", "stock", "cluster"],
                   action="append")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="npuhubbench-"))
    which = args.only or ["stock", "npuhub", "npuhub-1npu"]
    rows: list[dict] = []
    if "stock" in which:
        rows += with_hub(root, STOCK, lambda h: run(h, "stock DockerSpawner", args))
    if "npuhub" in which:
        rows += with_hub(root, "", lambda h: run(h, "npuhub", args, {"profile": "base", "npus": 0}))
    if "npuhub-1npu" in which:
        one = argparse.Namespace(sequential=args.sequential, bursts=[])
        rows += with_hub(
            root, "", lambda h: run(h, "npuhub, 1 NPU", one, {"profile": "base", "npus": 1})
        )
    if "cluster" in which:
        rows += with_hub(root, cluster_setup(root),
                         lambda h: run(h, "npuhub on Slurm", args, {"profile": "npu", "npus": 0}))
    # the baseline of a row: stock DockerSpawner; for cluster mode, npuhub on one host
    base = {r["case"]: r for r in rows if r["spawner"].startswith("stock")}
    single = {r["case"]: r for r in rows if r["spawner"] == "npuhub"}
    print(
        f"\n{'spawner':<22}{'case':<17}{'ok':>5}{'failed':>8}{'p50 s':>8}{'p95 s':>8}"
        f"{'max s':>8}{'p50 vs base':>14}"
    )
    for r in rows:
        t = r["times"]
        p50 = statistics.median(t) if t else float("nan")
        ref = (single if r["spawner"] == "npuhub on Slurm" else base).get(r["case"])
        ratio = ""
        if ref and ref["times"] and t and ref is not r:
            ratio = f"{p50 / statistics.median(ref['times']):.2f}x"
        print(
            f"{r['spawner']:<22}{r['case']:<17}{len(t):>5}{r['fails']:>8}{p50:>8.2f}"
            f"{percentile(t, 0.95):>8.2f}{(max(t) if t else float('nan')):>8.2f}{ratio:>14}"
        )


if __name__ == "__main__":
    main()
