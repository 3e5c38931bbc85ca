"""nbgrader's authoring tools in a user's server (npuhub/base): Validate works on a
notebook npuhub released (nbgrader's own validator accepts its metadata and checksums, and
finds the unanswered cells); nbgrader's exchange, course list and formgrader are off, in
the server and in JupyterLab (assignments travel through npuhub's courses), and so is
Lab's extension manager."""

from __future__ import annotations

import json
import uuid

import nbformat
import pytest
import requests

from npuhub.hub.courses.assignment import release
from tests.unit.test_course_grading import ANSWERS, gid, source

pytestmark = pytest.mark.integration


def put_notebook(hub, user, token, path, nb) -> None:
    r = requests.put(f"{hub.url}/user/{user}/api/contents/{path}",
                     headers={"Authorization": f"token {token}"}, timeout=30,
                     json={"type": "notebook", "format": "json",
                           "content": json.loads(nbformat.writes(nb))})
    assert r.status_code in (200, 201), r.text


def validate(hub, user, token, path) -> dict:
    r = requests.post(f"{hub.url}/user/{user}/assignments/validate",
                      headers={"Authorization": f"token {token}"}, json={"path": path},
                      timeout=180)
    assert r.status_code == 200, r.text
    return r.json()


def test_validate_in_lab_and_the_rest_of_nbgrader_off(hub):
    user = "n" + uuid.uuid4().hex[:8]
    hub.create_user(user)
    token = hub.user_token(user)
    hub.spawn(user, options={"profile": "base", "npus": 0})
    try:
        student, _ = release(source())
        put_notebook(hub, user, token, "unanswered.ipynb", student)
        answered = nbformat.from_dict(json.loads(nbformat.writes(student)))
        for cell in answered.cells:
            if gid(cell) in ANSWERS:
                cell.source = ANSWERS[gid(cell)]
        put_notebook(hub, user, token, "answered.ipynb", answered)

        ok = validate(hub, user, token, "answered.ipynb")
        assert ok == {"success": True, "value": {}}, ok
        todo = validate(hub, user, token, "unanswered.ipynb")
        assert todo["success"] is True and todo["value"].get("failed"), todo
        assert "changed" not in todo["value"]  # npuhub's checksums are nbgrader's

        headers = {"Authorization": f"token {token}"}
        for path in ("formgrader", "assignments", "courses"):
            r = requests.get(f"{hub.url}/user/{user}/{path}", headers=headers, timeout=30,
                             allow_redirects=False)
            assert r.status_code == 404, (path, r.status_code)
        page = requests.get(f"{hub.url}/user/{user}/lab", headers=headers, timeout=30).text
        config = json.loads(page.split('id="jupyter-config-data" type="application/json">')[1]
                            .split("</script>")[0])
        off = set(config["disabledExtensions"])
        assert {"@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list",
                "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:menu"} <= off
        assert not off & {"@jupyter/nbgrader:create-assignment",
                          "@jupyter/nbgrader:validate-assignment"}
        assert any(e["name"] == "@jupyter/nbgrader" for e in config["federated_extensions"])
        # Lab's extension manager is off (nbgrader's Lab extension names PyPI as where it
        # comes from: the manager would ask there from the user's server; a browser test,
        # tests/browser/test_manual_grading.py, checks a Lab session's server asked nothing)
        assert "@jupyterlab/extensionmanager-extension:plugin" in off
    finally:
        hub.stop_server(user)
