"""The kernel side in the person's language: the catalog of extensions/ is complete, the
language follows the Lab's setting (else NPUHUB_LANG), panels and magics speak Chinese,
and the service's refusals come back in that language (the client asks for it)."""

from __future__ import annotations

import ast
import gettext
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from npuhub.extensions import client, i18n

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "extensions/locale/zh_CN/LC_MESSAGES/npuhub_extensions.po"
MO = PO.with_suffix(".mo")
FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
CJK = r"[\u3400-\u9fff]"


def source_msgids() -> set:
    """Every string extensions/*.py passes to `_`, `N_` or `ngettext` (its pair)."""
    ids = set()
    for py in (ROOT / "extensions").glob("*.py"):
        for node in ast.walk(ast.parse(py.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("_", "N_", "ngettext")):  # fmt: skip
                continue
            args = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if not args:  # `_(STATES[s])`: a message marked with N_ where it is written
                continue
            ids.add(tuple(args[:2]) if node.func.id == "ngettext" else args[0])
    return ids


def catalog() -> dict:
    from babel.messages.pofile import read_po

    with PO.open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


@pytest.fixture
def lang(monkeypatch, tmp_path):
    """Set the person's language: `lang("zh_CN")` through NPUHUB_LANG, no Lab setting."""
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(tmp_path / "lab-settings"))
    monkeypatch.setenv("HOME", str(tmp_path))

    def set_lang(value):
        monkeypatch.setenv("NPUHUB_LANG", value)

    return set_lang


def lab_setting(tmp_path, text: str) -> None:
    path = Path(tmp_path / "lab-settings", *i18n.LAB_LANGUAGE_SETTINGS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- the catalog ----------------------------------------------------------------------


def test_every_string_of_the_kernel_side_is_translated():
    ids, zh = source_msgids(), catalog()
    assert len(ids) > 100  # the scan found the sources
    missing = sorted(str(m) for m in ids if not (zh.get(m) and all(zh[m] if isinstance(
        zh[m], tuple) else [zh[m]])))  # fmt: skip
    assert not missing
    unused = sorted(str(m) for m in set(zh) - ids)
    assert not unused, "in the .po but no longer in the code"
    for msgid in ids:
        english = " ".join(msgid) if isinstance(msgid, tuple) else msgid
        chinese = zh[msgid] if isinstance(zh[msgid], str) else zh[msgid][0]
        assert set(FIELD.findall(chinese)) == set(FIELD.findall(english)), msgid


def test_terms_and_punctuation_of_the_chinese_catalog():
    for msgid, text in catalog().items():
        english = " ".join(msgid) if isinstance(msgid, tuple) else msgid
        texts = [text] if isinstance(text, str) else list(text)
        for t in texts:
            if re.search(r"\bjobs?\b", english):  # a batch job is 任务, never 作业 (homework)
                assert "作业" not in t and "任务" in t or "%job" in t, (msgid, t)
            # full-width punctuation next to Chinese, no space before or after it
            assert not re.search(CJK + r"[,:;()?!]|[,:;(?!]" + CJK, t), (msgid, t)
            assert not re.search(r" [，：；（）。？！]|[，：；（。？！] ", t), (msgid, t)


def test_the_committed_mo_is_the_po_compiled():
    with MO.open("rb") as f:
        mo = gettext.GNUTranslations(f)
    for msgid, text in catalog().items():
        if isinstance(msgid, tuple):
            assert mo.ngettext(*msgid, 2) == text[0], f"stale .mo for {msgid}: run msgfmt"
        else:
            assert mo.gettext(msgid) == text, f"stale .mo for {msgid!r}: run msgfmt"


# --- the person's language --------------------------------------------------------------


def test_language_is_npuhub_lang_without_a_lab_setting(lang):
    lang("zh_CN")
    assert i18n.language() == "zh_CN" and i18n._("Refresh") == "刷新"
    lang("en")
    assert i18n.language() == "en" and i18n._("Refresh") == "Refresh"
    lang("fr_FR")
    assert i18n.language() == "en"


def test_the_lab_setting_wins_and_is_read_again_when_changed(lang, tmp_path):
    lang("zh_CN")
    lab_setting(tmp_path, json.dumps({"locale": "en"}))
    assert i18n.language() == "en"
    # as Lab's settings editor writes it: comments and a trailing comma
    lab_setting(tmp_path, '{\n    // Language\n    "locale": "zh_CN",\n}\n')
    assert i18n.language() == "zh_CN"
    assert i18n.accept_language() == "zh-CN"
    lab_setting(tmp_path, "{not json")  # unreadable: NPUHUB_LANG decides
    lang("en")
    assert i18n.language() == "en"


# --- what a person reads ------------------------------------------------------------------


JOBS = [{"id": 7, "name": "train", "state": "queued", "npus": 2, "source": "t.ipynb",
         "reason": "waiting behind job 5, first in line"},
        {"id": 8, "name": "eval", "state": "running", "npus": 0, "source": "e.py",
         "started": "2026-12-06T10:00:00Z"}]  # fmt: skip


def test_job_panel_in_chinese(lang, monkeypatch):
    from npuhub.extensions.job_panel import JobPanel

    lang("zh_CN")
    monkeypatch.setattr(client, "request", lambda method, resource, **kw: (
        [dict(j) for j in JOBS] if resource == "/jobs" else {"text": "", "done": True}))
    panel = JobPanel()
    try:
        assert panel.submit_button.description == "提交"
        assert panel.time_limit.description == "时间限制"
        text = " ".join(c.children[0].value for c in panel.table.children[1:])
        assert "排队中（排在任务 5 之后，它排在队首）" in text and "运行中" in text
        labels = {b.description for row in panel.table.children[1:] for b in row.children[1:3]}
        assert labels == {"日志", "取消"}
        panel.source.options = []
        panel.on_submit()
        assert "请选择要运行的笔记本或脚本" in panel.status.value
    finally:
        panel.close()


def test_magics_in_chinese(lang, monkeypatch, capsys):
    from npuhub.extensions import magics

    lang("zh_CN")
    monkeypatch.setattr(client, "request", lambda method, resource, **kw: (
        [dict(j) for j in JOBS] if resource == "/jobs" else JOBS[0]))
    magics.run("job", "list")
    out = capsys.readouterr().out
    assert "状态" in out and "排队中" in out and "运行中" in out
    magics.run("job", "status 7")
    assert capsys.readouterr().out.strip() == "任务 7：排队中（排在任务 5 之后，它排在队首）"
    magics.run("job", "submit a.ipynb --like 3")
    assert "%job submit：源文件和 --like ID 只能给出其一" in capsys.readouterr().err
    magics.run("job", "submit a.py --npus two")
    assert capsys.readouterr().err.strip() == (
        "npuhub：%job submit：参数 --npus：不是整数：'two'（参见 %job submit --help）")
    magics.run("dataset", "mount")
    assert capsys.readouterr().err.strip() == (
        "npuhub：%dataset mount：缺少参数：name（参见 %dataset mount --help）")
    lang("en")
    magics.run("job", "status 7")
    assert capsys.readouterr().out.strip() == (
        "job 7: queued (waiting behind job 5, first in line)")


class RefusingService(BaseHTTPRequestHandler):
    """Refuses every job as the service does (hub/service/base.py: the refusal rendered in
    the language of the request's Accept-Language)."""

    def do_POST(self):  # noqa: N802 - http.server's name
        from npuhub.hub import i18n as hub_i18n
        from npuhub.hub.ledger.capacity import CapacityError

        refusal = CapacityError("capacity_all_busy", total=8, waiting=1)
        lang = hub_i18n.negotiate(self.headers.get("Accept-Language"))
        body = json.dumps({"status": refusal.status, **refusal.as_json(lang)}).encode()
        self.send_response(refusal.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_service(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NPUHUB_API_URL", f"http://127.0.0.1:{server.server_port}/api")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t0ken")
    yield
    server.shutdown()
    server.server_close()


def test_a_refusal_of_the_service_reaches_the_magic_in_the_person_s_language(
    lang, refusing_service, tmp_path, capsys
):
    from npuhub.extensions import magics

    (tmp_path / "train.py").write_text("print(1)\n")
    lang("zh_CN")
    magics.run("job", "submit train.py --npus 8")
    assert capsys.readouterr().err.strip() == "npuhub：全部 8 个 NPU 都在使用中（1 人在等待）"
    lab_setting(tmp_path, json.dumps({"locale": "en"}))  # the Lab switched to English
    magics.run("job", "submit train.py --npus 8")
    assert capsys.readouterr().err.strip() == "npuhub: All 8 NPUs are in use (1 user waiting)"
