"""Shoplet: an open-source commerce operating system for mini-program merchants."""

__version__ = "0.1.0"
