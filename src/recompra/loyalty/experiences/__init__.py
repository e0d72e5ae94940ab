"""Experiential rewards: access rather than discount, restricted by tier, badge or segment."""
