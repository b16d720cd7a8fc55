"""The demo Django app: the real thing the simulation models."""
