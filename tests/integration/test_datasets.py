"""Datasets through the real stack: the catalog API, live read-only mounts into running
containers (rslave propagation), restore after a server restart and a hub restart, and
the refusals (access, junk names, symlinks out of the source, writes)."""

from __future__ import annotations

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from npuhub.hub.datasets import mounter
from tests.hubclient import Hub, run_code

pytestmark = pytest.mark.integration

READ = "print(open('/home/jovyan/datasets/{name}/{file}').read())"
READ_EACH = """
import errno
for f in {files!r}:
    try:
        print(f, open('/home/jovyan/datasets/{name}/' + f).read())
    except OSError as e:
        print(f, errno.errorcode[e.errno])
"""
WRITE = """
import errno
try:
    open('/home/jovyan/datasets/{name}/new.txt', 'w').write('x')
    print('WROTE')
except OSError as e:
    print(errno.errorcode[e.errno])
"""


@pytest.fixture(scope="module", autouse=True)
def _unmount_at_end(hub):
    """Detach every mount the tests left under the state dir (before it is removed)."""
    yield
    mounter.unmount_all(hub.state_dir)


def new_name(prefix: str = "t") -> str:
    return prefix + uuid.uuid4().hex[:8]


def make_source(hub: Hub, files: dict[str, str]) -> Path:
    src = hub.state_dir.parent / f"{hub.prefix}-src-{uuid.uuid4().hex[:6]}"
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    for d, _, fs in os.walk(src):
        os.chmod(d, 0o777)  # anyone may write the source: only the mount keeps it read-only
        for f in fs:
            os.chmod(os.path.join(d, f), 0o666)
    return src


def declare(hub: Hub, source: Path, access="public", name=None, **fields) -> str:
    name = name or new_name()
    body = {"name": name, "source": str(source), "access": access, **fields}
    r = hub.request("POST", "/datasets", base=hub.service, json=body)
    assert r.status_code == 201, r.text
    return name


def mount(hub: Hub, token: str, name: str, method="POST") -> requests.Response:
    return hub.request(method, f"/datasets/{name}/mount", token=token, base=hub.service)


def user(hub: Hub, groups=()) -> tuple[str, str]:
    name = "d" + uuid.uuid4().hex[:8]
    hub.create_user(name, groups=groups)
    return name, hub.user_token(name)


def in_server(hub: Hub, name: str, token: str, code: str) -> str:
    return run_code(hub, name, token, code).strip()


def host_unmount(hub: Hub, name: str, dataset: str) -> None:
    """What a reboot of the host would do to a mount."""
    assert mounter.unmount(hub.state_dir / "mounts", name, dataset)


def visible(hub: Hub, name: str, path: str) -> bool:
    return hub.container(name).exec_run(["test", "-e", path]).exit_code == 0


def test_mount_live_read_only_remembered_and_restored(hub):
    src = make_source(hub, {"hello.txt": "hello dataset", "sub/a.bin": "0123456789"})
    ds = declare(hub, src, title="Greetings", license="CC0", version="1")
    alice, token = user(hub)
    hub.spawn(alice, options={"profile": "base", "npus": 0})
    listed = {
        d["name"]: d for d in hub.request("GET", "/datasets", token=token, base=hub.service).json()
    }
    assert listed[ds]["mounted"] is False and "source" not in listed[ds]
    path = f"/home/jovyan/datasets/{ds}"
    assert not visible(hub, alice, path)
    r = mount(hub, token, ds)
    assert r.status_code == 200 and r.json() == {"name": ds, "mounted": True, "path": path}
    assert visible(hub, alice, f"{path}/hello.txt")  # live, without a restart
    assert in_server(hub, alice, token, READ.format(name=ds, file="hello.txt")) == "hello dataset"
    assert in_server(hub, alice, token, WRITE.format(name=ds)) == "EROFS"
    assert not (src / "new.txt").exists()
    me = hub.request("GET", "/me", token=token, base=hub.service).json()
    assert {"name": ds, "path": path} in me["datasets"]
    listed = {
        d["name"]: d for d in hub.request("GET", "/datasets", token=token, base=hub.service).json()
    }
    assert listed[ds]["mounted"] is True
    # size and file count are computed and cached
    deadline = time.monotonic() + 20
    while (d := hub.request("GET", f"/datasets/{ds}", token=token, base=hub.service).json())[
        "files"
    ] is None:
        assert time.monotonic() < deadline, d
        time.sleep(0.2)
    assert (d["files"], d["size"]) == (2, 23)

    # server restart: the remembered mount is restored at spawn (even if the host lost it)
    hub.stop_server(alice)
    host_unmount(hub, alice, ds)
    hub.spawn(alice, options={"profile": "base", "npus": 0})
    assert in_server(hub, alice, token, READ.format(name=ds, file="hello.txt")) == "hello dataset"

    # hub restart: the service makes the host match the database for running servers
    hub.stop()
    host_unmount(hub, alice, ds)
    hub.start()
    deadline = time.monotonic() + 30
    while not visible(hub, alice, f"{path}/hello.txt"):
        assert time.monotonic() < deadline, "mount not restored after the hub restart"
        time.sleep(0.3)
    assert in_server(hub, alice, token, WRITE.format(name=ds)) == "EROFS"

    # unmount: gone from the running server, and not restored any more
    r = mount(hub, token, ds, "DELETE")
    assert r.status_code == 200 and r.json()["mounted"] is False
    assert not visible(hub, alice, path)
    assert hub.request("GET", "/me", token=token, base=hub.service).json()["datasets"] == []
    hub.stop_server(alice)


def test_access_by_group(hub):
    group = "g" + uuid.uuid4().hex[:6]
    ds = declare(hub, make_source(hub, {"x.txt": "x"}), access=[group])
    bob, token = user(hub)
    names = [
        d["name"] for d in hub.request("GET", "/datasets", token=token, base=hub.service).json()
    ]
    assert ds not in names
    r = mount(hub, token, ds)
    assert r.status_code == 403 and "may not use" in r.json()["message"]
    assert hub.request("GET", f"/datasets/{ds}", token=token, base=hub.service).status_code == 403
    hub.create_user(bob, groups=[group])
    r = mount(hub, token, ds)
    assert r.status_code == 200, r.text
    assert (hub.state_dir / "mounts" / bob / ds / "x.txt").read_text() == "x"
    # the admin narrows the access: the mount goes away
    r = hub.request("PUT", f"/datasets/{ds}", base=hub.service, json={"access": ["someone-else"]})
    assert r.status_code == 200, r.text
    assert not (hub.state_dir / "mounts" / bob / ds).exists()
    assert mount(hub, token, ds).status_code == 403


def test_admin_only_writes_and_junk_names(hub):
    carol, token = user(hub)
    src = make_source(hub, {"f": "f"})
    r = hub.request(
        "POST", "/datasets", token=token, base=hub.service, json={"name": "x", "source": str(src)}
    )
    assert r.status_code == 403
    r = hub.request("PUT", "/datasets/x", token=token, base=hub.service, json={"source": "/etc"})
    assert r.status_code == 403
    for body in (
        {"name": "../evil", "source": str(src)},
        {"name": "ok-" + uuid.uuid4().hex[:4], "source": "/etc"},
        {"name": "ok-" + uuid.uuid4().hex[:4], "source": str(hub.state_dir)},
        {"name": "ok-" + uuid.uuid4().hex[:4], "source": str(src), "owner": "me"},
    ):
        r = hub.request("POST", "/datasets", base=hub.service, json=body)
        assert r.status_code == 400, (body, r.text)
    # dot segments ("..", "%2e%2e") are resolved by the client or the proxy: another
    # route or none (/datasets/%2E/mount is /datasets/mount: no POST there)
    for raw in ("..", "%2e%2e", "%2E"):
        assert mount(hub, token, raw).status_code in (404, 405)
    # the service itself, behind the proxy, refuses them and every other junk name
    port = json.loads((hub.state_dir / "ports.json").read_text())["service"]
    direct = f"http://127.0.0.1:{port}/services/npuhub/api/v1"
    junk = ("%2e%2e", "..%2F..%2Fetc", "a%2Fb", "a%00b", "a%20b", "UPPER", "%2e", "a..b", "-x")
    for raw in junk:
        for method in ("POST", "DELETE"):
            r = hub.request(method, f"/datasets/{raw}/mount", token=token, base=direct)
            assert r.status_code == 400, (raw, r.status_code, r.text)
            assert "invalid dataset name" in r.json()["message"]
        r = mount(hub, token, raw)
        assert r.status_code in (400, 404, 405), (raw, r.status_code, r.text)
    assert mount(hub, token, "no-such-dataset").status_code == 404
    folder = hub.state_dir / "mounts" / carol
    assert not folder.exists() or os.listdir(folder) == []


def test_symlink_out_of_the_source_is_not_followed(hub):
    secret = hub.state_dir.parent / f"{hub.prefix}-secret.txt"
    secret.write_text("HOST SECRET")
    os.chmod(secret, 0o644)
    src = make_source(hub, {"data.txt": "data", "inner/ok.txt": "ok"})
    (src / "abs").symlink_to(secret)
    (src / "rel").symlink_to(os.path.relpath(secret, src))
    link = hub.state_dir.parent / f"{hub.prefix}-link-{uuid.uuid4().hex[:4]}"
    link.symlink_to(src)
    ds = declare(hub, link)  # the admin's symlink is resolved once, at declaration
    assert hub.request("GET", f"/datasets/{ds}", base=hub.service).json()["source"] == str(src)
    dave, token = user(hub)
    hub.spawn(dave, options={"profile": "base", "npus": 0})
    assert mount(hub, token, ds).status_code == 200
    out = in_server(hub, dave, token, READ_EACH.format(name=ds, files=("abs", "rel")))
    assert "HOST SECRET" not in out
    # nosymfollow: no symlink is followed (without it, these would resolve inside the
    # container, where the host path does not exist)
    assert out.splitlines() == ["abs ELOOP", "rel ELOOP"], out
    assert in_server(hub, dave, token, READ.format(name=ds, file="inner/ok.txt")) == "ok"
    hub.stop_server(dave)


def test_dataset_with_symlinks_true_follows_links_inside_the_container(hub):
    """A Hugging Face cache (snapshots/ → blobs/ links) declared with `symlinks: true`:
    its links work in the container, resolved there (a link to a host file finds nothing
    of the host's); turning it off again remounts the live mount without links."""
    secret = hub.state_dir.parent / f"{hub.prefix}-secret2.txt"
    secret.write_text("HOST SECRET")
    os.chmod(secret, 0o644)
    src = make_source(hub, {"blobs/abc": "weights"})
    (src / "snapshots" / "main").mkdir(parents=True)
    (src / "snapshots" / "main" / "model.bin").symlink_to("../../blobs/abc")
    (src / "abs").symlink_to(secret)
    ds = declare(hub, src, symlinks=True)
    gus, token = user(hub)
    hub.spawn(gus, options={"profile": "base", "npus": 0})
    assert mount(hub, token, ds).status_code == 200
    code = READ_EACH.format(name=ds, files=("snapshots/main/model.bin", "abs"))
    assert in_server(hub, gus, token, code).splitlines() == [
        "snapshots/main/model.bin weights", "abs ENOENT"]
    assert in_server(hub, gus, token, WRITE.format(name=ds)) == "EROFS"
    r = hub.request("PUT", f"/datasets/{ds}", base=hub.service, json={"symlinks": False})
    assert r.status_code == 200 and r.json()["symlinks"] is False, r.text
    assert in_server(hub, gus, token, code).splitlines() == [
        "snapshots/main/model.bin ELOOP", "abs ELOOP"]
    hub.stop_server(gus)


def test_two_users_share_a_dataset_and_cannot_write_or_plant(hub):
    ds = declare(hub, make_source(hub, {"shared.txt": "same for all"}))
    (erin, t1), (frank, t2) = user(hub), user(hub)
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(lambda u: hub.spawn(u, options={"profile": "base", "npus": 0}), [erin, frank])
        )
        codes = list(pool.map(lambda t: mount(hub, t, ds).status_code, [t1, t2]))
    assert codes == [200, 200]
    for name, token in ((erin, t1), (frank, t2)):
        assert (
            in_server(hub, name, token, READ.format(name=ds, file="shared.txt")) == "same for all"
        )
        assert in_server(hub, name, token, WRITE.format(name=ds)) == "EROFS"
        plant = """
import errno, os
for f in (lambda: open('/home/jovyan/datasets/x', 'w'), lambda: os.symlink('/', '/home/jovyan/datasets/y'),
          lambda: os.mkdir('/home/jovyan/datasets/z')):
    try:
        f(); print('CREATED')
    except OSError as e:
        print(errno.errorcode[e.errno])
"""
        assert in_server(hub, name, token, plant).split() == ["EACCES"] * 3
    # an admin removes the dataset: it leaves both running servers
    assert hub.request("DELETE", f"/datasets/{ds}", base=hub.service).status_code == 204
    assert not visible(hub, erin, f"/home/jovyan/datasets/{ds}")
    assert not visible(hub, frank, f"/home/jovyan/datasets/{ds}")
    hub.stop_server(erin)
    hub.stop_server(frank)
