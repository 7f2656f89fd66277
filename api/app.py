"""The FastAPI application: a thin layer that starts flow runs and reports their state."""

from __future__ import annotations

from fastapi import FastAPI

from api.routers import health


def create_app() -> FastAPI:
    app = FastAPI(title="AuraStudio", version="0.1.0")
    app.include_router(health.router)
    return app


app = create_app()
