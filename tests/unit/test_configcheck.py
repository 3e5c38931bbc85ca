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


OAUTH = """c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.client_id = "npuhub"
c.GenericOAuthenticator.client_secret = "s3cret"
c.GenericOAuthenticator.authorize_url = "https://id.example.org/authorize"
c.GenericOAuthenticator.token_url = "https://id.example.org/token"
c.GenericOAuthenticator.userdata_url = "https://id.example.org/userinfo"
c.GenericOAuthenticator.username_claim = "preferred_username"
c.GenericOAuthenticator.allowed_groups = {"students"}
c.OAuthenticator.scope = ["openid", "profile"]
"""
LDAP = """c.JupyterHub.authenticator_class = "ldapauthenticator.LDAPAuthenticator"
c.LDAPAuthenticator.server_address = "ldap.example.org"
c.LDAPAuthenticator.bind_dn_template = ["uid={username},ou=people,dc=example,dc=org"]
c.LDAPAuthenticator.tls_strategy = "on_connect"
"""


@pytest.mark.parametrize("text", [OAUTH, LDAP])
def test_single_sign_on_settings_are_known(tmp_path, text):
    check_config_file(write(tmp_path, text))


def test_single_sign_on_settings_are_still_checked(tmp_path):
    with pytest.raises(ConfigProblem) as e:
        check_config_file(write(tmp_path, OAUTH + "c.GenericOAuthenticator.client_idd = 1\n"))
    assert "did you mean c.GenericOAuthenticator.client_id?" in str(e.value)
    with pytest.raises(ConfigProblem) as e:
        check_config_file(write(tmp_path, "c.JupyterHub.authenticator_class = 'nosuch.Auth'\n"))
    assert "cannot be imported: ModuleNotFoundError" in str(e.value)
