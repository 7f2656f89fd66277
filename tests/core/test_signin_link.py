"""The one-time sign-in link of local mode: opens once, only with its code, until it expires."""

from __future__ import annotations

import stat
import time

import pytest

from core.errors import AuthError
from core.settings import Settings
from core.signin_link import LINK_FILE_NAME, issue_code, redeem_code


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path)


def test_a_code_opens_once(settings):
    code = issue_code(settings)

    redeem_code(settings, code)
    with pytest.raises(AuthError, match="used already"):
        redeem_code(settings, code)


def test_only_the_code_itself_is_accepted_and_only_its_hash_is_kept(settings):
    code = issue_code(settings)
    kept = settings.home / LINK_FILE_NAME

    with pytest.raises(AuthError, match="not valid"):
        redeem_code(settings, code[:-1] + ("A" if code[-1] != "A" else "B"))
    assert code not in kept.read_text()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    redeem_code(settings, code)  # a wrong guess does not use the link up


def test_a_new_code_replaces_the_last_one(settings):
    old = issue_code(settings)
    new = issue_code(settings)

    with pytest.raises(AuthError, match="not valid"):
        redeem_code(settings, old)
    redeem_code(settings, new)


def test_an_expired_code_is_refused(settings, monkeypatch):
    code = issue_code(settings, ttl_s=60)
    monkeypatch.setattr(time, "time", lambda: 10**10)

    with pytest.raises(AuthError, match="expired"):
        redeem_code(settings, code)
