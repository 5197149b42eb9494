"""The what-if simulator: a discrete-event run of a period through the live routing policy and live state."""

from plumbing.compiled import guard

guard()  # before any module of this package is imported: compiled ones only while they match their sources
