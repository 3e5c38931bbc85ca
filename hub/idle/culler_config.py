# jupyterhub-idle-culler's configuration (its --config), as npuhub's hub starts it:
# only servers without NPUs are culled for HTTP inactivity (hub/idle/culling.py).
# ruff: noqa: F821  (`c` is given by traitlets)
from npuhub.hub.idle.culling import without_npus

c.IdleCuller.cull_arbiter_hook = without_npus
