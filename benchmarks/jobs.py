"""Batch jobs: submit-to-running latency and jobs per minute for short jobs, the local
backend beside the Slurm backend, each on a real `npuhub up` (the Slurm one against the
one-node cluster of scripts/start-slurm, 4 NPUs; the local one has 8 simulated NPUs).

Every job is a 1-NPU script that prints a line and exits (`python -m
npuhub.extensions.jobrunner quick.py {}` in npuhub/base). Latencies come from the
service's own timestamps: `started - submitted` (the container runs; for Slurm, the
service has seen Slurm start it) and `finished - submitted` (the end is recorded).
`sequential`: one job at a time; `burst of N`: N jobs submitted at once, jobs per minute
from the first submission to the last recorded end. Both hubs tick every 0.5 s.

    .venv/bin/python benchmarks/jobs.py [--sequential 10] [--burst 20] [--only local|slurm]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import new_hub, remove_prefixed  # noqa: E402
from tests.hubclient import Hub, run_code  # noqa: E402

FINAL = ("succeeded", "failed", "cancelled", "timed_out")
COMMON = "c.JobsConfig.poll_interval = 0.5\nc.NPUHub.watch_interval = 600\n"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def seconds(job: dict, key: str) -> float | None:
    if not job.get(key):
        return None
    return (
        datetime.fromisoformat(job[key]) - datetime.fromisoformat(job["submitted"])
    ).total_seconds()


def prepare(hub: Hub) -> str:
    """A user whose home holds quick.py; the default quota raised to the node's NPUs."""
    r = hub.request(
        "PUT", "/quotas/*", base=hub.service, json={"max_npus": 8, "max_npus_per_server": 8}
    )
    assert r.status_code == 200, r.text
    hub.create_user("bench")
    token = hub.user_token("bench")
    hub.spawn("bench", options={"profile": "base", "npus": 0})
    code = "open('/home/jovyan/quick.py', 'w').write(\"print('quick job done')\\n\"); print('ok')"
    assert run_code(hub, "bench", token, code).strip() == "ok"
    hub.stop_server("bench")
    return token


def submit(hub: Hub, token: str) -> int:
    r = hub.request(
        "POST",
        "/jobs",
        token=token,
        base=hub.service,
        json={"source": "quick.py", "npus": 1, "name": "npuhubtest-bench"},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def wait_all(hub: Hub, token: str, ids: list[int], timeout: float = 900) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = {
            j["id"]: j for j in hub.request("GET", "/jobs", token=token, base=hub.service).json()
        }
        if all(jobs[i]["state"] in FINAL for i in ids):
            return [jobs[i] for i in ids]
        time.sleep(0.2)
    raise RuntimeError(f"jobs not done after {timeout}s")


def run(hub: Hub, label: str, args) -> list[dict]:
    token = prepare(hub)
    rows = []
    jobs = []
    for _ in range(args.sequential):
        jobs += wait_all(hub, token, [submit(hub, token)])
    rows.append(row(label, f"{args.sequential} sequential", jobs, None))
    t0 = time.monotonic()
    ids = [submit(hub, token) for _ in range(args.burst)]
    jobs = wait_all(hub, token, ids)
    rows.append(row(label, f"burst of {args.burst}", jobs, time.monotonic() - t0))
    return rows


def row(label: str, case: str, jobs: list[dict], wall: float | None) -> dict:
    ok = [j for j in jobs if j["state"] == "succeeded"]
    start = [s for j in ok if (s := seconds(j, "started")) is not None]
    done = [s for j in ok if (s := seconds(j, "finished")) is not None]
    if wall is None:
        wall = sum(done)
    return {
        "backend": label,
        "case": case,
        "ok": len(ok),
        "failed": len(jobs) - len(ok),
        "start": start,
        "done": done,
        "per_min": 60 * len(ok) / wall if wall else float("nan"),
    }


def with_hub(root: Path, config: str, fn):
    hub = new_hub(root, extra_config=COMMON + config)
    hub.start()
    try:
        return fn(hub)
    finally:
        hub.stop()
        remove_prefixed(hub.prefix)


def slurm_config(root: Path) -> str:
    from tests.slurm_fixture import start_slurm

    conf, _ = start_slurm()
    logs = root / "slurm-logs"
    logs.mkdir(mode=0o755)
    return (
        "c.JobsConfig.backend = 'slurm'\nc.JobsConfig.slurm_partition = 'npu'\n"
        f"c.JobsConfig.slurm_conf = {conf!r}\n"
        f"c.JobsConfig.slurm_device_dir = {str(Path(conf).parent / 'devices')!r}\n"
        f"c.JobsConfig.slurm_log_dir = {str(logs)!r}\n"
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sequential", type=int, default=10)
    p.add_argument("--burst", type=int, default=20)
    p.add_argument("--only", choices=["local", "slurm"], action="append")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="npuhubbench-"))
    root.chmod(0o755)
    which = args.only or ["local", "slurm"]
    rows: list[dict] = []
    try:
        if "local" in which:
            rows += with_hub(root, "", lambda h: run(h, "local (8 NPUs)", args))
        if "slurm" in which:
            rows += with_hub(root, slurm_config(root), lambda h: run(h, "slurm (4 NPUs)", args))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"\n{'backend':<16}{'case':<16}{'ok':>4}{'failed':>7}{'start p50':>11}{'start p95':>11}"
        f"{'done p50':>10}{'done p95':>10}{'jobs/min':>10}"
    )
    for r in rows:
        print(
            f"{r['backend']:<16}{r['case']:<16}{r['ok']:>4}{r['failed']:>7}"
            f"{statistics.median(r['start']) if r['start'] else float('nan'):>10.2f}s"
            f"{percentile(r['start'], 0.95):>10.2f}s"
            f"{statistics.median(r['done']) if r['done'] else float('nan'):>9.2f}s"
            f"{percentile(r['done'], 0.95):>9.2f}s{r['per_min']:>10.1f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
