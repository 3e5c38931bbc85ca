"""A spawn request, resolved once: `user_options` (untrusted: the form or the REST API)
→ one immutable :class:`SpawnRequest` (profile, image, npus, account, device type).

Pure: the profiles the user may use come in as :class:`~npuhub.hub.profiles.ProfileRules`
(gathered in an executor), the sentences in the user's language through `_` (gettext).
NPUSpawner's `apply_user_options` calls :func:`resolve`; `start` reads only its result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from npuhub.hub import profiles
from npuhub.hub.profiles import ProfileRules

ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
OPTIONS = ("profile", "npus", "account", "image", "wait")  # image: legacy, a profile's image


class InvalidOptions(ValueError):
    """user_options refused; str(error) names the field, in the user's language."""


@dataclass(frozen=True)
class SpawnRequest:
    profile: str
    image: str
    npus: int
    account: str | None = None
    device_type: str | None = None
    wait: bool = True  # no NPUs free now: wait in the line (False: refused at once)

    def user_options(self) -> dict:
        """What the hub keeps and shows as the server's user_options."""
        options: dict = {"profile": self.profile, "npus": self.npus}
        if self.account is not None:
            options["account"] = self.account
        if not self.wait:
            options["wait"] = False
        return options


def _identity(text: str) -> str:
    return text


def resolve(
    options: dict,
    rules: ProfileRules,
    groups: Sequence[str],
    _: Callable[[str], str] = _identity,
) -> SpawnRequest:
    """Validate `options` (`profile`, `npus`, `account`, `wait`, legacy `image`) against the
    profiles the user may use; no profile given: the first of them. Raises
    InvalidOptions with a sentence that names the field."""
    if not isinstance(options, dict):
        raise InvalidOptions(_("Unknown option(s) {names}; use profile, npus, account").format(
            names=type(options).__name__))
    unknown = sorted(str(k)[:64] for k in set(options) - set(OPTIONS))
    if unknown:
        raise InvalidOptions(
            _("Unknown option(s) {names}; use profile, npus, account").format(
                names=", ".join(unknown)
            )
        )
    account = options.get("account")
    if account is not None:
        mine = sorted(groups)
        if not isinstance(account, str) or not ACCOUNT.match(account) or account not in mine:
            raise InvalidOptions(
                _("account must be one of your groups: {groups}").format(
                    groups=", ".join(mine) or _("you have none")
                )
            )
    usable = profiles.usable(rules, groups, account)
    slugs = [p["slug"] for p in usable]
    slug = options.get("profile") or None
    image = options.get("image")
    if image is not None and (
        not isinstance(image, str) or profiles.choose(usable, image=image) is None
    ):
        raise InvalidOptions(
            _("image {image} is not allowed; choose a profile: {profiles}").format(
                image=repr(str(image)[:100]), profiles=", ".join(slugs)
            )
        )
    if slug is not None and not isinstance(slug, str):
        slug = repr(slug)
    profile = profiles.choose(usable, slug=slug, image=image)
    if profile is None:
        raise InvalidOptions(
            _("profile {profile} is not one of yours: {profiles}").format(
                profile=repr(str(slug or "")[:64]), profiles=", ".join(slugs) or _("none")
            )
        )
    npus = options.get("npus", 0)
    try:
        if isinstance(npus, bool | float):
            raise TypeError
        npus = int(npus)
    except (TypeError, ValueError):
        raise InvalidOptions(_("npus must be a whole number")) from None
    if npus not in profile["npus"]:
        raise InvalidOptions(
            _("npus={npus} is not offered by profile {profile}: {choices}").format(
                npus=npus,
                profile=repr(profile["slug"]),
                choices=", ".join(str(n) for n in profile["npus"]),
            )
        )
    wait = options.get("wait", True)
    if isinstance(wait, str) and wait.lower() in ("true", "false"):  # a form's value
        wait = wait.lower() == "true"
    if not isinstance(wait, bool):
        raise InvalidOptions(_("wait must be true or false"))
    return SpawnRequest(
        profile=profile["slug"],
        image=profile["image"],
        npus=npus,
        account=account,
        device_type=profile.get("device_type"),
        wait=wait,
    )
