"""Orchestrator internals: config, job store, inbox intake, stage calls, metrics and the tick that joins them."""

from .config import Config
from .main import Orchestrator, process_loop, process_tick

__all__ = ["Config", "Orchestrator", "process_loop", "process_tick"]
