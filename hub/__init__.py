"""Shared contact-centre hub: the application (settings, API, CLI, storage wiring, metrics)."""
