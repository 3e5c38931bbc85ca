"""Shared by the ledger's database tests."""

from __future__ import annotations

from npuhub.hub.ledger import Grant


def alloc(ledger, user="ana", npus=1, groups=(), holder="", kind="server", **kw) -> Grant:
    return ledger.allocate(
        user=user, groups=list(groups), kind=kind, holder=holder, npus=npus, **kw
    )


def held(ledger) -> dict[tuple[str, int], dict]:
    return {(d["node"], d["index"]): d["holder"] for d in ledger.inventory.devices() if d["holder"]}


def table_differs_from_migrations(db_engine, table: str) -> list:
    """What alembic's autogenerate finds between the ORM model of `table` and the table
    the migrations made (empty: they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from npuhub.hub import orm

    def include_name(name, type_, parent_names):
        if type_ == "schema":
            return True
        if type_ == "table":
            return name == table
        return parent_names.get("table_name", name) == table

    def include_object(obj, name, type_, reflected, compare_to):
        owner = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return owner == table

    with db_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "compare_type": True, "include_name": include_name,
            "include_object": include_object})
        return compare_metadata(ctx, orm.Base.metadata)
