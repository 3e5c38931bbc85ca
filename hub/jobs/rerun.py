"""Re-running a job the same way (``POST …/jobs`` with ``{"like": ID}``): the same
source, NPUs, account, datasets, parameters and time limit, on the very image it ran on
(its recorded digest), with the same profile. Fields given beside ``like`` replace the
old job's (``parameters`` are merged key by key). Pure functions; the REST resource
checks access, profile and dataset versions with them."""

from __future__ import annotations

from typing import Any

from npuhub.hub.parsing import parse_parameters

from .common import InvalidRequest

COPIED = ("source", "npus", "account", "time_limit", "name")


def like_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 10**12:
        raise InvalidRequest(f"like must be the id of one of your jobs, got {value!r:.40}")
    return value


def like_body(job, body: dict) -> dict:
    """The request body of a re-run of `job` (a :class:`~.models.Job`), with `body`'s
    own fields (other than like and image) on top."""
    if "image" in body:
        raise InvalidRequest("a re-run (like) runs on the image of the job it repeats")
    out: dict[str, Any] = {k: getattr(job, k) for k in COPIED}
    out["datasets"] = [name for _, name in job.datasets or []]
    out.update({k: v for k, v in body.items() if k not in ("like", "parameters")})
    params = dict(job.parameters or {})
    given = body.get("parameters")
    if isinstance(given, str):  # what a person typed (name=value lines, or JSON)
        given = parse_parameters(given)
    if isinstance(given, dict):
        params.update(given)
    elif given is not None:
        out["parameters"] = given  # refused by parse_request
        return out
    out["parameters"] = params
    return out


def pinned_image(job) -> str:
    """The image a re-run of `job` uses: its recorded digest, else its reference."""
    prov = job.provenance or {}
    return (prov.get("image") or {}).get("digest") or job.image


def dataset_drift(job, current: dict[str, str | None]) -> list[str]:
    """Sentences for each dataset whose version differs from the one `job` ran with
    (`current`: name → version now)."""
    out = []
    for d in (job.provenance or {}).get("datasets") or []:
        now = current.get(d["name"])
        if now != d.get("version"):
            out.append(
                f"dataset {d['name']} is now version {now or '(none)'}, "
                f"job {job.id} ran with version {d.get('version') or '(none)'}"
            )
    return out
