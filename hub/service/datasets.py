"""Datasets: GET|POST /api/v1/datasets, GET|PUT|DELETE /api/v1/datasets/{name} (writes:
admin), POST|DELETE /api/v1/datasets/{name}/mount (the caller's own mounts)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from tornado import web

from npuhub.hub import clock
from npuhub.hub.datasets import catalog, mounter, node_step
from npuhub.hub.datasets.catalog import DatasetError, may_mount, public_view
from npuhub.hub.hubapi import HubAPIError
from npuhub.hub.schemas.datasets import Dataset, DatasetChange, DatasetSpec, Mount

from .base import APIHandler
from .openapi import Op, Route

NAME = r"(?P<name>[^/]+)"
SCAN_MAX_AGE = timedelta(days=1)
log = logging.getLogger("npuhub.service.datasets")


def schedule_scan(settings, d: dict) -> None:
    """Compute size and file count of `d` in the background, once at a time."""
    running = settings.setdefault("dataset_scans", set())
    if d["name"] in running:
        return
    running.add(d["name"])
    store = settings["platform"].datasets

    def work():
        try:
            size, files = catalog.scan(d["source"])
            store.set_scan(d["name"], size, files, d["source"])
        finally:
            running.discard(d["name"])

    fut = asyncio.get_running_loop().run_in_executor(None, work)
    fut.add_done_callback(lambda f: f.exception() and log.error("Scan failed: %s", f.exception()))


def stale(d: dict) -> bool:
    if not d.get("scanned"):
        return True
    return clock.utcnow() - datetime.fromisoformat(d["scanned"]).replace(tzinfo=UTC) > SCAN_MAX_AGE


class DatasetBase(APIHandler):
    @property
    def store(self):
        return self.platform.datasets

    @property
    def root(self) -> str:
        return str(self.npuhub.path("mounts"))

    async def run(self, fn, *args):
        """Catalog and mount work off the event loop (DatasetError and MountError are
        answered by the base handler)."""
        return await self.blocking(fn, *args)

    def spec(self, partial: bool = False) -> dict:
        """The body, checked against DatasetSpec (DatasetChange if `partial`)."""
        return catalog.validate_spec(self.json_body(), partial=partial)

    def check(self, name: str) -> str:
        return catalog.check_name(name)

    async def fresh_user(self, user: str) -> dict | None:
        """The user's model from the hub now (the token's model may be a minute old)."""
        try:
            return await self.service.hub.user(user)
        except HubAPIError as e:
            log.warning("Could not read user %s from the hub: %s", user, e)
            return None

    async def allowed(self, d: dict, fresh: bool = True) -> bool:
        if may_mount(d["access"], d["grants"], self.groups, self.is_admin):
            return True
        model = await self.fresh_user(self.user_name) if fresh else None
        return bool(model) and may_mount(
            d["access"], d["grants"], model.get("groups") or [], bool(model.get("admin"))
        )

    async def dataset(self, name: str) -> dict:
        d = await self.run(self.store.get, self.check(name))
        if d is None:
            raise DatasetError("no_dataset", name=repr(name))
        return d

    async def source(self, spec: dict) -> dict:
        if "source" in spec:
            state = self.npuhub.state_dir
            spec["source"] = await self.run(catalog.resolve_source, spec["source"], [state])
        return spec


class DatasetListHandler(DatasetBase):
    async def get(self):
        items = await self.run(self.store.all)
        mine = {d["name"] for d in await self.run(self.store.mounted, self.user_name)}
        out = []
        for d in items:
            if may_mount(d["access"], d["grants"], self.groups, self.is_admin):
                out.append(public_view(d, mounted=d["name"] in mine, admin=self.is_admin))
                if stale(d):
                    schedule_scan(self.settings, d)
        self.write_json(out)

    async def post(self):
        self.require_admin()
        spec = await self.source(self.spec())
        d = await self.run(self.store.create, spec)
        schedule_scan(self.settings, d)
        self.write_json(public_view(d, mounted=False, admin=True), 201)


class DatasetHandler(DatasetBase):
    async def get(self, name):
        d = await self.dataset(name)
        if not await self.allowed(d):
            raise DatasetError("dataset_forbidden", name=repr(name))
        mine = {m["name"] for m in await self.run(self.store.mounted, self.user_name)}
        self.write_json(public_view(d, mounted=name in mine, admin=self.is_admin))

    async def put(self, name):
        self.require_admin()
        name = self.check(name)
        spec = self.spec(partial=True)
        if spec.setdefault("name", name) != name:
            raise web.HTTPError(400, f"name {spec['name']!r} differs from the URL's {name!r}")
        new, old = await self.run(self.store.update, name, await self.source(spec))
        if old is None or old["source"] != new["source"]:
            schedule_scan(self.settings, new)
        if old is not None:
            await self.refresh_mounts(
                new,
                moved=old["source"] != new["source"] or old["symlinks"] != new["symlinks"],
            )
        self.write_json(public_view(new, mounted=False, admin=True), 201 if old is None else 200)

    async def refresh_mounts(self, d: dict, moved: bool) -> None:
        """Users who lost access lose the mount; a moved source (or a changed
        `symlinks`) is mounted anew."""
        for user in await self.run(self.store.users_of, d["name"]):
            model = await self.fresh_user(user)
            groups, admin = (
                (model.get("groups") or [], bool(model.get("admin"))) if model else ([], False)
            )
            if not may_mount(d["access"], d["grants"], groups, admin):
                await self.run(mounter.unmount, self.root, user, d["name"])
                await self.run(self.store.forget, user, d["name"])
            elif moved and self.service.node_mounts is None:  # cluster: the next watch
                await self.run(mounter.unmount, self.root, user, d["name"])
                await self.run(
                    mounter.mount, d["source"], self.root, user, d["name"], d["symlinks"]
                )

    async def delete(self, name):
        self.require_admin()
        users = await self.run(self.store.delete, self.check(name))
        for user in users:
            await self.run(mounter.unmount, self.root, user, name)
        self.set_status(204)
        self.finish()


class MountHandler(DatasetBase):
    def answer(self, name: str, mounted: bool) -> None:
        self.write_json({"name": name, "mounted": mounted, "path": catalog.container_path(name)})

    def check_user(self) -> str:
        if self.model.get("kind") != "user":
            raise DatasetError("mount_by_users")
        return catalog.check_user(self.user_name)

    async def on_nodes(self, user: str) -> None:
        """Cluster mode: the nodes of the user's running servers mount what the user
        wants now (hub/datasets/node_step.py); MountError (409) if a node could not."""
        datasets = await self.run(self.store.mounted, user)
        try:
            await self.run(self.service.node_mounts.follow, user, datasets)
        except (node_step.NodeMountError, ValueError, OSError) as e:
            raise mounter.MountError(str(e)) from None

    async def post(self, name):
        user, d = self.check_user(), await self.dataset(name)
        if not await self.allowed(d):
            raise DatasetError("dataset_forbidden", name=repr(name))
        if self.service.node_mounts is not None:  # cluster mode: on the servers' nodes
            await self.run(self.store.remember, user, name)
            try:
                await self.on_nodes(user)
            except mounter.MountError:
                await self.run(self.store.forget, user, name)
                raise
        else:
            await self.run(mounter.mount, d["source"], self.root, user, name, d["symlinks"])
        await self.run(self.store.remember, user, name)
        mounted = {"name": name, "version": d.get("version"), "mounted": clock.utcnow().isoformat()}
        await self.run(self.ledger.usage.note_dataset, user, mounted)  # the sessions' records
        self.answer(name, True)

    async def delete(self, name):
        user, name = self.check_user(), self.check(name)
        if self.service.node_mounts is not None:
            await self.run(self.store.forget, user, name)
            await self.on_nodes(user)
        else:
            await self.run(mounter.unmount, self.root, user, name)
            await self.run(self.store.forget, user, name)
        self.answer(name, False)


async def me_datasets(handler: APIHandler) -> dict:
    """`datasets` of GET /api/v1/me: the caller's mounted datasets and their paths."""
    mounted = await handler.blocking(handler.platform.datasets.mounted, handler.user_name)
    return {
        "datasets": [
            {"name": d["name"], "path": catalog.container_path(d["name"])} for d in mounted
        ]
    }


routes = [
    Route(r"/api/v1/datasets", DatasetListHandler, {
        "GET": Op("Datasets the caller may mount, with size, file count and mounted state",
                  {200: [Dataset]}),
        "POST": Op("Declare a dataset", {201: Dataset}, body=DatasetSpec, errors=(409,),
                   admin=True),
    }),
    Route(rf"/api/v1/datasets/{NAME}", DatasetHandler, {
        "GET": Op("One dataset", {200: Dataset}, errors=(400, 404)),
        "PUT": Op("Create or change a dataset", {200: Dataset, 201: Dataset},
                  body=DatasetChange, errors=(409,), admin=True),
        "DELETE": Op("Remove a dataset (and every user's mount of it)", {204: None},
                     errors=(400, 404, 409), admin=True),
    }),
    Route(rf"/api/v1/datasets/{NAME}/mount", MountHandler, {
        "POST": Op("Mount the dataset read-only at ~/datasets/{name} in the caller's server",
                   {200: Mount}, errors=(400, 404, 409)),
        "DELETE": Op("Unmount the dataset from the caller's server", {200: Mount},
                     errors=(400, 409)),
    }),
]
default_handlers = [(r.pattern, r.handler) for r in routes]
