"""Read queries shared by the API and the dashboard (so both show the same numbers)."""
