"""/api/export over HTTP: a render starts as a Prefect deployment run and the job follows it.

These tests register the ``script-to-video/default`` deployment on the test Prefect API but
run no runner, so runs stay scheduled until a test moves them; tests/e2e/test_serve.py
renders for real against ``aura serve``.
"""

from __future__ import annotations

import uuid

import pytest
from prefect.client.orchestration import get_client
from prefect.states import Crashed, Running

from core.db import session_scope
from flows.runs import RENDER_DEPLOYMENT, RenderRequest
from models import jobs
from tests.support.api import ADA, BOB, Api, make_project

pytestmark = pytest.mark.usefixtures("prefect_api", "deployment")

SCRIPT = "[joy] Hello there! Today we build a bridge."


@pytest.fixture(scope="session")
async def deployment(prefect_api) -> uuid.UUID:
    from flows.script_to_video import script_to_video

    return await (await script_to_video.ato_deployment(name="render")).aapply()


async def project(http, user=ADA, script=SCRIPT, **settings) -> str:  # noqa: ANN001
    return await make_project(http, script, user, **settings)


async def export(http, project_id: str, user=ADA):  # noqa: ANN001
    return await http.post("/api/export", json={"project_id": project_id},
                           headers=Api.bearer(user))


async def flow_run(flow_run_id: str):  # noqa: ANN201
    async with get_client() as client:
        return await client.read_flow_run(uuid.UUID(flow_run_id))


async def test_an_export_is_a_queued_job_and_a_scheduled_deployment_run(api):
    async with api.client() as http:
        project_id = await project(http, resolution="1080p", avatar="stock:ben")
        response = await export(http, project_id)
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued" and job["progress"] == 0.0 and job["video_url"] is None
    assert job["project_id"] == project_id and job["flow_run_state"] == "SCHEDULED"
    run = await flow_run(job["flow_run_id"])
    assert run.idempotency_key == job["id"]
    assert run.parameters["job_id"] == job["id"] and run.parameters["script"] == SCRIPT
    assert run.parameters["spec"]["resolution"] == "1080p"
    assert run.parameters["spec"]["avatar"] == "stock:ben"
    async with get_client() as client:
        assert (await client.read_deployment(run.deployment_id)).name == "render"
    assert RENDER_DEPLOYMENT == "script-to-video/render"
    assert job["batch"] is False and job["restarts"] == 0


@pytest.mark.parametrize(("script", "status", "detail"), [
    ("", 422, "the project has no script to render"),
    ("Fine.\nStill fine. [joy:2] Not fine.", 422,
     "line 2, column 13: intensity 2 in [joy:2] is outside 0..1"),
])
async def test_a_project_that_cannot_render_is_refused_before_any_run(api, script, status,
                                                                      detail):
    async with api.client() as http:
        response = await export(http, await project(http, script=script))
        listing = (await http.get("/api/export", headers=api.bearer(ADA))).json()
    assert response.status_code == status
    assert response.json()["detail"] == detail
    assert listing["total"] == 0


async def test_only_the_owner_can_export_see_or_cancel(api):
    async with api.client() as http:
        project_id = await project(http)
        stranger = await export(http, project_id, user=BOB)
        missing = await export(http, str(uuid.uuid4()))
        job = (await export(http, project_id)).json()
        path = f"/api/export/{job['id']}"
        answers = [await http.get(path, headers=api.bearer(BOB)),
                   await http.post(f"{path}/cancel", headers=api.bearer(BOB)),
                   await http.get(f"{path}/video", headers=api.bearer(BOB))]
        theirs = (await http.get("/api/export", headers=api.bearer(BOB))).json()
        mine = (await http.get("/api/export", headers=api.bearer(ADA))).json()
    assert stranger.status_code == missing.status_code == 404
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert answers[0].json() == {"detail": f"there is no export job with id '{job['id']}'"}
    assert theirs["total"] == 0 and [j["id"] for j in mine["items"]] == [job["id"]]


async def test_cancelling_cancels_the_flow_run_and_the_job(api):
    async with api.client() as http:
        job = (await export(http, await project(http))).json()
        cancelled = await http.post(f"/api/export/{job['id']}/cancel", headers=api.bearer(ADA))
        again = await http.post(f"/api/export/{job['id']}/cancel", headers=api.bearer(ADA))
        video = await http.get(f"/api/export/{job['id']}/video", headers=api.bearer(ADA))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["error"] == "cancelled by the user"
    assert (await flow_run(job["flow_run_id"])).state.type.value == "CANCELLED"
    assert again.status_code == 409
    assert again.json()["detail"] == f"export job {job['id']} is cancelled and cannot be cancelled"
    assert video.status_code == 409


async def test_a_running_flow_run_is_asked_to_stop(api):
    async with api.client() as http:
        job = (await export(http, await project(http))).json()
        async with get_client() as client:
            await client.set_flow_run_state(uuid.UUID(job["flow_run_id"]), Running(),
                                            force=True)
        cancelled = (await http.post(f"/api/export/{job['id']}/cancel",
                                     headers=api.bearer(ADA))).json()
    assert cancelled["flow_run_state"] == "CANCELLING" and cancelled["status"] == "cancelled"


async def crash(flow_run_id: str, message: str = "the worker was killed") -> None:
    async with get_client() as client:
        await client.set_flow_run_state(uuid.UUID(flow_run_id), Crashed(message=message),
                                        force=True)


async def test_a_crashed_run_is_started_again_with_the_same_parameters(api):
    async with api.client() as http:
        job = (await export(http, await project(http))).json()
        await crash(job["flow_run_id"])
        seen = (await http.get(f"/api/export/{job['id']}", headers=api.bearer(ADA))).json()
        again = (await http.get(f"/api/export/{job['id']}", headers=api.bearer(ADA))).json()
    assert seen["status"] == "queued" and seen["restarts"] == 1
    assert seen["flow_run_id"] != job["flow_run_id"] and seen["flow_run_state"] == "SCHEDULED"
    crashed, restarted = await flow_run(job["flow_run_id"]), await flow_run(seen["flow_run_id"])
    assert restarted.parameters == crashed.parameters
    assert restarted.deployment_id == crashed.deployment_id
    assert restarted.idempotency_key == f"{job['id']}:restart-1"
    assert again == seen  # reading again starts nothing more


async def test_a_run_that_keeps_crashing_fails_its_job_with_the_reason(api, configure):
    configure(MAX_RESTARTS="1")
    async with api.client() as http:
        job = (await export(http, await project(http))).json()
        await crash(job["flow_run_id"])
        restarted = (await http.get(f"/api/export/{job['id']}", headers=api.bearer(ADA))).json()
        await crash(restarted["flow_run_id"], "the worker ran out of memory")
        seen = (await http.get(f"/api/export/{job['id']}", headers=api.bearer(ADA))).json()
    assert seen["status"] == "failed" and seen["flow_run_state"] == "CRASHED"
    assert seen["error"] == "the render crashed: the worker ran out of memory (after 1 restart)"


async def test_without_restarts_a_crash_fails_the_job_at_once(api, configure):
    configure(MAX_RESTARTS="0")
    async with api.client() as http:
        job = (await export(http, await project(http))).json()
        await crash(job["flow_run_id"], "the worker ran out of memory")
        seen = (await http.get(f"/api/export/{job['id']}", headers=api.bearer(ADA))).json()
    assert seen["status"] == "failed" and seen["restarts"] == 0
    assert seen["error"] == "the render crashed: the worker ran out of memory"


async def test_a_batch_export_waits_for_the_batch_with_its_request(api):
    async with api.client() as http:
        project_id = await project(http, resolution="1080p", voice="joe")
        response = await http.post("/api/export", json={"project_id": project_id,
                                                        "batch": True},
                                   headers=Api.bearer(ADA))
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued" and job["batch"] is True
    assert job["flow_run_id"] is None and job["flow_run_state"] is None
    async with session_scope() as session:
        row = await jobs.get_job(session, job["id"])
    request = RenderRequest.model_validate(row.spec)
    assert request.script == SCRIPT and request.spec.resolution == "1080p"
    assert request.voice == "joe"


async def _complete(job_id: str, video: bytes) -> None:
    """End a job as its flow run would: its MP4 stored, the job completed."""
    from core.storage import get_storage

    key = f"published/{job_id}.mp4"
    get_storage().put_bytes(key, video, "video/mp4")
    async with session_scope() as session:
        await jobs.mark_running(session, job_id)
        await jobs.mark_completed(session, job_id, video_key=key, url=f"file:///{key}")


async def test_a_finished_video_opens_through_its_signed_link_without_a_token(api):
    async with api.client() as http:
        first = (await export(http, await project(http))).json()
        second = (await export(http, await project(http))).json()
        await _complete(first["id"], b"first mp4")
        await _complete(second["id"], b"second mp4")
        link = (await http.get(f"/api/export/{first['id']}", headers=api.bearer(ADA))
                ).json()["video_url"]
        shared = await http.get(link)  # as <video src> or a shared link: no header
        other_job = await http.get(link.replace(first["id"], second["id"]))
        forged = await http.get(link[:-4] + "0000")
        unsigned = await http.get(f"/api/export/{first['id']}/video/shared")
        without_token = await http.get(f"/api/export/{first['id']}/video")

    assert link.startswith(f"/api/export/{first['id']}/video/shared?expires=")
    assert shared.status_code == 200 and shared.content == b"first mp4"
    assert shared.headers["content-type"] == "video/mp4"
    assert other_job.status_code == forged.status_code == unsigned.status_code == 403
    assert forged.json() == {"detail": "this link is not valid (its signature does not "
                                       "match)"}
    assert without_token.status_code == 401
