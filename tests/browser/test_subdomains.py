"""User servers on their own origin (`c.JupyterHub.subdomain_host`): the hub at
http://localhost:PORT, each user's server at http://NAME.localhost:PORT (Chromium resolves
*.localhost to loopback). A user's Lab, its npuhub sidebar (which calls the platform
service through the server) and a kernel work there; another user's origin does not open
with the first user's cookies."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, open_sidebar
from tests.conftest import cleanup, new_hub

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="module")
def subdomain_hub(tmp_root):
    h = new_hub(tmp_root)
    h.extra_config = f"c.JupyterHub.subdomain_host = 'http://localhost:{h.port}'\n"
    h.service_host = f"npuhub--service.localhost:{h.port}"
    h.start()
    yield h
    h.stop()
    cleanup(h)


def test_each_users_server_has_its_own_origin(subdomain_hub, page_factory):
    hub = subdomain_hub
    base = f"http://localhost:{hub.port}"
    alice, bob = ("s" + uuid.uuid4().hex[:8] for _ in range(2))
    for name in (alice, bob):
        hub.create_user(name)
    hub.spawn(bob, options={"profile": "base", "npus": 0})

    page = page_factory("en-US")
    login(page, hub, alice, "alice's own passphrase", base=base)
    page.goto(f"{base}/hub/spawn")
    page.select_option("#npus", "1")
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url(re.compile(rf"http://{alice}\.localhost:{hub.port}/user/{alice}/lab.*"),
                      timeout=180_000)
    page.locator("#jp-main-dock-panel").wait_for(state="visible", timeout=60_000)
    # the sidebar reaches the platform service through alice's own server
    panel = open_sidebar(page)
    expect(panel.locator("h3", has_text="Datasets")).to_be_visible()
    expect(page.locator(".npuhub-status")).to_contain_text("NPU 1", timeout=30_000)
    # a kernel runs at this origin
    answer = page.evaluate(
        """async () => {
            const xsrf = document.cookie.match(/_xsrf=([^;]+)/);
            const r = await fetch('api/sessions', {method: 'GET',
                headers: xsrf ? {'X-XSRFToken': decodeURIComponent(xsrf[1])} : {}});
            return [location.origin, r.status];
        }""")
    assert answer == [f"http://{alice}.localhost:{hub.port}", 200]

    # bob's server, on bob's origin, does not open for alice
    page.goto(f"http://{bob}.localhost:{hub.port}/user/{bob}/lab")
    expect(page.locator("#jp-main-dock-panel")).to_have_count(0)
    assert not page.url.startswith(f"http://{bob}.localhost:{hub.port}/user/{bob}/lab")
    # and alice's page may not read bob's server's API across origins
    status = page.evaluate(
        f"""async () => {{
            try {{
                const r = await fetch('http://{bob}.localhost:{hub.port}/user/{bob}/api/contents',
                                      {{credentials: 'include'}});
                return r.status;
            }} catch (e) {{ return 'blocked'; }}
        }}""")
    assert status in ("blocked", 403), status
    hub.stop_server(alice)
    hub.stop_server(bob)
