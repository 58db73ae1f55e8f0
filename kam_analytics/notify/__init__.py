"""Alerts to account owners and teams: rules (``rules.py``), where they go (``config.py``: the
secrets file's ``[kam.notify]``), how they are worded (``messages.py``) and delivered
(``channels.py``). The use cases — subscribe, run, log — are ``kam_analytics.alerts``."""
