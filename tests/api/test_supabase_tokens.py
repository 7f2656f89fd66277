"""With ``AURA_SUPABASE_URL`` set, the API takes the project's own tokens (ES256, checked
against its JWKS) as it takes its HS256 ones: same user, same rows, same refusals."""

from __future__ import annotations

from tests.support.api import ADA, Api
from tests.support.supabase import USER


async def test_a_supabase_users_token_opens_the_api_as_that_user(api, configure,
                                                                 supabase_project):
    configure(SUPABASE_URL=supabase_project.url)
    token = {"Authorization": f"Bearer {supabase_project.token(email='sb@example.com')}"}
    async with api.client() as http:
        me = await http.get("/api/me", headers=token)
        made = await http.post("/api/projects", json={"title": "From Supabase"}, headers=token)
        theirs = await http.get("/api/projects", headers=token)
        others = await http.get("/api/projects", headers=Api.bearer(ADA))

    assert me.status_code == 200, me.text
    assert me.json()["id"] == str(USER) and me.json()["email"] == "sb@example.com"
    assert made.status_code == 201
    assert [p["title"] for p in theirs.json()["items"]] == ["From Supabase"]
    assert others.json()["total"] == 0  # HS256 tokens still work, for their own user


async def test_a_token_of_another_project_is_401_with_the_reason(api, configure,
                                                                 supabase_project):
    configure(SUPABASE_URL=supabase_project.url)
    foreign = supabase_project.token(issuer="https://other.supabase.co/auth/v1")
    async with api.client() as http:
        refused = await http.get("/api/me", headers={"Authorization": f"Bearer {foreign}"})

    assert refused.status_code == 401
    assert refused.json() == {"detail": "the token was not issued by the configured "
                                        "Supabase project"}


async def test_when_the_project_cannot_be_reached_the_answer_is_503(api, configure,
                                                                  supabase_project):
    token = supabase_project.token()
    configure(SUPABASE_URL="http://127.0.0.1:9")
    async with api.client() as http:
        answer = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 503 and "Retry-After" in answer.headers
    assert "could not read the signing keys" in answer.json()["detail"]
