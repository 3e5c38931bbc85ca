"""Batch jobs: the body of POST /jobs and what GET /jobs/{id} answers.

The fields' finer rules (a source path inside the home, parameter names, the platform's
time limit bounds) are checked by npuhub.hub.jobs.common.parse_request; `time_limit` and
`parameters` may be strings (`2h`, `1:30:00`, `msg=hello, world`), parsed there too."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from .base import Body, Reply


class JobRequest(Body):
    source: str | None = Field(
        None, description="A notebook (.ipynb) or script (.py), relative to the home "
        "(required unless like)", min_length=1, max_length=1024)
    like: int | str | None = Field(
        None, description="A job id of yours: re-run it on the same image digest, datasets "
        "and parameters (the request's own fields on top)")
    npus: int | None = Field(None, ge=0, le=64)
    account: str | None = Field(None, max_length=255, description="The group charged")
    image: str | None = Field(None, max_length=255)
    datasets: list[str] | None = Field(None, max_length=256,
                                       description="Mounted read-only; default: your mounts")
    time_limit: str | int | None = Field(
        None, description="Seconds, or text such as 2h, 45m, 1:30:00")
    parameters: str | dict[str, Any] | None = Field(
        None, description='An object of names to strings, numbers, true, false or null; '
        'or text such as "lr=0.01, msg=hello"')
    name: str | None = Field(None, max_length=64)
    priority: int | None = Field(None, description="Administrators only")

    @model_validator(mode="after")
    def _source_or_like(self):
        if self.source is None and self.like is None:
            raise ValueError("source is required (or like: the id of a job to re-run)")
        return self


class Job(Reply):
    id: int
    user: str
    account: str
    name: str
    source: str
    npus: int
    image: str
    datasets: list[str]
    parameters: dict[str, Any]
    time_limit: int
    state: str
    phase: str
    reason: str
    exit_code: int | None
    devices: list[Any]
    created: str | None
    started: str | None
    finished: str | None
    output_dir: str
    provenance: dict[str, Any] | None = None
    rerun_of: int | None = None


class JobLog(Reply):
    text: str
    offset: int
    done: bool
