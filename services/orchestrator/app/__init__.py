"""Orchestrator internals: config, job store, inbox intake, stage calls, retry policy, metrics, and the tick and
loop that join them."""

from .config import Config
from .main import process_loop, process_tick
from .tick import Orchestrator

__all__ = ["Config", "Orchestrator", "process_loop", "process_tick"]
