"""Overflow agreements between partners: their terms (the YAML/API schema), storage, loading and admin API."""
