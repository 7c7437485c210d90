"""The application's state, one `web.AppKey` each: set by `create_app`, read by the handlers."""

from __future__ import annotations

from aiohttp import web

from .access_log import AccessLog
from .aggregate import Aggregates
from .config import Config
from .events import ChangeStream
from .index import JobIndex
from .metrics import Views
from .progress import ProgressReader
from .prom import PrometheusView
from .status import SidecarStatus

CONFIG = web.AppKey("config", Config)
ACCESS_LOG = web.AppKey("access_log", AccessLog)
INDEX = web.AppKey("index", JobIndex)
STATUS = web.AppKey("status", SidecarStatus)
VIEWS = web.AppKey("views", Views)
PROMETHEUS = web.AppKey("prometheus", PrometheusView)
AGGREGATES = web.AppKey("aggregates", Aggregates)
EVENTS = web.AppKey("events", ChangeStream)
PROGRESS = web.AppKey("progress", ProgressReader)
