"""The `aura` command line."""
