"""Datasets: the body of POST /datasets and PUT /datasets/{name}, a `kind: Dataset`
document of `npuhub apply -f`, and a catalog entry as GET /datasets answers it.
Names, texts and the source folder are checked further by
npuhub.hub.datasets.catalog.validate_spec and resolve_source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Body, Reply

Access = Literal["public"] | list[str]


class DatasetChange(Body):
    """PUT /datasets/{name}: the fields to change (all optional)."""

    name: str | None = Field(None, max_length=63)
    title: str | None = Field(None, max_length=255)
    description: str | None = Field(None, max_length=10_000)
    source: str | None = Field(None, description="An absolute folder path on the hub host",
                               max_length=4096)
    version: str | None = Field(None, max_length=64)
    license: str | None = Field(None, max_length=255)
    access: Access | None = Field(None, description='"public" or a list of group names')
    symlinks: bool | None = Field(None, description="Follow symlinks inside the folder")


class DatasetSpec(DatasetChange):
    """POST /datasets: a new dataset (name and source required)."""

    name: str = Field(max_length=63)
    source: str = Field(max_length=4096)


class DatasetDoc(DatasetSpec):
    """`kind: Dataset` in a file."""

    kind: Literal["Dataset"] = "Dataset"
    version: str | int | float | None = Field(None, description="e.g. 1.0 (text)")

    def spec(self) -> dict:
        out = self.model_dump(exclude_unset=True, exclude={"kind"})
        if isinstance(out.get("version"), int | float):
            out["version"] = str(out["version"])
        return out


class Dataset(Reply):
    name: str
    title: str
    description: str
    version: str
    license: str
    access: Access
    symlinks: bool
    size: int | None
    files: int | None
    scanned: str | None
    mounted: bool
    path: str


class Mount(Reply):
    name: str
    mounted: bool
    path: str
