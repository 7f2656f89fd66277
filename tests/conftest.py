"""Shared fixtures. Service fixtures live in tests/support/ as pytest plugins."""

pytest_plugins = ["tests.support.s3", "tests.support.databases"]
