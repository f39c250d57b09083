"""Every rule a spec must obey, run in one order over one analysis."""
