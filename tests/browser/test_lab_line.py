"""The Lab's status bar shows the user's place in the line for NPUs: a researcher's
batch job waits on a full host, and the status item says where it stands."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import put_file, start_lab

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_the_status_bar_shows_a_waiting_job_s_place_in_line(hub, page, username):
    hub.create_user(username)
    fillers = ["f" + uuid.uuid4().hex[:8] for _ in range(2)]
    try:
        start_lab(page, hub, username, npus=0)
        for name in fillers:  # the 8 NPUs of the host, held by two notebooks
            hub.create_user(name)
            hub.spawn(name, options={"profile": "base", "npus": 4})
        token = hub.user_token(username)
        put_file(hub, username, token, "wait.py", "print('done')\n", kind="file")
        r = hub.request("POST", "/jobs", token=token, base=hub.service,
                        json={"source": "wait.py", "npus": 1})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        status = page.locator(".npuhub-status")
        shown = status_until(page, lambda text: "in line: 1" in text)
        assert shown.startswith("NPU 0 · in line: 1"), shown
        assert f"Job {job_id} waits in the line for NPUs (1): position 1" in (
            status.get_attribute("title") or "")
        hub.stop_server(fillers[0])  # NPUs come free: the job starts, the Lab says so
        status_until(page, lambda text: "in line" not in text)
    finally:
        for name in fillers + [username]:
            if "" in (hub.request("GET", f"/users/{name}").json().get("servers") or {}):
                hub.stop_server(name)


def status_until(page, wanted, tries: int = 30) -> str:
    """Reload the Lab (the status item reads /me when it loads) until its text is
    `wanted`; that text."""
    status = page.locator(".npuhub-status")
    text = ""
    for _ in range(tries):
        page.reload()
        status.wait_for(state="visible", timeout=60_000)
        expect(status).not_to_have_text("NPU …", timeout=30_000)
        text = status.inner_text()
        if wanted(text):
            return text
        page.wait_for_timeout(1000)
    raise AssertionError(f"the status bar still says {text!r}")
