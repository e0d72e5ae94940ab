"""Recompra: revenue-and-relationship platform for e-commerce."""

__version__ = "0.1.0"
