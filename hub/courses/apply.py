"""Apply a course, idempotently: the groups `course-{id}-students` and
`course-{id}-instructors` with the roster (users created when `create_users`), the quota
policy of the students group, the profile only members see, the dataset grants, the
assignments and (from a course file) their source notebooks. Blocking (hub REST API,
database): the service calls it from an executor.

`npu_hours_per_student` becomes each student's weekly share of the students group's
budget (`npu_hours_per_member`), and that budget is the share times the number of
students: no student can use up the hours of the others.
"""

from __future__ import annotations

import os
from pathlib import Path

from npuhub.extensions import filecodec
from npuhub.hub.accounts.store import course_origin
from npuhub.hub.hubapi import HubAPI, HubAPIError

from .course_file import CourseError, course_profile, instructors_group, students_group
from .service_ops import check_files

SKIP = {"__pycache__", "feedback"}


def base_profile(course: dict, profiles: list[dict]) -> dict | None:
    if course["profile"] is None:
        return None
    found = next((p for p in profiles if p.get("slug") == course["profile"]), None)
    if found is None:
        known = ", ".join(p.get("slug", "?") for p in profiles) or "none"
        raise CourseError(f"profile {course['profile']!r} is not configured; known: {known}")
    return found


def read_folder(folder: Path) -> dict[str, str]:
    """The files of a source folder (no hidden files, checkpoints or links), data files
    base64-encoded (filecodec)."""
    if not folder.is_dir():
        raise CourseError(f"source folder {folder} does not exist")
    files = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP)
        for n in sorted(names):
            p = Path(root, n)
            if n.startswith(".") or p.is_symlink() or not p.is_file():
                continue
            files[p.relative_to(folder).as_posix()] = filecodec.encode(p.read_bytes())
    return files


def group_members(api: HubAPI, group: str, must_exist: bool = False) -> list[str]:
    try:
        return sorted(api.request("GET", f"/groups/{group}").json().get("users") or [])
    except HubAPIError as e:
        if " 404 " not in str(e):
            raise
        if must_exist:
            raise CourseError(f"students: there is no group {group!r}") from None
        return []


def existing_users(api: HubAPI, names: list[str]) -> set[str]:
    have = set()
    for name in names:
        try:
            api.request("GET", f"/users/{name}")
            have.add(name)
        except HubAPIError as e:
            if " 404 " not in str(e):
                raise
    return have


def sync_group(api: HubAPI, group: str, users: list[str]) -> None:
    api.ensure_group(group)
    current = set(group_members(api, group))
    add, remove = sorted(set(users) - current), sorted(current - set(users))
    if add:
        api.request("POST", f"/groups/{group}/users", json={"users": add})
    if remove:
        api.request("DELETE", f"/groups/{group}/users", json={"users": remove})


def sync_dataset_grants(datasets, course: dict) -> list[str]:
    """The course's groups are granted exactly the datasets it lists (`datasets`: the
    DatasetStore): new ones granted, dropped ones revoked. Returns the dropped datasets."""
    from npuhub.hub.datasets.catalog import DatasetError, check_name

    groups = (students_group(course["id"]), instructors_group(course["id"]))
    for name in course["datasets"]:  # all of them exist before anything is revoked
        for group in groups:
            try:
                datasets.grant(check_name(name), group)
            except DatasetError as e:
                raise CourseError(f"datasets: {e}") from None
    dropped = set()
    for group in groups:
        for name in datasets.granted_to(group):
            if name not in course["datasets"]:
                datasets.revoke(name, group)
                dropped.add(name)
    return sorted(dropped)


def unmount_revoked(store, api: HubAPI, mounts_root: str, names: list[str]) -> None:
    """Whoever lost a dataset with a revoked grant loses its live mount too (`store`: the
    DatasetStore)."""
    from npuhub.hub.datasets import mounter
    from npuhub.hub.datasets.catalog import may_mount

    for name in names:
        d = store.get(name)
        for user in store.users_of(name) if d else []:
            r = api.request("GET", f"/users/{user}", ok=(404,))
            model = r.json() if r.status_code == 200 else {}
            if not may_mount(d["access"], d["grants"], model.get("groups") or [],
                             bool(model.get("admin"))):
                mounter.unmount(mounts_root, user, name)
                store.forget(user, name)


def course_policy(course: dict, members: int) -> dict:
    """The explicit quota policy of each group a course creates (never the deployment's
    default): the course's NPUs, its profile only, each member's weekly hours."""
    hours, n = course["npu_hours_per_student"], course["npus_per_student"]
    return {"max_npus_per_server": n, "max_npus": n, "group_max_npus": n * members,
            "period": "week", "npu_hours": None if hours is None else hours * members,
            "npu_hours_per_member": hours}


def apply_course(course: dict, *, api: HubAPI, platform, profiles: list[dict],
                 base_dir: Path | None = None, create_users: bool = True,
                 created_by: str = "", mounts_root: str | None = None) -> dict:
    """Apply a checked course (course_file.parse_course) with the stores of `platform`
    (npuhub.hub.platform.Platform); returns the stored course."""
    cid = course["id"]
    profile = course_profile(course, base_profile(course, profiles))
    if course["students_group"]:
        course = {**course, "students": group_members(api, course["students_group"], True)}
    everyone = sorted(set(course["students"]) | set(course["instructors"]))
    missing = sorted(set(everyone) - existing_users(api, everyone))
    if missing and not create_users:
        # which names exist is not the caller's to learn
        raise CourseError("Some of the listed users have no account; an administrator "
                          "creates accounts", 403)
    if missing:
        api.request("POST", "/users", json={"usernames": missing})
        # no password yet: each opens an activation link (from an admin or this course's
        # instructors) to choose one
        platform.accounts.mark_origin(missing, course_origin(cid))
    sync_group(api, students_group(cid), course["students"])
    sync_group(api, instructors_group(cid), course["instructors"])
    for group, members in ((students_group(cid), course["students"]),
                           (instructors_group(cid), course["instructors"])):
        platform.ledger.policies.set(group, **course_policy(course, max(len(members), 1)),
                                     profiles=[profile["slug"]])
    dropped = sync_dataset_grants(platform.datasets, course)
    if dropped and mounts_root is not None:
        unmount_revoked(platform.datasets, api, mounts_root, dropped)
    store = platform.courses
    stored = store.upsert(course, profile, created_by)
    for a in course["assignments"]:
        if a["source"] is not None:
            folder = Path(a["source"])
            folder = folder if folder.is_absolute() or base_dir is None else base_dir / folder
            store.set_source(cid, a["name"], check_files(read_folder(folder), source=True))
    return stored


def apply_course_file(doc: dict, path: Path, settings) -> str:
    """`npuhub apply -f` of a `kind: Course` document (admin, on the hub host)."""
    from npuhub.hub.platform import platform_for

    from .course_file import parse_course

    course = parse_course(doc)
    stored = apply_course(course, api=HubAPI.from_settings(settings),
                          platform=platform_for(settings.db_url),
                          profiles=settings.profiles, base_dir=path.resolve().parent,
                          created_by="apply", mounts_root=str(settings.path("mounts")))
    return (f"course {stored['id']} applied ({len(stored['students'])} students, "
            f"{len(stored['instructors'])} instructors, {len(course['assignments'])} "
            f"assignments, profile {stored['profile']['slug']})")
