"""Database operations on the accounts table. Every method is one short transaction and
returns plain values (callers on an event loop run them in an executor: bcrypt is slow
on purpose). Who may ask for what is decided by the caller."""

from __future__ import annotations

import dbm
from datetime import datetime, timedelta
from pathlib import Path

from npuhub.hub import clock, db

from . import passwords
from .models import Account

COURSE_ORIGIN = "course:"  # origin of an account a course's roster created


def course_origin(course_id: str) -> str:
    return COURSE_ORIGIN + course_id


class AccountError(ValueError):
    """A refusal: `code` for the pages (rendered in the reader's language), `status` for
    HTTP, and an English message for the API and the CLI."""

    def __init__(self, code: str, message: str, status: int = 400, **numbers):
        super().__init__(message)
        self.code, self.status, self.numbers = code, status, numbers


def status_dict(a: Account | None, name: str) -> dict:
    return {
        "name": name,
        "active": bool(a and a.activated and a.password_hash),
        "origin": a.origin if a else "",
        "link_expires": a.activation_expires.isoformat()
        if a and a.activation_hash and a.activation_expires else None,
    }


class AccountStore(db.Store):
    def status(self, name: str) -> dict:
        with self._read() as s:
            return status_dict(Account.find(s, name), name)

    def mark_origin(self, names: list[str], origin: str) -> None:
        """Record who created these accounts (a course roster), if not known yet."""
        with self._write() as s:
            for name in names:
                a = Account.find(s, name)
                if a is None:
                    s.add(Account(name=name, origin=origin))
                elif not a.origin:
                    a.origin = origin

    def issue_activation(self, name: str, ttl: timedelta, *, reset: bool = False,
                         origin: str = "") -> tuple[str, datetime]:
        """A new one-time activation token for `name` (replacing any earlier one) and
        when it expires. An active account gets one only with `reset` (an
        administrator's password reset: the old password works until the link is used)."""
        token = passwords.new_token()
        expires = clock.utcnow() + ttl
        with self._write() as s:
            a = Account.find(s, name)
            if a is None:
                a = Account(name=name, origin=origin)
                s.add(a)
            elif a.activated and not reset:
                raise AccountError("already_active", f"The account {name} is already "
                                   "activated; an administrator may reset its password",
                                   409)
            a.activation_hash, a.activation_expires = passwords.token_hash(token), expires
        return token, expires

    @staticmethod
    def _by_token(s, token: str) -> Account:
        if not isinstance(token, str) or not 20 <= len(token) <= 128:
            raise AccountError("unknown_link", "This activation link is not valid", 404)
        a = s.query(Account).filter_by(activation_hash=passwords.token_hash(token)).first()
        if a is None:
            raise AccountError("unknown_link", "This activation link is not valid: it was "
                               "used already or replaced by a newer one", 404)
        if a.activation_expires is None or a.activation_expires <= clock.utcnow():
            raise AccountError("expired_link", "This activation link has expired", 410)
        return a

    def link_owner(self, token: str) -> str:
        """The account a valid, unused, unexpired token activates."""
        with self._read() as s:
            return self._by_token(s, token).name

    def activate(self, token: str, password: str, confirm: str | None = None,
                 min_length: int = passwords.MIN_PASSWORD_LENGTH) -> str:
        """Use a token once: set the password, activate; return the account's name."""
        problem = passwords.password_problem(password, confirm, min_length)
        if problem:
            raise AccountError(problem[0], "The new password is not acceptable", 400,
                               **problem[1])
        hashed = passwords.hash_password(password)
        with self._write() as s:
            a = self._by_token(s, token)
            now = clock.utcnow()
            a.password_hash, a.password_changed = hashed, now
            a.activated = a.activated or now
            a.activation_hash = a.activation_expires = None
            return a.name

    def verify(self, name: str, password: str) -> bool:
        with self._read() as s:
            a = Account.find(s, name)
            hashed = a.password_hash if a is not None and a.activated else None
        return passwords.check_password(password, hashed)

    def change_password(self, name: str, old: str, new: str, confirm: str | None = None,
                        min_length: int = passwords.MIN_PASSWORD_LENGTH) -> None:
        if not self.verify(name, old):
            raise AccountError("wrong_password", "The current password is wrong", 403)
        problem = passwords.password_problem(new, confirm, min_length)
        if problem:
            raise AccountError(problem[0], "The new password is not acceptable", 400,
                               **problem[1])
        hashed = passwords.hash_password(new)
        with self._write() as s:
            a = Account.find(s, name)
            a.password_hash, a.password_changed = hashed, clock.utcnow()

    def set_password(self, name: str, password: str, origin: str = "") -> None:
        """Set and activate at once: only for the bootstrap admin, whose random password
        `npuhub up` prints once."""
        hashed = passwords.hash_password(password)
        with self._write() as s:
            a = Account.find(s, name) or Account(name=name, origin=origin)
            s.add(a)
            now = clock.utcnow()
            a.password_hash, a.password_changed, a.activated = hashed, now, a.activated or now

    def delete(self, name: str) -> None:
        with self._write() as s:
            a = Account.find(s, name)
            if a is not None:
                s.delete(a)

    def import_dbm(self, path: str | Path) -> list[str]:
        """Carry the passwords of an earlier first-use password file (passwords.dbm) over,
        for accounts not known here yet; return their names."""
        p = Path(path)
        if not p.exists() and not any(p.parent.glob(p.name + ".*")):
            return []
        with dbm.open(str(p), "r") as old:
            entries = {k.decode("utf-8"): old[k].decode("ascii") for k in old.keys()}
        done = []
        with self._write() as s:
            now = clock.utcnow()
            for name, hashed in sorted(entries.items()):
                if Account.find(s, name) is None and hashed.startswith("$2"):
                    s.add(Account(name=name, password_hash=hashed, activated=now,
                                  origin="first-use"))
                    done.append(name)
        return done
