"""Referrals: a code per customer, fraud guards on claims, two-sided held rewards."""
