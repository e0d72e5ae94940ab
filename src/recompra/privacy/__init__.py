"""Privacy (LGPD): data-subject export and erasure, the retention policy and the audit log.

:mod:`.inventory` finds every row held about a customer from the schema's foreign keys;
:mod:`.erasure` empties the personal columns and replaces the person's identifiers in
the database, :mod:`.files` in the snapshots, outputs and message logs;
:mod:`.service` runs a request end to end and records it; :mod:`.audit` keeps the log.
"""
