"""Who may use Recompra: API keys (:mod:`.keys`) and dashboard users (:mod:`.users`).

Domain services with no web framework in them; the API's request dependencies
(:mod:`recompra.api.deps`) and the dashboard's sign-in build on them.
"""
