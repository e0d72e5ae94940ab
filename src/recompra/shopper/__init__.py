"""The shopper's page: a brand's customers sign in with a one-time e-mail link and see
(and use) their loyalty: points, tier, badges, challenges, quizzes, referral link,
rewards, their company's pool. The dashboard views (``web/views/shopper.py``) and the
API (``api/routers/shopper.py``) are thin layers over this package.

It sits with automation (its sign-in e-mail leaves through automation's outbox) and reads
loyalty below it; it never sees a dashboard session, and every read is scoped to the
customer and brand of the shopper session.
"""
