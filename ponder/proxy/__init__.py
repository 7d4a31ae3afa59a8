"""The OpenAI-compatible proxy (``ponder serve``): FastAPI, with the router in its lifespan."""

from ponder.proxy._app import create_app
from ponder.proxy._auth import Authenticator
from ponder.proxy._drain import STREAM_END, GracefulServer

__all__ = ["STREAM_END", "Authenticator", "GracefulServer", "create_app"]
