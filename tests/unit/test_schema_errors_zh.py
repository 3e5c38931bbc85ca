"""A body that does not fit its model is refused in the person's language: the English
answer keeps pydantic's wording (naming the field), the Chinese one comes from the
catalog (msgctxt "schema"), with the same field names and numbers."""

from __future__ import annotations

import re

import pytest

from npuhub.hub.schemas import SchemaError, validate
from npuhub.hub.schemas.courses import CourseDecl
from npuhub.hub.schemas.jobs import JobRequest


def refusal(model, data) -> SchemaError:
    with pytest.raises(SchemaError) as e:
        validate(model, data)
    return e.value


def chinese_only(text: str, names=()) -> list[str]:
    """Latin words of `text` outside the names it may quote."""
    words = re.findall(r"[A-Za-z][A-Za-z_]*", text)
    return [w for w in words if w not in names and w not in ("true", "false")]


def test_a_number_over_its_limit():
    e = refusal(JobRequest, {"source": "train.py", "npus": 65})
    assert str(e) == e.message("en")
    assert "npus" in str(e) and "64" in str(e)
    assert e.message("zh_CN") == "npus：不能大于 64"


def test_unknown_missing_and_wrong_kinds():
    e = refusal(JobRequest, {"source": "train.py", "gpus": 1})
    zh = e.message("zh_CN")
    assert zh.startswith("未知字段 'gpus'；可用字段：") and "npus" in zh
    assert refusal(JobRequest, {"source": "x.py", "npus": "two"}).message("zh_CN") == (
        "npus：应为整数")
    zh = refusal(CourseDecl, {}).message("zh_CN")
    assert "缺少（必填）" in zh
    assert chinese_only(zh, names=CourseDecl.model_fields) == [], zh


def test_several_problems_are_joined_and_counted_in_chinese():
    e = refusal(CourseDecl, {"id": "", "title": 1, "students": 3, "npus_per_student": -1,
                             "late_policy": 2})
    zh = e.message("zh_CN")
    assert zh.count("；") >= 2 and "；" not in zh.split("（另有")[-1] or "（另有" not in zh
    assert "(and" not in zh and "should" not in zh and "expected" not in zh, zh


def test_a_body_that_is_not_a_mapping():
    e = refusal(JobRequest, ["train.py"])
    assert e.message("zh_CN") == "JobRequest：应为映射（JSON 对象）"


def test_the_service_answers_in_the_requests_language():
    """APIHandler.body: the 400's message is the refusal in the Accept-Language."""
    from tornado import web

    from npuhub.hub.service.base import APIHandler

    class Probe:
        lang = "zh_CN"
        json_body = staticmethod(lambda: {"source": "x.py", "npus": 65})

    with pytest.raises(web.HTTPError) as e:
        APIHandler.body(Probe(), JobRequest)
    assert e.value.status_code == 400
    assert e.value.log_message % e.value.args == "npus：不能大于 64"


def test_a_field_that_fits_none_of_its_forms_says_what_it_expects_in_chinese():
    e = refusal(CourseDecl, {"id": "c", "title": "t", "students": 3})
    assert str(e) == "students: expected user names, or the name of an existing group"
    assert e.message("zh_CN") == "students：应为用户名，或一个已有组的名称"


def test_every_input_field_description_is_in_the_catalog():
    """What a field expects reaches a Chinese message: each description of a body's field
    has a translation (msgctxt "schema")."""
    import importlib
    import pkgutil

    import npuhub.hub.schemas as schemas
    from npuhub.hub import i18n
    from npuhub.hub.schemas import base

    t = i18n.translation("zh_CN")
    missing = []
    for info in pkgutil.iter_modules(schemas.__path__):
        module = importlib.import_module(f"npuhub.hub.schemas.{info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, base.Body)
                    and obj.__module__ == module.__name__):
                for field in obj.model_fields.values():
                    d = field.description
                    if d and t.pgettext("schema", d) == d:
                        missing.append(d)
    assert missing == []
