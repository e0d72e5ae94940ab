"""Measurement: what each action earned. Holdout comparisons (intention to treat) with
confidence intervals, the minimum detectable effect, CUPED, an always-valid sequential
test, last-touch attribution next to them, and the loyalty program's ROI."""
