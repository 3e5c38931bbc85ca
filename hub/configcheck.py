"""Check a deployment config file before anything starts: an unknown or wrongly typed
setting is one line that names it and says what would be right."""

from __future__ import annotations

import difflib
from importlib.metadata import entry_points
from pathlib import Path

from traitlets import TraitError
from traitlets.config import Configurable, PyFileConfigLoader
from traitlets.config.loader import ConfigFileNotFound


class ConfigProblem(Exception):
    pass


def _configurables() -> dict[str, type]:
    # import what a deployment configures, so their classes are known
    import jupyterhub.app  # noqa: F401
    import jupyterhub.proxy  # noqa: F401

    import npuhub.hub.auth  # noqa: F401
    import npuhub.hub.jobs.config  # noqa: F401
    import npuhub.hub.settings  # noqa: F401

    # the spawners installed for JupyterHub (NPUSpawner among them: pyproject's entry
    # point), found the way JupyterHub finds `spawner_class = "npu"`
    for ep in entry_points(group="jupyterhub.spawners"):
        if ep.module.startswith("npuhub."):
            ep.load()

    found: dict[str, type] = {}
    todo = [Configurable]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


def _import_authenticators(config) -> None:
    """Make every installed authenticator's settings known (single sign-on:
    oauthenticator's `c.GenericOAuthenticator…`, ldapauthenticator's
    `c.LDAPAuthenticator…`): JupyterHub's authenticator entry points, and the class the
    config names by its import path."""
    import importlib
    from importlib.metadata import entry_points

    for ep in entry_points(group="jupyterhub.authenticators"):
        try:
            ep.load()
        except Exception:  # noqa: S112 - a plugin that cannot load: its settings stay unknown
            continue
    name = config.get("JupyterHub", {}).get("authenticator_class")
    if isinstance(name, str) and "." in name:
        try:
            importlib.import_module(name.rpartition(".")[0])
        except Exception as e:
            raise ConfigProblem(f"c.JupyterHub.authenticator_class = {name!r} cannot be "
                                f"imported: {type(e).__name__}: {e}") from None


def check_config_file(path: str) -> None:
    p = Path(path)
    if not p.is_file():
        raise ConfigProblem(f"config file {path} does not exist")
    try:
        config = PyFileConfigLoader(p.name, path=str(p.parent)).load_config()
    except ConfigFileNotFound:
        raise ConfigProblem(f"config file {path} cannot be read") from None
    except Exception as e:  # a syntax or runtime error in the file itself
        raise ConfigProblem(f"config file {path} fails to load: {type(e).__name__}: {e}") from None
    _import_authenticators(config)
    classes = _configurables()
    for section, values in config.items():
        cls = classes.get(section)
        if cls is None:
            hint = difflib.get_close_matches(section, classes, n=1)
            raise ConfigProblem(
                f"{path}: unknown section c.{section}"
                + (f"; did you mean c.{hint[0]}?" if hint else "")
            )
        traits = cls.class_traits(config=True)
        for key, value in values.items():
            trait = traits.get(key)
            if trait is None:
                hint = difflib.get_close_matches(key, traits, n=1)
                raise ConfigProblem(
                    f"{path}: unknown setting c.{section}.{key}"
                    + (f"; did you mean c.{section}.{hint[0]}?" if hint else "")
                )
            probe = cls.__new__(cls)
            try:
                trait.validate(probe, value)
            except TraitError as e:
                msg = str(e).split("\n")[0]
                raise ConfigProblem(
                    f"{path}: c.{section}.{key} = {value!r} is wrong: {msg}"
                ) from None
            except Exception:  # noqa: S112 - a validator that needs a live object: skip
                continue
    # cross-field validators of npuhub's own settings run on a real instance
    from npuhub.hub.settings import NPUHub

    try:
        NPUHub(config=config)
    except TraitError as e:
        raise ConfigProblem(f"{path}: {str(e).splitlines()[0]}") from None
