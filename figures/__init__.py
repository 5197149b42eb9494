"""Figures for the committee, derived from the event log (docs/design.md, "Figures")."""
