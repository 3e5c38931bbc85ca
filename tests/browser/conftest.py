"""Browser fixtures: Debian's chromium driven by Playwright (its own browser download is
blocked here). A page that fails its test leaves a screenshot in tests/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="session")
def browser():
    from playwright import sync_api  # a test dependency: missing means failing, not skipped

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _save_screenshots(request, pages) -> None:
    rep = getattr(request.node, "rep_call", None)
    if rep is None or not rep.failed:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    for i, p in enumerate(pages):
        try:
            path = ARTIFACTS / f"{name}-{i}.png"
            p.screenshot(path=str(path), full_page=True)
            (ARTIFACTS / f"{name}-{i}.html").write_text(p.content())
            print(f"screenshot: {path}")
        except Exception as e:  # a closed page must not hide the test's own failure
            print(f"no screenshot of page {i}: {e}")


@pytest.fixture
def page_factory(request, browser):
    """new(locale) -> a fresh page in its own context (own cookies), for several users or
    languages. Pages of a failed test are saved as screenshots before they close."""
    contexts, pages = [], []

    def new(locale: str = "en-US"):
        context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 900})
        context.set_default_timeout(30_000)
        contexts.append(context)
        pages.append(context.new_page())
        return pages[-1]

    yield new
    _save_screenshots(request, pages)
    for c in contexts:
        c.close()


@pytest.fixture
def page(page_factory):
    """A fresh English page."""
    return page_factory("en-US")


def login(page, hub, name: str, password: str = "correct horse battery",
          base: str | None = None) -> None:
    """Sign in through the hub's login form at `base` (default the hub's URL); a pending
    account is activated with `password` first, through its one-time link."""
    hub.activate(name, password)
    page.goto(f"{base or hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(lambda url: "/hub/login" not in url)


def start_lab(page, hub, name: str, npus: int = 0, profile: str | None = None) -> None:
    """Sign in, choose a profile card and the NPUs on the spawn page, start, wait for
    JupyterLab."""
    login(page, hub, name)
    page.goto(f"{hub.url}/hub/spawn")
    if profile:
        page.click(f".npuhub-card[data-profile={profile}]")
    page.select_option("#npus", str(npus))
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/user/{name}/lab.*"), timeout=180_000)
    page.locator("#jp-main-dock-panel").wait_for(state="visible", timeout=60_000)


def open_sidebar(page):
    """The npuhub sidebar, opened from its tab in the left side bar."""
    panel = page.locator("#npuhub-sidebar")
    if not panel.is_visible():  # a click on the tab of the open sidebar would close it
        page.click('.lm-TabBar-tab[data-id="npuhub-sidebar"]')
    panel.wait_for(state="visible")
    return panel


NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
               "outputs": [], "source": "print('trained', 6 * 7)"}],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def put_file(hub, user, token, path, content, kind="notebook"):
    r = requests.put(f"{hub.url}/user/{user}/api/contents/{path}",
                     headers={"Authorization": f"token {token}"},
                     json={"type": kind, "format": "json" if kind == "notebook" else "text",
                           "content": content}, timeout=30)
    assert r.status_code in (200, 201), r.text


# Latin words a Chinese screen may show: product and unit names, time zones; a test adds
# its own names (users, courses, files)
LATIN_OK = {"npuhub", "NPU", "NPUs", "CSV", "GMT", "UTC", "CST", "ipynb", "html", "py", "h",
            "B", "KB", "MB", "GB"}


def english_words(text: str, allowed=()) -> list[str]:
    """The Latin words of a screen's visible text outside `allowed` and LATIN_OK: on a
    Chinese screen, each is an English string that escaped translation."""
    ok = LATIN_OK | set(allowed)
    text = re.sub(r"~/[^\s，。：；）]*", " ", text)  # paths in the user's home are names
    return [w for w in re.findall(r"[A-Za-z][A-Za-z_]*", text)
            if w not in ok and not any(w in a for a in allowed)]


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def screenshot(page, name: str) -> None:
    """With NPUHUB_SCREENSHOTS=1 a journey saves what the person sees for the README
    (docs/screenshots/NAME.png, the left part of the window where npuhub's UI is)."""
    import os

    if os.environ.get("NPUHUB_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"),
                    clip={"x": 0, "y": 0, "width": 1100, "height": 640})
