"""Closeloop: self-hostable closed-loop customer feedback."""

__version__ = "0.1.0"
