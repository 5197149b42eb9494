"""Intake, routing policy, live queues and dispatch."""
