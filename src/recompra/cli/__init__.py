"""The ``recompra`` command line (Typer). ``main.py`` assembles the commands."""
