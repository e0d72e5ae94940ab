"""Tiers: rolling qualification, upgrade at once, downgrade at review after grace."""
