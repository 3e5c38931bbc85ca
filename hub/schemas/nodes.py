"""A `kind: Node` document of `npuhub apply -f`: a host with NPUs (its devices as a count,
or as the rings of its interconnect)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Body, Reply


class NodeDoc(Body):
    kind: Literal["Node"] = "Node"
    name: str = Field(min_length=1, max_length=128)
    type: str = Field("Ascend910B", min_length=1, max_length=64,
                      description="Device type, e.g. Ascend910B")
    devices: int | None = Field(None, ge=0, le=1024, description="How many devices")
    rings: list[list[int]] | None = Field(None, description="Device indices, ring by ring")
    device_dir: str = Field("/dev", min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _devices(self):
        if (self.devices is None) == (self.rings is None):
            raise ValueError("give `devices` (a count) or `rings` (one of them)")
        return self

    def spec(self) -> dict:
        return self.model_dump(exclude_unset=True, exclude={"kind"})


class DrainRequest(Body):
    reason: str | None = Field(
        None, min_length=1, max_length=100, pattern=r"^[\x20-\x7e]+$",
        description="Why (Slurm's reason in cluster mode; printable ASCII)")


class NodeDrained(Reply):
    node: str
    state: Literal["drained", "available"] = Field(description="What its chips are now")
    devices: int = Field(description="How many chips the node has")
    slurm: bool = Field(description="Whether the node was drained or resumed in Slurm too")
