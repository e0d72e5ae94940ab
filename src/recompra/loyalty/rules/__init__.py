"""Earning rules: strategy objects with a priority, stored as immutable versions."""
