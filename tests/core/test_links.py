"""Signed links: a path that opens without a bearer token, for a while, and no other path."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from core.errors import InputError
from core.links import LinkError, check_signature, sign_path

SECRET = "k" * 32
PATH = "/api/export/1b2c/video/shared"
NOW_S = 1_800_000_000.0


def parts(link: str) -> tuple[str, int, str]:
    url = urlsplit(link)
    query = parse_qs(url.query)
    return url.path, int(query["expires"][0]), query["signature"][0]


def test_a_signed_link_opens_its_path_until_it_expires():
    path, expires, signature = parts(sign_path(PATH, SECRET, expires_s=3600, now_s=NOW_S))

    assert path == PATH and expires == NOW_S + 3600
    check_signature(PATH, expires, signature, SECRET, now_s=NOW_S + 3599)
    with pytest.raises(LinkError, match="has expired"):
        check_signature(PATH, expires, signature, SECRET, now_s=NOW_S + 3601)


@pytest.mark.parametrize(("path", "expiry_shift", "secret"), [
    ("/api/export/9999/video/shared", 0, SECRET),  # another video
    (PATH, 86_400, SECRET),  # a longer life than it was given
    (PATH, 0, "another secret " * 3),  # signed by another server (or a rotated secret)
], ids=["other-path", "later-expiry", "other-secret"])
def test_a_link_changed_in_any_part_is_refused(path, expiry_shift, secret):
    _, expires, signature = parts(sign_path(PATH, SECRET, expires_s=60, now_s=NOW_S))

    with pytest.raises(LinkError, match="not valid"):
        check_signature(path, expires + expiry_shift, signature, secret, now_s=NOW_S)


def test_a_signature_that_is_not_hex_is_refused_like_any_other():
    _, expires, _ = parts(sign_path(PATH, SECRET, expires_s=60, now_s=NOW_S))

    with pytest.raises(LinkError, match="not valid"):
        check_signature(PATH, expires, "\u00e9" * 64, SECRET, now_s=NOW_S)


def test_a_link_without_its_signature_is_refused_as_incomplete():
    with pytest.raises(LinkError, match="incomplete"):
        check_signature(PATH, None, None, SECRET)
    assert LinkError.http_status == 403


@pytest.mark.parametrize(("path", "expires_s", "message"), [
    (PATH, 0, "positive number of seconds"),
    ("api/relative", 60, "absolute path"),
    (PATH + "?x=1", 60, "absolute path"),
])
def test_only_absolute_paths_with_a_positive_lifetime_are_signed(path, expires_s, message):
    with pytest.raises(InputError, match=message):
        sign_path(path, SECRET, expires_s=expires_s)
