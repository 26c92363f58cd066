"""Venue services: polling, validation, analytics, hot store, credentials, instruments."""
