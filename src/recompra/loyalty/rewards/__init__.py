"""Rewards catalog and redemptions with unique coupon codes."""
