"""Shared fixtures. Service fixtures live in tests/support/ as pytest plugins.

The environment below is set before any AuraStudio or Prefect module is imported:
retries without waiting (the policy is still Prefect's), no telemetry, and a data folder
per test session so that nothing touches the user's own ~/.aurastudio.
"""

import os
import tempfile

_SESSION_HOME = tempfile.mkdtemp(prefix="aura-tests-")
os.environ["AURA_HOME"] = _SESSION_HOME
os.environ["AURA_RETRY__BACKOFF_FACTOR_S"] = "0"
os.environ["AURA_RETRY__JITTER_FACTOR"] = "0"
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

pytest_plugins = ["tests.support.s3", "tests.support.databases", "tests.support.aura",
                  "tests.support.openai", "tests.support.redis", "tests.support.synclabs",
                  "tests.support.api", "tests.support.gpu", "tests.support.supabase"]
