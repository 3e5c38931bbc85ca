"""What operators read: Prometheus metrics, usage series and plots, the monthly report.
Everything here is computed from the platform database when asked (no parallel state)."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).parent / "templates"  # the hub's usage page
