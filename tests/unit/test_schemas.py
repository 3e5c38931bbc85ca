"""The declared shapes (npuhub.hub.schemas): what people send is refused field by field
with a sentence naming the field, files of `npuhub apply -f` included; the generated
OpenAPI document describes every route with valid JSON Schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from npuhub.hub.apply import ApplyError, check_document
from npuhub.hub.ledger.quota import LIMIT_FIELDS
from npuhub.hub.schemas import SchemaError, validate
from npuhub.hub.schemas.courses import CourseDecl, Files
from npuhub.hub.schemas.datasets import DatasetChange, DatasetSpec
from npuhub.hub.schemas.jobs import JobRequest
from npuhub.hub.schemas.quotas import QuotaLimits, QuotaPolicyDoc
from npuhub.hub.service.routes import ROUTES, openapi

FILE = Path("cluster.yaml")


def refusal(model, data) -> str:
    with pytest.raises(SchemaError) as e:
        validate(model, data)
    return str(e.value)


def test_a_typo_in_a_node_file_names_the_field_instead_of_becoming_a_default():
    doc = {"kind": "Node", "name": "n1", "tpye": "Ascend310P", "devices": 4}
    with pytest.raises(ApplyError) as e:
        check_document(doc, FILE)
    assert str(e.value) == (
        "cluster.yaml: Node: unknown field 'tpye'; "
        "allowed: kind, name, type, devices, rings, device_dir"
    )
    model, _ = check_document({"kind": "Node", "name": "n1", "type": "Ascend310P", "devices": 4},
                              FILE)
    assert model.spec() == {"name": "n1", "type": "Ascend310P", "devices": 4}


def test_every_kind_takes_api_version_and_refuses_another():
    for doc in (
        {"kind": "Node", "name": "n1", "devices": 2},
        {"kind": "QuotaPolicy", "group": "lab", "max_npus": 2},
        {"kind": "Dataset", "name": "mnist", "source": "/srv/mnist", "version": 1.0},
        {"kind": "Course", "id": "ai101", "students": ["s1"]},
    ):
        model, apply = check_document({"apiVersion": "npuhub/v1", **doc}, FILE)
        assert callable(apply) and model.kind == doc["kind"]
    with pytest.raises(ApplyError, match="apiVersion 'npuhub/v2' is not 'npuhub/v1'"):
        check_document({"apiVersion": "npuhub/v2", "kind": "Node", "name": "n", "devices": 1},
                       FILE)
    with pytest.raises(ApplyError, match="unknown kind 'Nonsense'"):
        check_document({"kind": "Nonsense"}, FILE)


def test_file_values_keep_their_meaning():
    ds, _ = check_document({"kind": "Dataset", "name": "m", "source": "/srv/m", "version": 1.0},
                           FILE)
    assert ds.spec() == {"name": "m", "source": "/srv/m", "version": "1.0"}
    q, _ = check_document({"kind": "QuotaPolicy", "user": "ann", "npu_hours": 2.5}, FILE)
    assert q.limits() == {"npu_hours": 2.5}


def test_nested_typos_name_their_place():
    assert refusal(CourseDecl, {"id": "c", "assignments": [{"name": "a", "dew": "x"}]}) == (
        "unknown field 'assignments[0].dew'"
    )
    assert refusal(CourseDecl, {"id": "c", "autograde": {"memroy": "1g"}}) == (
        "unknown field 'autograde.memroy'"
    )
    assert refusal(Files, {"files": {"a.ipynb": 3}}) == "files.a.ipynb: input should be a " \
        "valid string"


def test_quota_policy_needs_a_group_or_a_user_and_known_limits():
    assert refusal(QuotaPolicyDoc, {"max_npus": 2}) == (
        "QuotaPolicyDoc: give `group` or `user` (one of them)"
    )
    assert refusal(QuotaLimits, {"period": "year"}) == (
        "period: input should be 'day', 'week' or 'month'"
    )
    assert refusal(QuotaLimits, {"max_npus": -1}) == (
        "max_npus: input should be greater than or equal to 0"
    )
    assert refusal(QuotaLimits, {"max_npus": True}) == "max_npus: input should be a valid integer"
    assert refusal(QuotaLimits, {"gpus": 1}).startswith("unknown field 'gpus'; allowed: ")


def test_quota_fields_are_the_ledgers_limit_fields():
    assert tuple(QuotaLimits.model_fields) == LIMIT_FIELDS


def test_job_request_takes_text_for_time_limit_and_parameters():
    job = validate(JobRequest, {"source": "a.py", "time_limit": "2h",
                                "parameters": "msg=hello, world"})
    assert job.model_dump(exclude_unset=True) == {
        "source": "a.py", "time_limit": "2h", "parameters": "msg=hello, world"}
    assert validate(JobRequest, {"source": "a.py", "time_limit": 90,
                                 "parameters": {"lr": 0.1}}).time_limit == 90
    assert refusal(JobRequest, {"source": "a.py", "npus": "2"}) == (
        "npus: input should be a valid integer"
    )
    assert refusal(JobRequest, {"source": "a.py", "parameters": [1]}) == (
        "parameters: expected an object of names to strings, numbers, true, false or null; "
        'or text such as "lr=0.01, msg=hello"'
    )
    assert refusal(JobRequest, {}) == (
        "JobRequest: source is required (or like: the id of a job to re-run)")
    assert refusal(JobRequest, {"source": "a.py", "nmae": "x"}).startswith(
        "unknown field 'nmae'; allowed: source, like, npus, account, image, datasets, time_limit, "
    )


def test_dataset_bodies():
    assert refusal(DatasetSpec, {"name": "m"}) == "source: missing (required)"
    assert validate(DatasetChange, {"title": "t"}).model_dump(exclude_unset=True) == {
        "title": "t"}
    assert refusal(DatasetChange, {"access": "everyone"}) == (
        'access: expected "public" or a list of group names'
    )


def test_openapi_document_is_generated_from_the_routes():
    doc = openapi("/services/npuhub/")
    assert doc["servers"] == [{"url": "/services/npuhub/api/v1"}]
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    routed = {(m, r.path) for r in ROUTES if r.pattern.startswith("/api/v1/") for m in r.ops}
    assert ops == routed
    for r in ROUTES:  # every method a handler defines is documented, and no other
        defined = {m for m in ("GET", "POST", "PUT", "DELETE") if m.lower() in vars(r.handler)
                   or any(m.lower() in vars(b) for b in r.handler.__mro__[1:-1]
                          if b.__module__.startswith("npuhub.hub.service.")
                          and b.__name__ not in ("APIHandler", "PublicHandler"))}
        assert defined == set(r.ops), r.pattern
    post = doc["paths"]["/jobs"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobRequest"}
    assert set(post["responses"]) == {"201", "400", "401", "403", "429"}
    assert doc["paths"]["/jobs/{id}"]["get"]["parameters"][0]["schema"] == {
        "type": "string", "pattern": "^[0-9]{1,12}$"}
    assert doc["components"]["schemas"]["JobRequest"]["additionalProperties"] is False
