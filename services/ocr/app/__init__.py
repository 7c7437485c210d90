"""The OCR service application."""

from .config import Config
from .main import create_app, main

__all__ = ["Config", "create_app", "main"]
