"""Dispatch: match waiting enquiries with idle agents, and the agent actions that follow an offer."""
