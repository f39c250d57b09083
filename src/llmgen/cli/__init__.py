"""The command line: the only package that knows click (and the fast start that skips it)."""
