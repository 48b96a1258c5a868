"""The shop application."""
__version__ = "1.4.2"
