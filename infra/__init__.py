"""Composition root: settings, adapters, the HTTP app and the command line."""
