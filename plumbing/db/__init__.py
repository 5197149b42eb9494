"""Storage wiring: declarative base, engine and session factories, the unit of work, partner scope, bulk inserts."""
