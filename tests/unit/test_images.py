"""The user images' Dockerfiles and images/build's pure parts (no Docker needed)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[2]
BASE_DOCKERFILE = REPO / "images" / "base" / "Dockerfile"
ASCEND_DOCKERFILE = REPO / "images" / "ascend" / "Dockerfile"


def load_build_script():
    loader = importlib.machinery.SourceFileLoader("npuhub_images_build", str(REPO / "images/build"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


build = load_build_script()


def parse(path: Path) -> DockerfileParser:
    parser = DockerfileParser(path=str(path))
    assert parser.structure, f"{path} parsed to nothing"
    return parser


def final_stage(parser: DockerfileParser) -> list[dict]:
    """Instructions after the last FROM: what the shipped image is made of."""
    structure = parser.structure
    last_from = max(i for i, s in enumerate(structure) if s["instruction"] == "FROM")
    return structure[last_from:]


def values(stage: list[dict], instruction: str) -> list[str]:
    return [s["value"] for s in stage if s["instruction"] == instruction]


# --- npuhub/base ---------------------------------------------------------------------


def test_base_dockerfile_parses_and_builds_from_the_imported_debian():
    parser = parse(BASE_DOCKERFILE)
    froms = [s["value"] for s in parser.structure if s["instruction"] == "FROM"]
    assert froms and all(f.startswith("${BASE}") for f in froms)
    assert any(s["value"].startswith("BASE=npuhub/debian") for s in parser.structure)


def test_base_runs_as_uid_1000_under_tini():
    stage = final_stage(parse(BASE_DOCKERFILE))
    assert values(stage, "USER")[-1] == "1000"
    assert json.loads(values(stage, "ENTRYPOINT")[-1])[:2] == ["tini", "-g"]
    assert json.loads(values(stage, "CMD")[-1]) == ["jupyterhub-singleuser"]
    assert values(stage, "WORKDIR")[-1] == "/home/jovyan"
    assert "8888" in values(stage, "EXPOSE")
    assert any(
        "--uid 1000" in r and "--gid 100" in r and "jovyan" in r for r in values(stage, "RUN")
    )


def test_base_installs_offline_into_a_venv_on_path():
    parser = parse(BASE_DOCKERFILE)
    runs = " ".join(s["value"] for s in parser.structure if s["instruction"] == "RUN")
    assert "python3 -m venv /opt/npuhub" in runs
    assert "--no-index" in runs
    assert "--no-deps" in runs and "npuhub-*.whl" in runs
    assert parser.envs["PATH"].split(":")[0] == "/opt/npuhub/bin"
    # the wheels are bind-mounted for the install step: they never become a layer
    assert "--mount=type=bind,source=wheels" in runs
    copied = [s["value"] for s in parser.structure if s["instruction"] in ("COPY", "ADD")]
    assert not any("wheel" in v for v in copied)


def test_base_requirements_pin_the_hub_version():
    reqs = (REPO / "images/base/requirements.txt").read_text().splitlines()
    reqs = [r.strip() for r in reqs if r.strip() and not r.startswith("#")]
    assert "jupyterhub==6.1.1" in reqs
    for name in ("jupyterlab", "ipywidgets", "nbconvert", "nbclient", "nbformat", "ipykernel"):
        assert any(r.startswith(name) for r in reqs), name


# --- npuhub/ascend -------------------------------------------------------------------


def test_ascend_dockerfile_parses_and_builds_from_cann():
    parser = parse(ASCEND_DOCKERFILE)
    assert "cann" in parser.baseimage
    stage = final_stage(parser)
    assert values(stage, "USER")[-1] == "1000"
    assert json.loads(values(stage, "ENTRYPOINT")[-1])[0] == "tini"


def test_ascend_installs_matching_frameworks_and_the_notebook_stack():
    parser = parse(ASCEND_DOCKERFILE)
    runs = " ".join(s["value"] for s in parser.structure if s["instruction"] == "RUN")
    for package in ("torch_npu==", "mindspore==", "jupyterlab", "jupyterhub==6.1.1",
                    "ipywidgets", "nbconvert", "nbclient", "npuhub-*.whl"):  # fmt: skip
        assert package in runs, package
    args = parser.args
    assert args["TORCH_NPU_VERSION"].startswith(args["TORCH_VERSION"])


def test_ascend_sets_the_cann_environment():
    envs = parse(ASCEND_DOCKERFILE).envs
    assert envs["ASCEND_HOME_PATH"].startswith("/usr/local/Ascend/ascend-toolkit")
    ld = envs["LD_LIBRARY_PATH"].split(":")
    assert "/usr/local/Ascend/driver/lib64/driver" in ld
    assert any(p.startswith("/usr/local/Ascend/ascend-toolkit") for p in ld)
    assert envs["ASCEND_OPP_PATH"].endswith("/opp")


# --- the stdlib parser images/build uses for --check ----------------------------------


@pytest.mark.parametrize("path", [BASE_DOCKERFILE, ASCEND_DOCKERFILE], ids=["base", "ascend"])
def test_build_parser_agrees_with_dockerfile_parse(path):
    ours = [(r["instruction"], r["startline"]) for r in build.parse_dockerfile(path.read_text())]
    theirs = [
        (s["instruction"], s["startline"])
        for s in parse(path).structure
        if s["instruction"] != "COMMENT"
    ]
    assert ours == theirs


@pytest.mark.parametrize(
    "text, message",
    [
        ("FROM x\nRUNN echo\n", "unknown instruction"),
        ("FROM x\nRUN echo \\\n", "continuation"),
        ("RUN echo\n", "before the first FROM"),
        ("ARG A=1\n", "no FROM"),
        ('FROM x\nENTRYPOINT ["tini", "--"\n', "not valid JSON"),
        ("FROM x AS\n", "FROM takes"),
        ("FROM x\nSHELL /bin/bash -c\n", "not valid JSON"),
    ],
)
def test_build_parser_rejects_broken_dockerfiles(text, message):
    with pytest.raises(build.BuildError, match=message):
        build.parse_dockerfile(text)


def test_build_check_validates_ascend_without_docker():
    out = subprocess.run(
        [sys.executable, str(REPO / "images/build"), "ascend", "--check"],
        capture_output=True, text=True, env={"PATH": "/nonexistent", "DOCKER": "/nonexistent"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "parses" in out.stdout


# --- content hash --------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path):
    """A copy of what npuhub/base is built from, to change freely."""
    root = tmp_path / "checkout"
    (root / "images").mkdir(parents=True)
    shutil.copytree(REPO / "images" / "base", root / "images" / "base")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for pkg in ("hub", "spawners", "extensions"):
        (root / pkg).mkdir()
        (root / pkg / "__init__.py").write_text(f'"""{pkg}"""\n')
    (root / "extensions" / "magics.py").write_text("X = 1\n")
    return root


def test_content_hash_is_stable(tree, tmp_path):
    first = build.content_hash("base", tree)
    assert first == build.content_hash("base", tree)
    assert len(first) == 12 and int(first, 16) >= 0
    # the same content elsewhere, copied later (other dates), hashes the same
    other = shutil.copytree(tree, tmp_path / "elsewhere")
    assert build.content_hash("base", other) == first
    # byte-compiled leftovers and unrelated folders do not count
    (tree / "extensions" / "__pycache__").mkdir()
    (tree / "extensions" / "__pycache__" / "magics.cpython-311.pyc").write_bytes(b"\0")
    (tree / "tests").mkdir()
    (tree / "tests" / "test_x.py").write_text("")
    assert build.content_hash("base", tree) == first


def test_content_hash_changes_with_the_dockerfile(tree):
    before = build.content_hash("base", tree)
    dockerfile = tree / "images" / "base" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\n# changed\n")
    assert build.content_hash("base", tree) != before


@pytest.mark.parametrize(
    "rel", ["images/base/requirements.txt", "extensions/magics.py", "pyproject.toml"]
)
def test_content_hash_changes_with_requirements_and_sources(tree, rel):
    before = build.content_hash("base", tree)
    with open(tree / rel, "a") as f:
        f.write("\n# changed\n")
    assert build.content_hash("base", tree) != before


def test_content_hash_covers_new_source_files(tree):
    before = build.content_hash("base", tree)
    (tree / "hub" / "new.py").write_text("")
    assert build.content_hash("base", tree) != before


def test_content_hash_covers_declared_data_files(tree):
    """e.g. the jupyter_server auto-enable JSON, wherever pyproject takes it from."""
    config = tree / "jupyter-config" / "jupyter_server_config.d" / "npuhub.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"ServerApp": {"jpserver_extensions": {"npuhub.extensions": true}}}')
    (tree / "pyproject.toml").write_text(
        '[project]\nname = "npuhub"\n'
        "[tool.setuptools.data-files]\n"
        '"etc/jupyter/jupyter_server_config.d" = '
        '["jupyter-config/jupyter_server_config.d/*.json"]\n'
    )
    before = build.content_hash("base", tree)
    config.write_text('{"ServerApp": {"jpserver_extensions": {"npuhub.extensions": false}}}')
    assert build.content_hash("base", tree) != before


def test_content_hash_differs_per_image(tree):
    shutil.copytree(REPO / "images" / "ascend", tree / "images" / "ascend")
    assert build.content_hash("ascend", tree) != build.content_hash("base", tree)


# --- the Debian mirror ---------------------------------------------------------------


def test_mirrors_come_from_apts_deb822_sources(tmp_path, monkeypatch):
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\n"
        "# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\n"
        "Components: main\n"
        "\n"
        "Types: deb-src\n"
        "URIs: http://mirror.example/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main contrib\n"
    )
    monkeypatch.setattr(build, "APT_SOURCES", sources)
    assert build.apt_mirrors() == [
        "deb http://mirror.example/debian bookworm main",
        "deb http://mirror.example/debian bookworm-updates main",
        "deb http://mirror.example/debian-security bookworm-security main contrib",
    ]


def test_mirror_falls_back_to_deb_debian_org(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "APT_SOURCES", tmp_path / "missing.sources")
    assert build.apt_mirrors() == ["http://deb.debian.org/debian"]
