"""Import runs: recorded when they start, closed with their counts and report files.

A run that never finishes (the process was killed) stays ``running``; the next run of
the same importer marks it ``interrupted``. Its committed chunks are whole, and the
idempotent upserts let the next run finish the job.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from sqlalchemy import Engine, update

from recompra.db import unit_of_work
from recompra.hub.rejects import ImportReport
from recompra.models import ImportRun
from recompra.models.base import utcnow


def start_run(engine: Engine, *, brand_id: int, importer: str, source: str, location: str) -> int:
    """Record the start of an import (committed at once) and return its id."""
    with unit_of_work(engine) as session:
        session.execute(
            update(ImportRun)
            .where(ImportRun.importer == importer, ImportRun.status == "running")
            .values(status="interrupted", finished_at=utcnow())
        )
        run = ImportRun(
            brand_id=brand_id, importer=importer, source=source, location=location[:1000]
        )
        session.add(run)
        session.flush()
        return run.id


def finish_run(engine: Engine, run_id: int, report: ImportReport, imports_dir: Path) -> Path:
    """Write the report and rejects files and close the run; return the report path."""
    directory = Path(imports_dir) / f"run-{run_id:05d}"
    path = report.write(directory)
    with unit_of_work(engine) as session:
        run = session.get(ImportRun, run_id)
        if run is not None:
            run.status = "finished"
            run.finished_at = utcnow()
            run.counts = {name: asdict(c) for name, c in report.counts.items()}
            run.report_path = str(path)
    return path
