"""scandepot: a research imaging archive."""

__version__ = "0.1.0"
