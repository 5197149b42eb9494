"""Figures for the committee, derived from the event log (DESIGN §7)."""
