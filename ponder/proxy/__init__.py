"""The OpenAI-compatible proxy (``ponder serve``): FastAPI, with the router in its lifespan."""

from ponder.proxy._app import create_app

__all__ = ["create_app"]
