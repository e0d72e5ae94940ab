"""Voice of the customer: NPS and CSAT with confidence intervals, delivery experience and
offline comment analytics (pt-BR sentiment and topic tags).

This package is the analytics side (scores, delivery, sentiment, topics); it reads the hub
and never imports the API, the dashboard or the command line.
"""
