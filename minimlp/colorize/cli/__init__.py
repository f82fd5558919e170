"""The ``minimlp-colorize`` command line: ``app`` parses and dispatches, ``commands`` runs train, evaluate, colorize
and models, ``arguments`` checks options before any work."""
from .app import main

__all__ = ["main"]
