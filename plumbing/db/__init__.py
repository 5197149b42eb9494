"""Storage wiring: declarative base, engine and session factories, migrations."""
