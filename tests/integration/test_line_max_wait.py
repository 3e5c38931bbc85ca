"""The longest wait in the line, through the real stack: on a one-NPU host with
`c.NPUHub.line_max_wait` shortened, a second request waits with a position, then is refused
with a sentence that says why (in the language of the browser that asked), leaves the line
and holds nothing; the first user's server is untouched."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import cleanup, new_hub
from tests.integration.test_line import BASE, _spawn_zh, progress_until, queue, until

pytestmark = pytest.mark.integration

CONFIG = "c.NPUHub.simulated_npus = 1\nc.NPUHub.line_max_wait = 6\n"


def test_a_request_that_waits_too_long_is_refused_and_leaves_the_line(tmp_root):
    h = new_hub(tmp_root, extra_config=CONFIG)
    h.start()
    try:
        holder, waiter = ("w" + uuid.uuid4().hex[:8] for _ in range(2))
        for name in (holder, waiter):
            h.create_user(name)
        h.spawn(holder, options=BASE)
        with ThreadPoolExecutor(1) as pool:
            post = pool.submit(_spawn_zh, h, waiter)  # from a browser that prefers Chinese
            entry = until("the waiter in the line",
                          lambda: [e for e in queue(h) if e["user"] == waiter])
            assert entry[0]["position"] == 1
            r = post.result()
        # JupyterHub answers the POST when the spawn ends or after its slow-spawn timeout
        # (10 s): the refusal comes in the answer, or in the spawn page's progress stream
        if r.status_code == 202:
            refusal = progress_until(h, waiter, "在最长排队时间", "zh-CN", timeout=60)
        else:
            assert r.status_code == 503, r.text
            refusal = r.json()["message"]
        assert "在最长排队时间" in refusal and "请稍后再试" in refusal, refusal
        assert "HTTP" not in refusal and "Traceback" not in refusal
        until("the waiter gone from the line",
              lambda: all(e["user"] != waiter for e in queue(h)))
        model = until("the refused server gone",
                      lambda: (m := h.request("GET", f"/users/{waiter}").json())
                      and "" not in (m.get("servers") or {}) and m)
        assert model["name"] == waiter
        held = [d["holder"]["user"] for d in h.request("GET", "/devices", base=h.service).json()
                if d["holder"]]
        assert held == [holder]
        assert h.request("GET", f"/users/{holder}").json()["servers"][""]["ready"]
    finally:
        h.stop()
        cleanup(h)
