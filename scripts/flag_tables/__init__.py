"""Backends of scripts/flag-table.py: each writes one engine version's flag table from that
version's own parser or argument definitions (never by hand); see scripts/flag-table.py."""
