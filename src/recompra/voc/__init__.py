"""Voice of the customer: cases with SLA clocks, surveys and the closed loop."""
