"""The what-if simulator: a discrete-event run of a period through the live routing policy and live state."""
