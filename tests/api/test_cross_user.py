"""The cross-user matrix: for every endpoint that takes an id, Bob gets 404 for Ada's
objects, on SQLite and on PostgreSQL, and no listing shows them to him; afterwards Ada's
objects are all still there, unchanged.

(On PostgreSQL, tests/models/test_rls.py shows that queries without an owner filter see
only the caller's rows; tests/api/test_realtime.py covers the WebSocket's project topics.)
"""

from __future__ import annotations

import uuid

import pytest

from tests.support.api import ADA, BOB, Api
from tests.support.uploads import astronaut_jpeg

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture(scope="session")
async def deployment(prefect_api) -> uuid.UUID:
    from flows.script_to_video import script_to_video

    return await (await script_to_video.ato_deployment(name="render")).aapply()


async def adas_objects(http) -> dict[str, str]:  # noqa: ANN001
    """A project, an export job of it, a photo asset and an avatar, all Ada's."""
    ada = Api.bearer(ADA)
    project = (await http.post("/api/projects", headers=ada, json={
        "title": "Ada's", "script": "Hello there."})).json()["id"]
    job = (await http.post("/api/export", headers=ada, json={"project_id": project})).json()
    asset = (await http.post("/api/assets", headers=ada, files={
        "file": ("me.jpg", astronaut_jpeg())})).json()["id"]
    avatar = (await http.post("/api/avatars", headers=ada, data={"name": "Ada"}, files={
        "photo": ("me.jpg", astronaut_jpeg())})).json()["avatar_id"]
    return {"project": project, "job": job["id"], "asset": asset, "avatar": avatar}


REQUESTS = [
    ("GET", "/api/projects/{project}", None),
    ("PATCH", "/api/projects/{project}", {"title": "Bob's now"}),
    ("DELETE", "/api/projects/{project}", None),
    ("POST", "/api/export", {"project_id": "{project}"}),
    ("GET", "/api/export/{job}", None),
    ("POST", "/api/export/{job}/cancel", None),
    ("GET", "/api/export/{job}/video", None),
    ("GET", "/api/assets/{asset}", None),
    ("GET", "/api/assets/{asset}/content", None),
    ("DELETE", "/api/assets/{asset}", None),
    ("GET", "/api/avatars/{avatar}", None),
    ("DELETE", "/api/avatars/{avatar}", None),
]
LISTINGS = ["/api/projects", "/api/export", "/api/assets", "/api/avatars"]


def fill(value, ids: dict[str, str]):  # noqa: ANN001, ANN201
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    return value


async def test_bob_gets_404_for_every_one_of_adas_objects_and_sees_none_listed(api,
                                                                               deployment):
    async with api.client() as http:
        ids = await adas_objects(http)
        before = {path: (await http.get(path, headers=Api.bearer(ADA))).json()
                  for path in LISTINGS}
        answers = {}
        for method, path, body in REQUESTS:
            response = await http.request(method, fill(path, ids), json=fill(body, ids),
                                          headers=Api.bearer(BOB))
            answers[f"{method} {path}"] = response.status_code
        bobs = {path: (await http.get(path, headers=Api.bearer(BOB))).json()
                for path in LISTINGS}
        after = {path: (await http.get(path, headers=Api.bearer(ADA))).json()
                 for path in LISTINGS}
    assert answers == {f"{method} {path}": 404 for method, path, _ in REQUESTS}
    assert bobs["/api/projects"]["total"] == bobs["/api/export"]["total"] == 0
    assert bobs["/api/assets"]["total"] == 0
    assert {item["id"] for item in bobs["/api/avatars"]["items"]}.isdisjoint(ids.values())
    assert after == before
    # ... and Ada's objects are really there (for her, every one of them answers).
    assert before["/api/projects"]["items"][0]["id"] == ids["project"]
    assert before["/api/export"]["items"][0]["id"] == ids["job"]
    assert before["/api/assets"]["items"][0]["id"] == ids["asset"]
    assert ids["avatar"] in {item["id"] for item in before["/api/avatars"]["items"]}
