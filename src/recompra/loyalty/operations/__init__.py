"""Ledger use cases: earn, bonus, release, returns, adjust (one module each).

They sit above ``ledger/`` (postings, settlement, locks, keys) and ``tiers/`` and
``rules/``, which never import them back.
"""
