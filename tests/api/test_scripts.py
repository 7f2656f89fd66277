"""/api/scripts/analyze over HTTP: each sentence's emotion before anything is rendered."""

from __future__ import annotations

import pytest

from tests.support.api import ADA

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_every_sentence_comes_back_with_its_emotion_and_where_it_came_from(api):
    script = "Ugh, the fridge smells of rotten fish.\n[joy:0.8] What a wonderful day!\n"
    async with api.client() as http:
        response = await http.post("/api/scripts/analyze", json={"text": script},
                                   headers=api.bearer(ADA))
    assert response.status_code == 200
    sentences = response.json()["sentences"]
    assert [(s["emotion"], s["source"], s["line"]) for s in sentences] == [
        ("disgust", "auto", 1), ("joy", "tag", 2)]
    assert sentences[1] == {"text": "What a wonderful day!", "emotion": "joy",
                            "intensity": 0.8, "source": "tag", "line": 2}


async def test_a_markup_error_is_422_with_its_line_and_column(api):
    async with api.client() as http:
        response = await http.post("/api/scripts/analyze",
                                   json={"text": "Fine.\nStill fine. [joy:2] Not fine."},
                                   headers=api.bearer(ADA))
    assert response.status_code == 422
    assert response.json() == {"detail": "line 2, column 13: intensity 2 in [joy:2] is "
                                         "outside 0..1", "line": 2, "column": 13}


@pytest.mark.parametrize(("body", "status"), [
    ({"text": ""}, 422), ({"text": "x" * 100_001}, 422), ({}, 422), ({"text": 5}, 422),
    ({"text": "[pause 1]"}, 422),
])
async def test_an_empty_oversized_or_missing_script_is_refused(api, body, status):
    async with api.client() as http:
        response = await http.post("/api/scripts/analyze", json=body, headers=api.bearer(ADA))
    assert response.status_code == status
    assert "detail" in response.json()


async def test_analysis_needs_a_token(api):
    async with api.client() as http:
        response = await http.post("/api/scripts/analyze", json={"text": "Hi."})
    assert response.status_code == 401
