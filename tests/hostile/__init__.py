"""Hostile-peer tests: raw-socket attackers against every backend's server, and hostile servers."""
