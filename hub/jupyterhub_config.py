# npuhub's JupyterHub configuration. `npuhub up` runs `jupyterhub -f` on this file; it
# reads the environment that `npuhub up` prepared, then loads the deployment's own
# config file ($NPUHUB_CONFIG), whose settings win.
# ruff: noqa: F821  (`c` and `load_subconfig` are given by traitlets)
import os
import sys
from pathlib import Path

from npuhub.hub import i18n, idle, network, reports
from npuhub.hub.settings import load_settings

config_file = os.environ.get("NPUHUB_CONFIG") or None
settings = load_settings(config_file)
state = Path(settings.state_dir)
ports = {
    k: int(os.environ[f"NPUHUB_{k.upper()}_PORT"]) for k in ("hub_api", "proxy_api", "service")
}
public_url = f"http://{settings.ip}:{settings.port}"
# user containers reach the host only at their network's gateway (npuhub up made it):
# the hub's API and the platform service listen there, the rest on 127.0.0.1
gateway = os.environ["NPUHUB_GATEWAY"]
internal_net, outbound_net = network.plan(settings.network_name)
service_url = f"http://{gateway}:{ports['service']}"

c.JupyterHub.ip = settings.ip
c.JupyterHub.port = settings.port
c.JupyterHub.hub_ip = gateway
c.JupyterHub.hub_port = ports["hub_api"]
c.JupyterHub.hub_connect_ip = gateway
c.JupyterHub.db_url = settings.hub_db_url
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = False  # user servers outlive a hub restart
c.JupyterHub.last_activity_interval = 60
c.JupyterHub.concurrent_spawn_limit = 500
c.JupyterHub.default_url = "/hub/home"

c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{ports['proxy_api']}"
c.ConfigurableHTTPProxy.should_start = True
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.ConfigurableHTTPProxy.debug = settings.debug

c.JupyterHub.authenticator_class = "npuhub.hub.auth.NPUHubAuthenticator"
c.NPUHubAuthenticator.db_url = settings.db_url  # password hashes, activation links
c.Authenticator.admin_users = {settings.admin_user}

# --- the platform service, managed by the hub
service_env = {
    "NPUHUB_STATE_DIR": str(state),
    "NPUHUB_SERVICE_PORT": str(ports["service"]),
    "NPUHUB_PUBLIC_URL": public_url,
    "NPUHUB_GATEWAY": gateway,  # the service listens there too, for containers
}
if config_file:
    service_env["NPUHUB_CONFIG"] = config_file
c.JupyterHub.services = [
    {
        "name": "npuhub",
        "url": f"http://127.0.0.1:{ports['service']}",  # the proxy's way in
        "command": [sys.executable, "-m", "npuhub.hub.service"],
        "environment": service_env,
        "api_token": (state / "service.token").read_text().strip(),
        "display": False,
    },
    {
        # the holder of admin.token (the CLI and operators' scripts)
        "name": "npuhub-admin",
        "api_token": (state / "admin.token").read_text().strip(),
        "display": False,
    },
]
c.JupyterHub.load_roles = [
    {"name": "admin", "services": ["npuhub", "npuhub-admin"]},
    # users and their servers' own tokens may call the platform service
    {"name": "user", "scopes": ["self", "access:services!service=npuhub"]},
    {
        "name": "server",
        "scopes": [
            "users:activity!user",
            "access:servers!server",
            "access:services!service=npuhub",
            "read:users:name!user",
            "read:users:groups!user",
        ],
    },
]

# --- servers without NPUs: stopped after HTTP inactivity by jupyterhub-idle-culler, with
# the scopes its README asks for (servers with NPUs: the service's NPU idle watch)
if settings.idle_culler_timeout:
    cull_every = settings.idle_culler_every or max(settings.idle_culler_timeout // 2, 1)
    c.JupyterHub.services.append({
        "name": "idle-culler",
        "command": [
            sys.executable, "-m", "jupyterhub_idle_culler",
            f"--timeout={settings.idle_culler_timeout}",
            f"--cull-every={cull_every}",
            f"--config={Path(idle.__file__).parent / 'culler_config.py'}",
        ],
        "display": False,
    })
    c.JupyterHub.load_roles.append({
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    })

# --- the spawner
c.JupyterHub.spawner_class = "npu"
c.NPUSpawner.db_url = settings.db_url
c.NPUSpawner.profiles = settings.profiles
c.NPUSpawner.spawn_concurrency = settings.spawn_concurrency
c.NPUSpawner.line_max_wait = settings.line_max_wait  # the line for NPUs (hub/line)
c.NPUSpawner.line_session_limit = settings.line_session_limit
c.NPUSpawner.poll_interval = settings.poll_interval
c.NPUSpawner.mem_limit = settings.mem_limit
c.NPUSpawner.cpu_limit = float(settings.cpu_limit)
c.NPUSpawner.pids_limit = settings.pids_limit
c.NPUSpawner.prefix = "npuhub"
c.NPUSpawner.api_url = f"{service_url}/services/npuhub/api/v1"
c.NPUSpawner.network_name = internal_net.name
c.NPUSpawner.outbound_network_name = outbound_net.name
c.NPUSpawner.mounts_root = str(state / "mounts")
c.NPUSpawner.debug = settings.debug
if settings.engine == "slurm":  # cluster mode: the NPUSpawner settings above apply too
    c.JupyterHub.spawner_class = "npuhub-slurm"
    c.SlurmNPUSpawner.shared_dir = str(state / "slurm")
c.JupyterHub.log_level = "DEBUG" if settings.debug else "INFO"

# --- the hub's pages in the browser's language (Accept-Language): spawn and spawn-pending
c.JupyterHub.template_paths = [str(i18n.TEMPLATES_DIR), str(reports.TEMPLATES_DIR)]  # + /hub/usage
c.JupyterHub.template_vars = {"npuhub_i18n": i18n.TemplateI18n()}

if config_file:
    load_subconfig(config_file)
