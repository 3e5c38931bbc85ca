"""%dataset, %job, %course: argument parsing and one-line errors."""

from __future__ import annotations

import pytest

from npuhub.extensions import client, magics
from npuhub.extensions.client import NPUHubError
from npuhub.extensions.magics import UsageError, parse


def test_job_submit_line():
    ns = parse("job", "submit train.ipynb --npus 2 -p lr=0.01 -p epochs=3 -p opt=adam "
                      "--time-limit 1:00:00 --name run1")  # fmt: skip
    assert (ns.command, ns.source, ns.npus, ns.time_limit, ns.name) == (
        "submit", "train.ipynb", 2, "1:00:00", "run1"
    )
    assert ns.parameters == "lr=0.01\nepochs=3\nopt=adam"  # sent as typed: the service reads it


def test_job_submit_quoted_values_and_defaults():
    ns = parse("job", "submit 'my dir/a.py' -p \"msg=hello, world\"")
    assert ns.source == "my dir/a.py" and ns.npus == 0 and ns.time_limit is None
    assert ns.parameters == "msg=hello, world"
    assert parse("job", "submit a.py").parameters is None


@pytest.mark.parametrize(
    ("kind", "line", "expected"),
    [
        ("job", "list", ("list",)),
        ("job", "logs 12", ("logs", "12")),
        ("job", "cancel 12", ("cancel", "12")),
        ("dataset", "list", ("list",)),
        ("dataset", "mount imagenet", ("mount", "imagenet")),
        ("dataset", "unmount imagenet", ("unmount", "imagenet")),
        ("course", "fetch ai101 hw1", ("fetch", "ai101", "hw1")),
        ("course", "submit ai101 hw1", ("submit", "ai101", "hw1")),
        ("course", "feedback ai101 hw1", ("feedback", "ai101", "hw1")),
    ],
)
def test_simple_lines(kind, line, expected):
    ns = parse(kind, line)
    values = [ns.command] + [getattr(ns, k) for k in ("id", "name", "course", "assignment")
                             if hasattr(ns, k)]  # fmt: skip
    assert tuple(values) == expected


@pytest.mark.parametrize(
    ("kind", "line", "match"),
    [
        ("job", "", "required"),
        ("job", "submit", "required"),
        ("job", "submit a.py --npus two", "invalid int"),
        ("job", "explode", "invalid choice"),
        ("dataset", "mount", "required"),
        ("course", "fetch ai101", "required"),
        ("job", "submit 'unclosed", "quotation"),
    ],
)
def test_bad_lines(kind, line, match):
    with pytest.raises(NPUHubError, match=match):
        parse(kind, line)


def test_errors_print_one_line(capsys, monkeypatch):
    def refuse(*a, **k):
        raise NPUHubError("Dataset 'secret' is not shared with you", status=403)

    monkeypatch.setattr(client, "request", refuse)
    magics.run("dataset", "mount secret")
    magics.run("job", "submit")
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "npuhub: Dataset 'secret' is not shared with you"
    assert err[1].startswith("npuhub: %job submit: the following arguments are required")
    assert len(err) == 2


def test_help_does_not_exit(capsys):
    magics.run("job", "--help")
    assert "submit" in capsys.readouterr().out


def test_list_output(capsys, monkeypatch):
    monkeypatch.setattr(client, "request", lambda *a, **k: [
        {"name": "mnist", "title": "MNIST", "size": 11 * 2**20, "mounted": True}])  # fmt: skip
    magics.run("dataset", "list")
    out = capsys.readouterr().out
    assert "mnist" in out and "11.0 MiB" in out and "mounted" in out


def test_load_ext_in_a_real_shell(capsys, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setattr(client, "request", lambda *a, **k: [])
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "npuhub.extensions")
    assert {"dataset", "job", "course"} <= set(ip.magics_manager.magics["line"])
    ip.run_line_magic("job", "list")
    ip.run_line_magic("dataset", "mount ../x")
    captured = capsys.readouterr()
    assert captured.out.strip() == "no jobs"
    assert captured.err.strip().startswith("npuhub: invalid dataset name '../x'")


def test_usage_error_is_an_npuhub_error():
    assert issubclass(UsageError, NPUHubError)


def test_job_submit_like(capsys, monkeypatch):
    ns = parse("job", "submit --like 12 -p lr=0.5")
    assert (ns.source, ns.like, ns.npus, ns.parameters) == (None, 12, None, "lr=0.5")
    with pytest.raises(UsageError, match="a source or --like ID, not both"):
        parse("job", "submit a.py --like 12")
    sent = []
    monkeypatch.setattr(client, "request", lambda m, p, json=None, **k: sent.append(json) or {
        "id": 13, "state": "queued"})  # fmt: skip
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "npuhub.extensions")
    shell.run_line_magic("job", "submit --like 12")
    assert sent == [{"like": 12}]
    assert "submitted job 13 (queued)" in capsys.readouterr().out
