"""Subcommands of the `ivr` console script, one module each."""
