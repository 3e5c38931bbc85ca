import pytest

from npuhub.hub.configcheck import ConfigProblem, check_config_file


def write(tmp_path, text):
    p = tmp_path / "npuhub_config.py"
    p.write_text(text)
    return str(p)


def test_good_config_passes(tmp_path):
    check_config_file(write(tmp_path, "c.NPUHub.spawn_concurrency = 6\nc.NPUSpawner.binding_mode = 'runtime'\nc.JupyterHub.log_level = 'DEBUG'\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c.NPUHub.simulated_npu = 4\n", "unknown setting c.NPUHub.simulated_npu; did you mean c.NPUHub.simulated_npus?"),
        ("c.NPUHub.port = 'eighty'\n", "c.NPUHub.port = 'eighty' is wrong"),
        ("c.JupyterHb.port = 1\n", "unknown section c.JupyterHb; did you mean c.JupyterHub?"),
        ("c.NPUHub.profiles = [{'slug': 'Bad Slug', 'image': 'x'}]\n", "slug 'Bad Slug' must be lowercase"),
        ("this is not python\n", "fails to load"),
    ],
)
def test_bad_config(tmp_path, text, message):
    with pytest.raises(ConfigProblem, match=None) as e:
        check_config_file(write(tmp_path, text))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigProblem, match="does not exist"):
        check_config_file(str(tmp_path / "nope.py"))
