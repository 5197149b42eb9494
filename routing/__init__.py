"""Intake, routing policy, live queues and dispatch."""

from plumbing.compiled import guard

guard()  # before any module of this package is imported: compiled ones only while they match their sources
