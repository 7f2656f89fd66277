"""/api/scripts/analyze: every sentence of a script with its emotion, before rendering.

The script editor calls it to show the emotion the studio will give each sentence (from
a ``[tag]`` in the markup, or chosen by the emotion provider, ``AURA_EMOTION``). Markup
errors come back as 422 with the line and column.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AUTH_RESPONSES, CurrentUser
from models.domain import TEXT_WITHOUT_NUL, AnalyzedSentence
from tasks.emotion import analyze_script
from tasks.emotion.markup import MAX_SCRIPT_CHARS

router = APIRouter(prefix="/api/scripts", tags=["scripts"], responses=AUTH_RESPONSES)


class ScriptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_SCRIPT_CHARS, pattern=TEXT_WITHOUT_NUL)
    """The script, in AuraStudio's markup."""


class Analysis(BaseModel):
    sentences: list[AnalyzedSentence]


@router.post("/analyze", response_model=Analysis)
async def analyze(body: ScriptIn, _user: CurrentUser) -> Analysis:
    """Tag every sentence of the script with an emotion and an intensity."""
    return Analysis(sentences=await asyncio.to_thread(analyze_script, body.text))
