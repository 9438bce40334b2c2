"""Integrations with outside systems, one package each."""
