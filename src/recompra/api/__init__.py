"""The REST API (FastAPI): ``create_app`` builds the application."""

from recompra.api.app import create_app

__all__ = ["create_app"]
