"""The labextension's zh_CN catalog: in the format JupyterLab's translator reads, and
complete for every string the sidebar, status item and menu pass to `trans.__`."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "extensions/locale/zh_CN/LC_MESSAGES/npuhub_labextension.json"
JOB_STATES = ("queued", "starting", "running", "succeeded", "failed", "cancelled",
              "timed_out")
STRING = r"'((?:[^'\\]|\\.)*)'"


def literal_msgids() -> set[str]:
    """Every msgid the sources pass to the translator (`trans.__`, `t.__`, and the
    singular of `_n`)."""
    ids = set()
    for ts in (ROOT / "labextension/src").glob("*.ts"):
        ids |= set(re.findall(r"\b(?:trans|t)\.__\(" + STRING, ts.read_text()))
    return ids | set(plural_msgids())


def plural_msgids() -> list[str]:
    ids = []
    for ts in (ROOT / "labextension/src").glob("*.ts"):
        ids += re.findall(r"\._n\(\s*" + STRING + r",\s*'", ts.read_text())
    return ids


def test_header_is_what_lab_s_translator_expects():
    header = json.loads(CATALOG.read_text())[""]
    # Lab looks messages up under its locale with a dash ("zh-CN"): "zh_CN" never matches
    assert header["language"] == "zh-CN"
    assert header["domain"] == "npuhub_labextension"
    assert header["plural_forms"]


def test_every_string_of_the_extension_is_translated():
    catalog = json.loads(CATALOG.read_text())
    msgids = literal_msgids()
    assert len(msgids) > 30  # the scan found the sources
    wanted = msgids | set(JOB_STATES)
    missing = sorted(m for m in wanted if not (catalog.get(m) and all(catalog[m])))
    assert not missing
    for msgid in msgids:
        placeholders = sorted(set(re.findall(r"%\d", msgid)))
        assert sorted(set(re.findall(r"%\d", catalog[msgid][0]))) == placeholders, msgid


def test_plurals_have_the_forms_lab_s_translator_needs():
    """Lab ignores a plural msgid whose translation has a single form (gettext.ts
    checks length > 1), so `_n` fell back to English: each needs at least two."""
    catalog = json.loads(CATALOG.read_text())
    assert len(plural_msgids()) >= 3
    for msgid in plural_msgids():
        assert len(catalog[msgid]) >= 2, msgid
