"""Idle NPUs come back: each device's use is read per node (parsers, sources), a server
whose NPUs all stay below the threshold is warned and then stopped (decide, watch), and
what was reclaimed is recorded for the user's next visit, the metrics and the monthly
report (models)."""
