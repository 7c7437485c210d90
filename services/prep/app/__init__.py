"""The PREP service application: decoding (render, sniff), clean-up (normalise), pages and manifest on disk."""

from .config import Config
from .main import create_app, main
from .normalise import Options, estimate_skew, normalise_page
from .render import Limits, count_pages, render_page
from .sniff import Format, sniff_file

__all__ = [
    "Config",
    "Format",
    "Limits",
    "Options",
    "count_pages",
    "create_app",
    "estimate_skew",
    "main",
    "normalise_page",
    "render_page",
    "sniff_file",
]
