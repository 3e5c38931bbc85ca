"""Tenants kept apart by the network: every user server and batch job on npuhub's own
Docker network (internal, inter-container traffic off), the grader on none; the hub's
listeners on 127.0.0.1 or the network's gateway, never wider.

Probes go only to loopback and to the containers and gateway of this test hub's own
network, and only to the platform's own ports (and PostgreSQL's), never a scan."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import uuid

import docker
import pytest

from npuhub.hub.containers import grader_container
from npuhub.hub.network import plan
from tests.hubclient import Hub, run_code
from tests.integration.test_jobs import full_log, submit, wait_job

pytestmark = pytest.mark.integration
DB_PORT = 5432

PROBE = """
import json, os, socket, urllib.request
def tcp(host, port):
    s = socket.socket()
    s.settimeout(4)
    try:
        s.connect((host, port))
        return "open"
    except OSError as e:
        return type(e).__name__
    finally:
        s.close()
def http(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token
                                 else {})
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except Exception as e:
        return getattr(e, "code", type(e).__name__)
out = {name: tcp(host, port) for name, host, port in TARGETS}
out["sqlite"] = os.path.exists(SQLITE)
for name, env, path in URLS:  # a URL the container was given (env), or its own
    out[name] = http((os.environ[env] if env else "") + path,
                     os.environ.get("JUPYTERHUB_API_TOKEN"))
print("PROBE" + json.dumps(out))
"""


def probe_code(targets: list[tuple[str, str, int]], urls=(), sqlite: str = "") -> str:
    return (f"TARGETS = {targets!r}\nURLS = {list(urls)!r}\nSQLITE = {sqlite!r}\n" + PROBE)


def parse(text: str) -> dict:
    line = next(x for x in text.splitlines() if x.startswith("PROBE"))
    return json.loads(line[len("PROBE"):])


def ports(hub: Hub) -> dict[str, int]:
    return json.loads((hub.state_dir / "ports.json").read_text())


def network_of(hub: Hub):
    return docker.from_env().networks.get(plan(hub.prefix)[0].name)


def gateway(hub: Hub) -> str:
    return network_of(hub).attrs["IPAM"]["Config"][0]["Gateway"]


def address(container, net: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][net]["IPAddress"]


def new_user(hub: Hub) -> tuple[str, str]:
    name = "n" + uuid.uuid4().hex[:8]
    hub.create_user(name)
    return name, hub.user_token(name)


@contextlib.contextmanager
def listening(host: str):
    """A port of the host that is none of the platform's, listening on `host` (the
    test's own: what an operator's other service on that address would be)."""
    with socket.socket() as s:
        s.bind((host, 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.fixture(scope="module")
def other_port(hub):
    with listening(gateway(hub)) as port:
        yield port


def forbidden_targets(hub: Hub, b_ip: str, b_kernel_port: int,
                      other_port: int) -> list[tuple[str, str, int]]:
    """What no tenant's container may reach: another user's server and kernel, the
    hub's internal ports it was not given (proxy API, public port), the database, and
    any other port of the host at the gateway (`other_port`: the test's own listener)."""
    gw, p = gateway(hub), ports(hub)
    return [
        ("host_other_port", gw, other_port),
        ("b_server", b_ip, 8888),
        ("b_kernel", b_ip, b_kernel_port),
        ("b_kernel_at_gateway", gw, b_kernel_port),
        ("proxy_api", gw, p["proxy_api"]),
        ("proxy_api_loopback", "127.0.0.1", p["proxy_api"]),
        ("public", gw, hub.port),
        ("public_loopback", "127.0.0.1", hub.port),
        ("database", gw, DB_PORT),
        ("database_loopback", "127.0.0.1", DB_PORT),
    ]


@pytest.fixture(scope="module")
def two_users(hub):
    """A and B with running servers; B has a kernel running (its ports read inside B's
    container from the kernel's connection file)."""
    (a, a_token), (b, b_token) = new_user(hub), new_user(hub)
    hub.spawn(a, options={"profile": "base", "npus": 0})
    hub.spawn(b, options={"profile": "base", "npus": 0})
    import requests

    r = requests.post(f"{hub.url}/user/{b}/api/kernels", json={},
                      headers={"Authorization": f"token {b_token}"}, timeout=60)
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    read = ("import glob, jupyter_core.paths as p; "
            f"print(open(glob.glob(p.jupyter_runtime_dir() + '/kernel-{kid}.json')[0]).read())")
    code, out = hub.container(b).exec_run(["python", "-c", read], user="1000:100",
                                          environment={"HOME": "/home/jovyan"})
    assert code == 0, out
    conn = json.loads(out)
    yield {"a": a, "a_token": a_token, "b": b, "b_token": b_token, "b_kernel": conn}
    hub.stop_server(a)
    hub.stop_server(b)


def test_servers_run_on_npuhubs_own_network(hub, two_users):
    net = network_of(hub)
    assert net.attrs["Internal"] is True
    assert net.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    for user in (two_users["a"], two_users["b"]):
        c = hub.container(user)
        assert c.attrs["HostConfig"]["NetworkMode"] == net.name
        assert list(c.attrs["NetworkSettings"]["Networks"]) == [net.name]


def test_a_kernel_reaches_only_what_it_was_given(hub, two_users, other_port):
    a, b = two_users["a"], two_users["b"]
    net = network_of(hub).name
    b_ip = address(hub.container(b), net)
    kernel_port = two_users["b_kernel"]["shell_port"]
    targets = forbidden_targets(hub, b_ip, kernel_port, other_port)
    code = probe_code(
        targets,
        urls=[("hub_api", "JUPYTERHUB_API_URL", "/user"),
              ("platform", "NPUHUB_API_URL", "/health"),
              ("own_server", "", f"http://127.0.0.1:8888/user/{a}/api")],
        sqlite=str(hub.state_dir / "npuhub.sqlite"),
    )
    result = parse(run_code(hub, a, two_users["a_token"], code))
    for name, _host, _port in targets:
        assert result[name] != "open", (name, result)
    assert result["sqlite"] is False
    assert result["hub_api"] == 200, result
    assert result["platform"] == 200, result
    assert result["own_server"] == 200, result
    # and from the host, through the proxy, A's own server answers (run_code used it)
    assert hub.container(a).attrs["NetworkSettings"]["Networks"][net]["IPAddress"]


def test_a_batch_job_reaches_nothing_of_other_tenants(hub, two_users, other_port):
    a, a_token, b = two_users["a"], two_users["a_token"], two_users["b"]
    net = network_of(hub).name
    targets = forbidden_targets(hub, address(hub.container(b), net),
                                two_users["b_kernel"]["shell_port"], other_port)
    code = probe_code(targets, sqlite=str(hub.state_dir / "npuhub.sqlite"))
    write = f"open('/home/jovyan/netprobe.py', 'w').write({code!r}); print('ok')"
    assert run_code(hub, a, a_token, write).strip() == "ok"
    r = submit(hub, a_token, source="netprobe.py")
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    done = wait_job(hub, a_token, job_id)
    log = full_log(hub, a_token, job_id)
    assert done["state"] == "succeeded", (done, log)
    result = parse(log)
    for name, _host, _port in targets:
        assert result[name] != "open", (name, result)
    assert result["sqlite"] is False


def test_the_grader_reaches_nothing(hub, two_users, other_port):
    net = network_of(hub).name
    b_ip = address(hub.container(two_users["b"]), net)
    targets = [*forbidden_targets(hub, b_ip, two_users["b_kernel"]["shell_port"], other_port),
               ("hub_api", gateway(hub), ports(hub)["hub_api"]),
               ("service", gateway(hub), ports(hub)["service"])]
    spec = grader_container(
        image="npuhub/base:latest", command=["python", "-c", probe_code(targets)],
        name=f"{hub.prefix}-netgrader", labels={}, memory="256m", cpus=0.5, pids=64,
        log_limit="1m")
    client = docker.from_env()
    c = client.containers.create(**spec)
    try:
        c.start()
        assert c.wait(timeout=120)["StatusCode"] == 0
        result = parse(c.logs().decode())
    finally:
        c.remove(force=True)
    for name, _host, _port in targets:
        assert result[name] != "open", (name, result)


def test_platform_listens_on_loopback_and_the_gateway_only(hub):
    """`ss -ltn`: each of the hub's ports on 127.0.0.1 or the network's gateway, none on
    a wildcard address."""
    wanted = {hub.port, *ports(hub).values()}
    lines = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    seen: dict[int, set[str]] = {}
    for line in lines:
        local = line.split()[3]
        host, _, port = local.rpartition(":")
        if int(port) in wanted:
            seen.setdefault(int(port), set()).add(host.strip("[]"))
    gw = gateway(hub)
    assert seen == {
        hub.port: {"127.0.0.1"},
        ports(hub)["proxy_api"]: {"127.0.0.1"},
        ports(hub)["hub_api"]: {gw},
        ports(hub)["service"]: {"127.0.0.1", gw},
    }


OUTBOUND = """
c.NPUHub.profiles = [
    {"slug": "base", "image": "npuhub/base:latest", "npus": [0]},
    {"slug": "web", "image": "npuhub/base:latest", "npus": [0], "internet": True},
]
"""


@pytest.fixture(scope="module")
def outbound_hub(tmp_root):
    from tests.conftest import cleanup, dump, new_hub

    h = new_hub(tmp_root, extra_config=OUTBOUND)
    h.start()
    h.failed = False
    yield h
    if h.failed:
        dump(h, "outbound hub")
    h.stop()
    cleanup(h)


def test_outbound_is_a_profiles_choice(outbound_hub):
    """A profile with "internet" runs on the deployment's second, non-internal network;
    its server still reaches the hub and the service at the URLs it was given, and not
    another user's server; the others stay on the internal one."""
    hub = outbound_hub
    internal, outbound = plan(hub.prefix)
    (a, a_token), (b, _) = new_user(hub), new_user(hub)
    hub.spawn(a, options={"profile": "web", "npus": 0})
    hub.spawn(b, options={"profile": "base", "npus": 0})
    try:
        out_net = docker.from_env().networks.get(outbound.name)
        assert out_net.attrs["Internal"] is False
        assert out_net.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
        assert list(hub.container(a).attrs["NetworkSettings"]["Networks"]) == [outbound.name]
        assert list(hub.container(b).attrs["NetworkSettings"]["Networks"]) == [internal.name]
        b_ip = address(hub.container(b), internal.name)
        out_gw = out_net.attrs["IPAM"]["Config"][0]["Gateway"]
        with listening(gateway(hub)) as other, listening(out_gw) as other_out:
            targets = [("b_server", b_ip, 8888),
                       ("proxy_api", gateway(hub), ports(hub)["proxy_api"]),
                       ("host_other_port", gateway(hub), other),
                       ("host_other_port_out_gateway", out_gw, other_out)]
            code = probe_code(targets, urls=[("hub_api", "JUPYTERHUB_API_URL", "/user"),
                                             ("platform", "NPUHUB_API_URL", "/health")])
            result = parse(run_code(hub, a, a_token, code))
        for name, _host, _port in targets:
            assert result[name] != "open", (name, result)
        assert (result["hub_api"], result["platform"]) == (200, 200), result
    finally:
        hub.stop_server(a)
        hub.stop_server(b)
