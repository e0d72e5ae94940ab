"""Post-sale automation: journeys triggered by orders, segment entries/exits, custom events
and expiring points; durable runs and timers; e-mail and signed webhooks through an
outbox; frequency caps, quiet hours and consent.

* :mod:`~recompra.automation.definition`: the journey language and its validation;
* :mod:`~recompra.automation.service`: versions, pause/resume, counts per node;
* :mod:`~recompra.automation.triggers` and :mod:`~recompra.automation.runs`: entries,
  exits and timers; :mod:`~recompra.automation.steps`: deciding a due node;
* :mod:`~recompra.automation.messages`, :mod:`~recompra.automation.email`,
  :mod:`~recompra.automation.webhooks`, :mod:`~recompra.automation.delivery`: sending;
* :mod:`~recompra.automation.consent`: consent, suppression, unsubscribe links;
* :mod:`~recompra.automation.worker`: the ``recompra worker`` loop.
"""
