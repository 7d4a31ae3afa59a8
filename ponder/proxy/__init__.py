"""The OpenAI-compatible proxy (``ponder serve``): FastAPI, with the router in its lifespan."""

from ponder.proxy._app import create_app
from ponder.proxy._auth import Authenticator

__all__ = ["Authenticator", "create_app"]
