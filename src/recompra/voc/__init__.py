"""Voice of the customer: what customers say and how the store answers.

The analytics side (``scores``, ``delivery``, ``sentiment``, ``topics``, ``flows``): NPS and
CSAT with confidence intervals, delivery experience and offline pt-BR comment analytics.
The service side (``cases``, ``sla``, ``policies``, ``feedback``, ``surveys``, ``queue``):
cases with SLA clocks, surveys with signed links and the closed loop; replies and surveys
go out through automation's outbox, so voc sits with automation in the layers.
"""
