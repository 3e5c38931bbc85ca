"""Single sign-on configs pass `npuhub up`'s check and start: a generic OAuth/OIDC
provider (the login page sends the browser to its authorize URL, here on loopback where
nothing answers: the redirect is what is checked) and LDAP (the login form answers)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.conftest import cleanup, dump, new_hub
from tests.hubclient import free_port

pytestmark = pytest.mark.integration


def started(tmp_root, config: str):
    hub = new_hub(tmp_root, config)
    try:
        hub.start()
    except Exception:
        dump(hub, "single sign-on hub")
        cleanup(hub)
        raise
    return hub


def test_generic_oauth_login_redirects_to_the_provider(tmp_root):
    idp = f"http://127.0.0.1:{free_port()}"
    hub = started(tmp_root, f"""
c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.client_id = "npuhub-test"
c.GenericOAuthenticator.client_secret = "not-a-real-secret"
c.GenericOAuthenticator.authorize_url = "{idp}/oauth/authorize"
c.GenericOAuthenticator.token_url = "{idp}/oauth/token"
c.GenericOAuthenticator.userdata_url = "{idp}/oauth/userinfo"
c.GenericOAuthenticator.username_claim = "preferred_username"
c.GenericOAuthenticator.allow_all = True
c.Authenticator.auto_login = True
""")
    try:
        s = requests.Session()
        r = s.get(f"{hub.url}/hub/login", allow_redirects=False, timeout=30)
        assert r.status_code == 302 and "/hub/oauth_login" in r.headers["Location"]
        r = s.get(requests.compat.urljoin(hub.url, r.headers["Location"]),
                  allow_redirects=False, timeout=30)
        assert r.status_code == 302, r.text
        where = urlsplit(r.headers["Location"])
        assert f"{where.scheme}://{where.netloc}{where.path}" == f"{idp}/oauth/authorize"
        query = parse_qs(where.query)
        assert query["client_id"] == ["npuhub-test"] and query["response_type"] == ["code"]
        assert query["redirect_uri"][0].endswith("/hub/oauth_callback")
        # the platform service still answers to tokens (created by the admin)
        assert requests.get(f"{hub.service}/health", timeout=10).status_code == 200
    finally:
        hub.stop()
        cleanup(hub)


def test_ldap_config_starts(tmp_root):
    hub = started(tmp_root, f"""
c.JupyterHub.authenticator_class = "ldapauthenticator.LDAPAuthenticator"
c.LDAPAuthenticator.server_address = "127.0.0.1"
c.LDAPAuthenticator.server_port = {free_port()}
c.LDAPAuthenticator.bind_dn_template = ["uid={{username}},ou=people,dc=example,dc=org"]
c.LDAPAuthenticator.allow_all = True
""")
    try:
        page = requests.get(f"{hub.url}/hub/login", timeout=30)
        assert page.status_code == 200
        assert 'name="username"' in page.text and 'name="password"' in page.text
    finally:
        hub.stop()
        cleanup(hub)
