"""Test-side helpers: a running `npuhub up`, its REST API, users, kernels."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests
import websocket

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Hub:
    """A real `npuhub up` subprocess in its own state dir, on its own port."""

    state_dir: Path
    prefix: str
    port: int = field(default_factory=free_port)
    extra_config: str = ""
    proc: subprocess.Popen | None = None
    # with c.JupyterHub.subdomain_host the proxy routes the platform service by host name
    # (npuhub--service.DOMAIN:PORT), which this machine does not resolve: sent as Host
    service_host: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/hub/api"

    @property
    def service(self) -> str:
        return f"{self.url}/services/npuhub/api/v1"

    @property
    def config_file(self) -> Path:
        return self.state_dir.parent / f"{self.prefix}-config.py"

    @property
    def log(self) -> Path:
        return self.state_dir / "hub.log"

    @property
    def admin_token(self) -> str:
        return (self.state_dir / "admin.token").read_text().strip()

    def write_config(self) -> None:
        self.config_file.write_text(
            f"c.NPUSpawner.prefix = {self.prefix!r}\n"
            "c.NPUHub.simulated_npus = 8\n"
            "c.NPUHub.poll_interval = 2\n"
            "c.NPUHub.mem_limit = '1G'\n"
            # every test logs in from 127.0.0.1: only accounts slow down, not the address
            "c.NPUHubAuthenticator.login_free_failures_per_address = 1000\n"
            # students in tests resubmit at once; the spacing is tested on the store
            # (tests/unit/test_course_submission_limits.py), the cap here
            "c.NPUHub.submission_min_interval = 0\n"
            "c.NPUHub.submission_max_attempts = 4\n"
            # release times come within a second (default 30 s)
            "c.NPUHub.course_release_interval = 1\n"
            + self.extra_config
        )

    def start(self, timeout: float = 120) -> None:
        self.write_config()
        env = dict(os.environ, NPUHUB_STATE_DIR=str(self.state_dir))
        self.stdout = self.state_dir.parent / f"{self.prefix}-up.out"
        ups = self.stdout.read_text().count("npuhub is up at") if self.stdout.exists() else 0
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "npuhub.hub.cli",
                "--config",
                str(self.config_file),
                "up",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=open(self.stdout, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        # ready when `npuhub up` says so (its own check: the hub through the public port,
        # the platform service), counted from this start (the file keeps earlier runs)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"npuhub up exited {self.proc.returncode}: {self.stdout.read_text()}"
                )
            if self.stdout.read_text().count("npuhub is up at") > ups:
                return
            time.sleep(0.25)
        raise RuntimeError(f"npuhub up did not become ready: {self.stdout.read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    # ------------------------------------------------------------------ REST

    def request(self, method, path, token=None, base=None, **kw) -> requests.Response:
        headers = {"Authorization": f"token {token or self.admin_token}"}
        if self.service_host and base == self.service:
            headers["Host"] = self.service_host
        return requests.request(
            method, (base or self.api) + path, headers=headers, timeout=60, **kw
        )

    def create_user(self, name: str, groups=(), admin=False) -> None:
        r = self.request("POST", f"/users/{name}", json={"admin": admin})
        assert r.status_code in (201, 409), r.text
        for g in groups:
            self.request("POST", f"/groups/{g}")
            r = self.request("POST", f"/groups/{g}/users", json={"users": [name]})
            assert r.status_code == 200, r.text

    def user_token(self, name: str) -> str:
        r = self.request("POST", f"/users/{name}/tokens", json={"note": "test"})
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def activation_link(self, name: str, token=None, **body) -> requests.Response:
        """POST …/users/NAME/activation (as the admin, or with `token`)."""
        return self.request("POST", f"/users/{name}/activation", token=token,
                            base=self.service, json=body)

    def activate(self, name: str, password: str) -> bool:
        """Activate a pending account with `password` through a new one-time link, as its
        owner would; False if it was active already."""
        r = self.activation_link(name)
        if r.status_code == 409:
            return False
        assert r.status_code == 201, r.text
        r = use_link(r.json()["url"], password)
        assert r.status_code == 200 and 'id="npuhub-done"' in r.text, r.text
        return True

    def login(self, name: str, password: str) -> requests.Session:
        """Log in through the login form, as a browser would; a pending account is
        activated with `password` first."""
        self.activate(name, password)
        s = requests.Session()
        s.get(f"{self.url}/hub/login", timeout=30)
        r = s.post(
            f"{self.url}/hub/login?next=",
            data={"username": name, "password": password, "_xsrf": s.cookies.get("_xsrf")},
            allow_redirects=False,
            timeout=30,
        )
        assert r.status_code == 302, f"login of {name} failed: {r.status_code}"
        return s

    def spawn(self, name: str, token=None, options=None, wait=True, timeout=300, server=""):
        path = f"/users/{name}/server" + (f"s/{server}" if server else "")
        r = self.request("POST", path, token=token, json=options or {})
        if not wait or r.status_code >= 400:
            return r
        self.wait_ready(name, timeout=timeout, server=server)
        return r

    def wait_ready(self, name: str, timeout=300, server="") -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.request("GET", f"/users/{name}").json()
            s = model.get("servers", {}).get(server)
            if s and s.get("ready"):
                return s
            if not s or not (s.get("pending") or s.get("ready")):
                raise AssertionError(f"server of {name} is not starting: {model}")
            time.sleep(0.5)
        raise AssertionError(f"server of {name} not ready after {timeout}s")

    def stop_server(self, name: str, server="") -> None:
        path = f"/users/{name}/server" + (f"s/{server}" if server else "")
        r = self.request("DELETE", path)
        assert r.status_code in (202, 204), r.text
        self.wait_stopped(name, server=server)

    def wait_stopped(self, name: str, server="", timeout=60) -> None:
        """Until the server is gone from the user's model (a stop may be pending)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.request("GET", f"/users/{name}").json()
            if server not in model.get("servers", {}):
                return
            time.sleep(0.3)
        raise AssertionError(f"server of {name} did not stop")

    def container(self, name: str, server=""):
        import docker

        return docker.from_env().containers.get(f"{self.prefix}-{name}--{server}")


def use_link(url: str, password: str, confirm: str | None = None,
             session: requests.Session | None = None) -> requests.Response:
    """Open an activation link and choose a password on its page, as a browser would."""
    from urllib.parse import parse_qs, urlsplit

    s = session or requests.Session()
    s.get(url, timeout=30)
    token = parse_qs(urlsplit(url).query).get("token", [""])[0]
    return s.post(url.split("?")[0], timeout=30, allow_redirects=False, data={
        "token": token, "password": password,
        "password_confirm": password if confirm is None else confirm,
        "_xsrf": s.cookies.get("_xsrf", "")})


def run_code(hub: Hub, user: str, token: str, code: str, timeout: float = 60) -> str:
    """Start a kernel in the user's server through the proxy, run `code`, return the text
    of its result (execute_result or stream output)."""
    base = f"{hub.url}/user/{user}/api"
    headers = {"Authorization": f"token {token}"}
    r = requests.post(f"{base}/kernels", headers=headers, json={}, timeout=60)
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{hub.port}/user/{user}/api/kernels/{kid}/channels",
        header=[f"Authorization: token {token}"],
        timeout=timeout,
    )
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": user,
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                },
            }
        )
    )
    out = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            t = msg["msg_type"]
            if t == "execute_result":
                out.append(msg["content"]["data"]["text/plain"])
            elif t == "stream":
                out.append(msg["content"]["text"])
            elif t == "error":
                out.append("ERROR: " + msg["content"]["ename"] + ": " + msg["content"]["evalue"])
            elif t == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        ws.close()
        requests.delete(f"{base}/kernels/{kid}", headers=headers, timeout=30)
    return "".join(out)
