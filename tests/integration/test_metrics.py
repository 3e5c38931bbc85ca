"""The platform's Prometheus metrics at /services/npuhub/metrics, against the real stack:
after a spawn and a job they show the held devices, an allocation of each kind and an
NPU-hour counter that grows; without a read:metrics token they are refused, unless the
operator opened them."""

from __future__ import annotations

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import cleanup, new_hub
from tests.integration.test_jobs import FINAL, new_user, submit, wait_job, write_files

pytestmark = pytest.mark.integration


def metrics_url(hub) -> str:
    return f"{hub.url}/services/npuhub/metrics"


def scrape(hub, token=None) -> dict:
    headers = {"Authorization": f"token {token}"} if token else {}
    r = requests.get(metrics_url(hub), headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def test_metrics_after_a_spawn_and_a_job(hub):
    user, token = new_user(hub)
    hub.spawn(user, options={"profile": "base", "npus": 1})
    write_files(hub, user, token, {"sleep.py": "import sys, time\ntime.sleep(float(sys.argv[2]))\n"})
    r = submit(hub, token, source="sleep.py", npus=1, parameters={"seconds": 300})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    assert wait_job(hub, token, job_id, states=("running",) + FINAL, timeout=90)["state"] == "running"

    # refused without a token, with a token lacking read:metrics, and with a bad token
    assert requests.get(metrics_url(hub), timeout=30).status_code == 401
    denied = requests.get(metrics_url(hub), headers={"Authorization": f"token {token}"}, timeout=30)
    assert denied.status_code == 403 and "read:metrics" in denied.json()["message"]
    # an admin's token restricted to read:metrics alone (what a Prometheus scraper holds)
    admin = "m" + user
    hub.create_user(admin, admin=True)
    r = hub.request("POST", f"/users/{admin}/tokens", json={"scopes": ["read:metrics"]})
    assert r.status_code == 201, r.text
    scraper = r.json()["token"]

    first = scrape(hub, scraper)
    held = sum(v for (n, labels), v in first.items() if n == "npuhub_devices" and ("state", "held") in labels)
    assert held >= 2
    assert first[("npuhub_allocations", frozenset({("kind", "server"), ("account", user)}))] == 1
    assert first[("npuhub_allocations", frozenset({("kind", "job"), ("account", user)}))] == 1
    assert first[("npuhub_jobs", frozenset({("state", "running")}))] >= 1
    hours = ("npuhub_npu_hours_total", frozenset({("account", user)}))
    assert first[hours] > 0
    time.sleep(2)
    second = scrape(hub, hub.admin_token)  # the admin service's token works too
    assert second[hours] > first[hours]

    assert hub.request("DELETE", f"/jobs/{job_id}", token=token, base=hub.service).status_code == 200
    hub.stop_server(user)
    third = scrape(hub, scraper)
    assert ("npuhub_allocations", frozenset({("kind", "job"), ("account", user)})) not in third
    assert third[hours] >= second[hours]


def test_metrics_opened_by_the_operator(tmp_root):
    h = new_hub(tmp_root, "c.NPUHub.authenticate_prometheus = False\n")
    h.start()
    try:
        m = scrape(h)  # no token
        free = sum(v for (n, labels), v in m.items() if n == "npuhub_devices" and ("state", "free") in labels)
        assert free == 8
    finally:
        h.stop()
        cleanup(h)
