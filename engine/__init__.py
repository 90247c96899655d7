"""HandMotion engine: two-hand motion models, formats, training and the local server."""

__version__ = "0.1.0"
