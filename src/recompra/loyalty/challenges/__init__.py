"""Badges, challenges and streaks: definitions, per-customer progress, completion rewards."""
