"""Accounts of the default authenticator: activation links (one use, expiry, a new one
replaces the old), passwords (bcrypt; changing needs the current one), the slowing-down
of failed logins, and the carry-over of a first-use password file."""

from __future__ import annotations

import dbm
from datetime import timedelta

import bcrypt
import pytest

from npuhub.hub import clock
from npuhub.hub.accounts import passwords
from npuhub.hub.accounts.backoff import Backoff
from npuhub.hub.accounts.store import AccountError
from npuhub.hub.platform import platform_for

WEEK = timedelta(days=7)


@pytest.fixture
def store(migrated_url):
    return platform_for(migrated_url).accounts


def refused(fn, *args, **kw) -> AccountError:
    with pytest.raises(AccountError) as e:
        fn(*args, **kw)
    return e.value


def test_a_new_account_has_no_password_until_its_link_is_used(store):
    assert store.status("ann") == {"name": "ann", "active": False, "origin": "",
                                   "link_expires": None}
    assert not store.verify("ann", "")
    token, expires = store.issue_activation("ann", WEEK)
    assert len(token) >= 40 and expires > clock.utcnow() + timedelta(days=6)
    assert not store.verify("ann", "anything at all")  # pending: nobody logs in
    assert store.link_owner(token) == "ann"
    assert store.activate(token, "correct horse", "correct horse") == "ann"
    assert store.verify("ann", "correct horse") and not store.verify("ann", "wrong horse")
    # once: the link is spent
    assert refused(store.activate, token, "another one", "another one").code == "unknown_link"
    assert refused(store.link_owner, token).status == 404
    assert store.status("ann")["active"]


def test_tokens_are_stored_hashed(store, migrated_url):
    from sqlalchemy import create_engine, text

    token, _ = store.issue_activation("bob", WEEK)
    with create_engine(migrated_url).connect() as conn:
        stored = conn.execute(text("SELECT activation_hash FROM accounts")).scalar()
    assert stored == passwords.token_hash(token) and token not in stored


def test_expired_and_replaced_links_are_refused(store, monkeypatch):
    old, _ = store.issue_activation("cat", WEEK)
    new, _ = store.issue_activation("cat", WEEK)  # a new link on request
    assert refused(store.link_owner, old).code == "unknown_link"
    assert store.link_owner(new) == "cat"
    later = clock.utcnow() + WEEK + timedelta(seconds=1)
    monkeypatch.setattr(clock, "utcnow", lambda: later)
    e = refused(store.activate, new, "correct horse", "correct horse")
    assert (e.code, e.status) == ("expired_link", 410)
    assert not store.status("cat")["active"]


def test_new_password_rules(store):
    token, _ = store.issue_activation("dan", WEEK)
    assert refused(store.activate, token, "short", "short").numbers == {"n": 8}
    assert refused(store.activate, token, "long enough", "other one!").code == "mismatch"
    assert refused(store.activate, token, "x" * 73, "x" * 73).code == "too_long"
    assert store.activate(token, "long enough", "long enough") == "dan"  # still usable


def test_an_active_account_gets_a_link_only_as_a_reset(store):
    token, _ = store.issue_activation("eve", WEEK)
    store.activate(token, "first password")
    assert refused(store.issue_activation, "eve", WEEK).status == 409
    reset, _ = store.issue_activation("eve", WEEK, reset=True)
    assert store.verify("eve", "first password")  # until the reset link is used
    store.activate(reset, "second password")
    assert store.verify("eve", "second password") and not store.verify("eve", "first password")


def test_changing_a_password_needs_the_current_one(store):
    store.set_password("fay", "bootstrap pw")
    e = refused(store.change_password, "fay", "not it", "new password", "new password")
    assert (e.code, e.status) == ("wrong_password", 403)
    assert store.verify("fay", "bootstrap pw")
    assert refused(store.change_password, "fay", "bootstrap pw", "new", "new").code == (
        "too_short")
    store.change_password("fay", "bootstrap pw", "new password", "new password")
    assert store.verify("fay", "new password") and not store.verify("fay", "bootstrap pw")


def test_origin_is_kept_and_delete_forgets(store):
    store.mark_origin(["gus"], "course:ai101")
    store.mark_origin(["gus"], "course:other")
    assert store.status("gus")["origin"] == "course:ai101"
    store.set_password("gus", "some password")
    store.delete("gus")
    assert not store.verify("gus", "some password")


def test_first_use_passwords_are_carried_over(store, tmp_path):
    path = tmp_path / "passwords.dbm"
    with dbm.open(str(path), "c") as old:
        old[b"hal"] = bcrypt.hashpw(b"old password", bcrypt.gensalt())
    store.set_password("ivy", "mine already")
    assert store.import_dbm(path) == ["hal"]
    assert store.verify("hal", "old password")
    assert store.import_dbm(path) == []  # once
    assert store.import_dbm(tmp_path / "none.dbm") == []


def test_backoff_per_account_and_address():
    b = Backoff(free=3, free_per_address=5, base=1, cap=8)
    for t in range(3):
        assert b.wait("ann", "10.0.0.1", t) == 0
        b.failed("ann", "10.0.0.1", t)
    assert b.wait("ann", "10.0.0.9", 2) == 1  # the account waits, from any address
    assert b.wait("bob", "10.0.0.1", 2) == 0  # another account from that address: not yet
    b.failed("ann", "10.0.0.1", 3.0)
    assert b.wait("ann", "10.0.0.1", 3.0) == 2  # doubled
    for t in range(4, 12):
        b.failed("ann", "10.0.0.1", t)
    assert b.wait("ann", "10.0.0.2", 11) == 8  # capped
    assert b.wait("bob", "10.0.0.1", 11) == 8  # the address has failed too often
    assert b.wait(None, "10.0.0.1", 11) == 8 and b.wait(None, "10.0.0.2", 11) == 0
    b.succeeded("ann", 12)
    assert b.wait("ann", "10.0.0.2", 12) == 0
    assert b.wait("bob", "10.0.0.1", 11 + 901) == 0  # forgotten after a quiet while


def test_backoff_memory_is_bounded():
    b = Backoff(max_entries=100)
    for i in range(1000):
        b.failed(f"u{i}", f"10.0.{i // 250}.{i % 250}", float(i))
    assert len(b._counts) <= 100


def test_model_matches_migration(db_engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from npuhub.hub import orm

    def include_object(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table == "accounts"

    with db_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "include_object": include_object})
        assert compare_metadata(ctx, orm.Base.metadata) == []
