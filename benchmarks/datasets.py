"""Dataset mount latency: from the REST call `POST .../datasets/{name}/mount` until a file
of the dataset is visible inside the user's running container.

A watcher runs in the container (docker exec, started and ready before the call) and
polls for the file every millisecond; host and container share one clock, so the time it
saw the file minus the time the call started is the latency. Runs on demand (not a test)
on a real `npuhub up`: one user mounting and unmounting a small dataset and one of 10,000
files, then N users mounting the 10,000-file dataset at the same moment.

    .venv/bin/python benchmarks/datasets.py [--repeat 20] [--users 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from npuhub.hub.datasets import mounter  # noqa: E402
from tests.conftest import new_hub, remove_prefixed  # noqa: E402
from tests.hubclient import Hub  # noqa: E402

OPTIONS = {"profile": "base", "npus": 0}
WATCH = """
import os, sys, time
p, end = sys.argv[1], time.time() + 60
print("ready", flush=True)
while not os.path.exists(p):
    if time.time() > end:
        print("timeout", flush=True)
        sys.exit(1)
    time.sleep(0.001)
print("seen", repr(time.time()), flush=True)
"""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def make_dataset(root: Path, files: int) -> tuple[Path, str]:
    """A folder of `files` small files in folders of 100; returns it and its last file."""
    src = root / f"data-{files}"
    last = ""
    for i in range(files):
        d = src / f"d{i // 100:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.bin").write_bytes(os.urandom(64))
        last = f"d{i // 100:03d}/f{i:05d}.bin"
    for d, _, _ in os.walk(src):
        os.chmod(d, 0o755)
    return src, last


class Watcher(threading.Thread):
    """`docker exec` of WATCH in a container; `.ready` once it polls, `.seen` the time."""

    def __init__(self, container, path: str):
        super().__init__(daemon=True)
        self.api, self.cid, self.path = container.client.api, container.id, path
        self.ready, self.seen = threading.Event(), None

    def run(self):
        ex = self.api.exec_create(self.cid, ["python3", "-c", WATCH, self.path])
        out = ""
        for chunk in self.api.exec_start(ex["Id"], stream=True):
            out += chunk.decode()
            if "ready" in out:
                self.ready.set()
        self.ready.set()
        for line in out.splitlines():
            if line.startswith("seen "):
                self.seen = float(line.split()[1])


def mount_and_watch(hub: Hub, users: list[tuple[str, str]], ds: str, file: str) -> list[dict]:
    """All `users` mount `ds` at one moment; per user the API time and the latency."""
    client = docker.from_env()
    watchers = [
        Watcher(client.containers.get(f"{hub.prefix}-{u}--"), f"/home/jovyan/datasets/{ds}/{file}")
        for u, _ in users
    ]
    for w in watchers:
        w.start()
    for w in watchers:
        w.ready.wait(60)
    start = threading.Barrier(len(users))

    def call(user_token):
        _, token = user_token
        start.wait()
        t0 = time.time()
        r = hub.request("POST", f"/datasets/{ds}/mount", token=token, base=hub.service)
        return t0, time.time() - t0, r.status_code

    with ThreadPoolExecutor(len(users)) as pool:
        calls = list(pool.map(call, users))
    rows = []
    for w, (t0, api, status) in zip(watchers, calls, strict=True):
        w.join(60)
        ok = status == 200 and w.seen is not None
        rows.append({"api": api, "visible": (w.seen - t0) if ok else None})
    with ThreadPoolExecutor(len(users)) as pool:
        list(
            pool.map(
                lambda ut: hub.request(
                    "DELETE", f"/datasets/{ds}/mount", token=ut[1], base=hub.service
                ),
                users,
            )
        )
    return rows


def declare(hub: Hub, name: str, src: Path) -> float:
    """Declare a dataset; seconds until its file count is known (the cached scan)."""
    t0 = time.monotonic()
    r = hub.request("POST", "/datasets", base=hub.service, json={"name": name, "source": str(src)})
    assert r.status_code == 201, r.text
    while hub.request("GET", f"/datasets/{name}", base=hub.service).json()["files"] is None:
        time.sleep(0.05)
    return time.monotonic() - t0


def spawn(hub: Hub, names: list[str]) -> list[tuple[str, str]]:
    for n in names:
        hub.create_user(n)
    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(lambda n: hub.spawn(n, options=OPTIONS, timeout=900), names))
    return [(n, hub.user_token(n)) for n in names]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--repeat", type=int, default=20, help="mounts of one user, per dataset")
    p.add_argument("--users", type=int, default=20, help="users mounting at once")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the users at once")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="npuhubbench-"))
    os.chmod(root, 0o755)
    small, small_file = make_dataset(root, 1)
    big, big_file = make_dataset(root, 10_000)
    hub = new_hub(root)
    hub.start()
    rows, notes = [], []
    try:
        notes.append(f"scan of 10,000 files: {declare(hub, 'bench-big', big):.2f} s")
        declare(hub, "bench-small", small)
        one = spawn(hub, ["solo"])
        for ds, file, label in (
            ("bench-small", small_file, "1 file, 1 user"),
            ("bench-big", big_file, "10,000 files, 1 user"),
        ):
            got = [r for _ in range(args.repeat) for r in mount_and_watch(hub, one, ds, file)]
            rows.append((label, got))
        hub.stop_server("solo")
        many = spawn(hub, [f"u{i:02d}" for i in range(args.users)])
        got = [
            r for _ in range(args.rounds) for r in mount_and_watch(hub, many, "bench-big", big_file)
        ]
        rows.append((f"10,000 files, {args.users} users at once", got))
    finally:
        hub.stop()
        remove_prefixed(hub.prefix)
        mounter.unmount_all(hub.state_dir)
    print(
        f"\n{'case':<34}{'mounts':>7}{'failed':>7}{'API p50 ms':>12}{'API p95 ms':>12}"
        f"{'visible p50 ms':>16}{'visible p95 ms':>16}{'max ms':>9}"
    )
    for label, got in rows:
        api = [r["api"] * 1000 for r in got]
        vis = [r["visible"] * 1000 for r in got if r["visible"] is not None]
        print(
            f"{label:<34}{len(got):>7}{len(got) - len(vis):>7}{percentile(api, 0.5):>12.1f}"
            f"{percentile(api, 0.95):>12.1f}{percentile(vis, 0.5):>16.1f}"
            f"{percentile(vis, 0.95):>16.1f}{(max(vis) if vis else float('nan')):>9.1f}"
        )
    for n in notes:
        print(n)


if __name__ == "__main__":
    main()
