"""The web studio's files: served at ``/`` by the API, outside the rate limit."""

from __future__ import annotations

import pytest

from api.app import WEB_DIR
from tests.support.api import ADA


async def test_the_studio_page_is_served_at_the_root(api):
    async with api.client() as http:
        page = await http.get("/")
        script = await http.get("/js/app.js")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text == (WEB_DIR / "index.html").read_text()
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


async def test_the_studio_files_do_not_use_up_the_rate_limit(api, configure):
    configure(RATE_LIMIT_PER_MINUTE="2")
    async with api.client() as http:
        pages = [(await http.get("/")).status_code for _ in range(5)]
        calls = [(await http.get("/api/projects", headers=api.bearer(ADA)))
                 .status_code for _ in range(3)]

    assert pages == [200] * 5
    assert calls == [200, 200, 429]


async def test_the_vendored_three_js_and_only_known_paths_are_served(api):
    if not (WEB_DIR / "node_modules" / "three").is_dir():
        pytest.skip("web/node_modules is not installed (npm is missing): `make install` "
                    "installs three.js with npm ci")
    async with api.client() as http:
        three = await http.get("/node_modules/three/build/three.module.js")
        unknown = await http.get("/no-such-page")

    assert three.status_code == 200 and "javascript" in three.headers["content-type"]
    assert unknown.status_code == 404
