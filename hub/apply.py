"""`npuhub apply -f FILE.yaml`: declared resources, kubectl-style (one or more YAML
documents, each with `kind`, optionally `apiVersion: npuhub/v1`). Each kind is declared
once as a model (npuhub.hub.schemas): an unknown field, such as a typo, is refused with
its name. Applying the same file twice changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import yaml
from pydantic import BaseModel

from . import db
from .ledger.discovery import node_spec
from .platform import platform_for
from .schemas import API_VERSION, SchemaError, validate
from .schemas.courses import CourseDecl
from .schemas.datasets import DatasetDoc
from .schemas.nodes import NodeDoc
from .schemas.quotas import QuotaPolicyDoc
from .settings import NPUHub


class ApplyError(Exception):
    pass


def _quota(doc: QuotaPolicyDoc, path: Path, settings: NPUHub) -> str:
    policies = platform_for(settings.db_url).ledger.policies
    if doc.user:
        try:
            policies.set_user(doc.user, **doc.limits())
        except ValueError as e:  # a group's own limit set on a user
            raise ApplyError(f"{path}: QuotaPolicy: {e}") from None
        return f"quota for user {doc.user} applied"
    policies.set(str(doc.group), **doc.limits())
    return f"quota for group {doc.group} applied"


def _node(doc: NodeDoc, path: Path, settings: NPUHub) -> str:
    try:
        spec = node_spec(doc.spec(), source="file")
    except (KeyError, ValueError) as e:
        raise ApplyError(f"{path}: Node: bad field {e}") from None
    platform_for(settings.db_url).ledger.inventory.add_node(spec)
    return f"node {spec.name} applied ({sum(len(r) for r in spec.rings)} devices)"


def _dataset(doc: DatasetDoc, path: Path, settings: NPUHub) -> str:
    from .datasets.catalog import DatasetError
    from .datasets.store import apply_dataset

    try:
        return apply_dataset(doc.spec(), platform_for(settings.db_url).datasets, settings.state_dir)
    except DatasetError as e:
        raise ApplyError(f"{path}: Dataset: {e}") from None


def _course(doc: CourseDecl, path: Path, settings: NPUHub) -> str:
    from .courses.apply import apply_course_file
    from .courses.course_file import CourseError
    from .hubapi import HubAPIError

    try:
        return apply_course_file(doc.doc(), path, settings)
    except (CourseError, HubAPIError) as e:
        raise ApplyError(f"{path}: Course: {e}") from None


Kind = tuple[type[BaseModel], Callable[..., str]]
KINDS: dict[str, Kind] = {
    "QuotaPolicy": (QuotaPolicyDoc, _quota),
    "Node": (NodeDoc, _node),
    "Dataset": (DatasetDoc, _dataset),
    "Course": (CourseDecl, _course),
}


def check_document(doc: object, path: Path) -> tuple[BaseModel, Callable[..., str]]:
    """The model of one YAML document (by its `kind`) and the function that applies it;
    ApplyError names the file, the kind and the field."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind not in KINDS:
        raise ApplyError(f"{path}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
    doc = dict(doc)
    version = doc.pop("apiVersion", API_VERSION)
    if version != API_VERSION:
        raise ApplyError(f"{path}: {kind}: apiVersion {version!r} is not {API_VERSION!r}")
    model, apply = KINDS[kind]
    try:
        return validate(model, doc), apply
    except SchemaError as e:
        raise ApplyError(f"{path}: {kind}: {e}") from None


def apply_file(path: Path, settings: NPUHub) -> Iterator[str]:
    if not path.is_file():
        raise ApplyError(f"{path}: no such file")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except yaml.YAMLError as e:
        raise ApplyError(f"{path}: not valid YAML: {e}") from None
    checked = [check_document(doc, path) for doc in docs]  # all of the file, before any
    db.upgrade(settings.db_url)
    for model, apply in checked:
        yield apply(model, path, settings)
