"""The package version: a leaf module, so that any layer may name it without importing the root."""

__all__ = ["__version__"]

__version__ = "0.1.0.dev0"
