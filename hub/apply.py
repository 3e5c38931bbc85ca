"""`npuhub apply -f FILE.yaml`: declared resources, kubectl-style (one or more YAML
documents, each with `kind`). Applying the same file twice changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from . import db
from .ledger.discovery import node_spec
from .platform import platform_for
from .settings import NPUHub


class ApplyError(Exception):
    pass


def _quota(doc: dict, path: Path, settings: NPUHub) -> str:
    from .service.quotas import validate_limits

    policies = platform_for(settings.db_url).ledger.policies
    group = doc.get("group")
    user = doc.get("user")
    limits = {k: v for k, v in doc.items() if k not in ("kind", "group", "user")}
    try:
        limits = validate_limits(limits)
    except Exception as e:  # tornado HTTPError carries the message
        raise ApplyError(f"{path}: QuotaPolicy: {getattr(e, 'log_message', e)}") from None
    if user:
        policies.set_user(str(user), **limits)
        return f"quota for user {user} applied"
    if not group:
        raise ApplyError(f"{path}: QuotaPolicy needs `group` (or `user`)")
    policies.set(str(group), **limits)
    return f"quota for group {group} applied"


def _node(doc: dict, path: Path, settings: NPUHub) -> str:
    try:
        spec = node_spec(doc, source="file")
    except (KeyError, ValueError) as e:
        raise ApplyError(f"{path}: Node: missing or bad field {e}") from None
    platform_for(settings.db_url).ledger.inventory.add_node(spec)
    return f"node {spec.name} applied ({sum(len(r) for r in spec.rings)} devices)"


def _dataset(doc: dict, path: Path, settings: NPUHub) -> str:
    from .datasets.catalog import DatasetError
    from .datasets.store import apply_dataset

    try:
        return apply_dataset(doc, platform_for(settings.db_url).datasets, settings.state_dir)
    except DatasetError as e:
        raise ApplyError(f"{path}: Dataset: {e}") from None


def _course(doc: dict, path: Path, settings: NPUHub) -> str:
    from .courses.apply import apply_course_file
    from .courses.course_file import CourseError
    from .hubapi import HubAPIError

    try:
        return apply_course_file(doc, path, settings)
    except (CourseError, HubAPIError) as e:
        raise ApplyError(f"{path}: Course: {e}") from None


KINDS: dict[str, Callable[[dict, Path, NPUHub], str]] = {
    "QuotaPolicy": _quota,
    "Node": _node,
    "Dataset": _dataset,
    "Course": _course,
}


def apply_file(path: Path, settings: NPUHub) -> Iterator[str]:
    if not path.is_file():
        raise ApplyError(f"{path}: no such file")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except yaml.YAMLError as e:
        raise ApplyError(f"{path}: not valid YAML: {e}") from None
    db.upgrade(settings.db_url)
    for doc in docs:
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind not in KINDS:
            raise ApplyError(f"{path}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        yield KINDS[kind](doc, path, settings)
