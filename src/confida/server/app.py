"""The ASGI application."""

from __future__ import annotations

from fastapi import FastAPI

from confida import __version__
from confida.config import Config


def create_app(config: Config) -> FastAPI:
    app = FastAPI(title="Confida", version=__version__, docs_url=None, redoc_url=None)
    app.state.config = config

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Liveness: the process answers. No personal data, no authentication needed."""
        return {"status": "ok", "version": __version__}

    from confida.web.app import mount  # the privacy center and the console

    mount(app, config)
    return app
