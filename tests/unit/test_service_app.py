"""The platform service as an application: configured from JupyterHub's service
environment (or its command line), it owns one hub client, the enforcer and the grading
runs, and serves every declared route with the generated OpenAPI document."""

from __future__ import annotations

from npuhub.hub.hubapi import AsyncHubAPI
from npuhub.hub.service.app import PlatformService
from npuhub.hub.service.routes import ROUTES, UNDOCUMENTED


def test_configured_from_the_hub_environment_and_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("NPUHUB_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("NPUHUB_CONFIG", raising=False)
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "service-token-123")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/services/npuhub/")
    monkeypatch.setenv("NPUHUB_SERVICE_PORT", "18123")
    app = PlatformService()
    app.initialize(["--port", "18124"])
    assert (app.ip, app.port, app.service_prefix) == ("127.0.0.1", 18124, "/services/npuhub/")
    assert isinstance(app.hub, AsyncHubAPI)
    assert (app.hub.url, app.hub.token) == ("http://127.0.0.1:8081/hub/api", "service-token-123")
    assert app.enforcer.hub is app.hub and app.jobs is None
    assert app.grading.progress("c", "a")["state"] == "idle"
    settings = app.web_app.settings
    assert settings["service"] is app and settings["ledger"] is app.ledger
    assert settings["openapi"]["servers"] == [{"url": "/services/npuhub/api/v1"}]
    served = {rule.matcher.regex.pattern for rule in app.web_app.wildcard_router.rules}
    extra = {f"/services/npuhub{p}$" for m in UNDOCUMENTED for p, _ in m.default_handlers}
    assert served == {f"/services/npuhub{r.pattern}$" for r in ROUTES} | extra
    assert "service-token-123" not in str(settings["openapi"])
