"""Differential tests against classic ws4py 0.6.0 (see harness.py)."""
