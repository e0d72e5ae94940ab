"""Backups and restores on both backends: a restore gives back exactly what was archived,
a damaged archive is refused before anything is touched, and a dump that fails half-way
leaves the old database as it was."""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from dbtest import BACKENDS, create_test_engine, postgres_url
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.generate.config import GeneratorConfig
from recompra.generate.store import generate_tables
from recompra.hub.brands import ensure_brand
from recompra.hub.importers.generated import load_generated
from recompra.models import Order
from recompra.ops.backup import (
    MANIFEST,
    BackupError,
    create_backup,
    read_verified,
    restore_backup,
    restore_drill,
)
from recompra.snapshot.io import write_snapshot


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Settings]]:
    """A generated store in the database and its snapshot in the data directory."""
    for engine in create_test_engine(request.param, tmp_path):
        tables = generate_tables(GeneratorConfig(seed=5, n_customers=150))
        with unit_of_work(engine) as session:
            brand_id = ensure_brand(session, "backup").id
        load_generated(engine, tables, brand_id=brand_id)
        home = tmp_path / "home"
        write_snapshot(home / "snapshot", tables)
        (home / "imports").mkdir(parents=True)
        (home / "imports" / "report.json").write_text('{"rows": 1}')
        settings = Settings(home=home, database_url=engine.url.render_as_string(False))
        yield engine, settings


def _home_digests(home: Path) -> dict[str, str]:
    """SHA-256 of every file of the data directory but the database and the archives,
    computed here rather than by the code under test."""
    skipped = ("backups/",)
    return {
        p.relative_to(home).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
        and not p.relative_to(home).as_posix().startswith(skipped)
        and ".db" not in p.name
    }


def _counts(engine: Engine) -> dict[str, int]:
    # Independent of ops.backup.row_counts: the tables are listed from the catalogue here.
    if engine.dialect.name == "sqlite":
        listing = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        listing = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    with engine.connect() as connection:
        names = sorted(connection.scalars(text(listing)))
        return {n: int(connection.scalar(text(f'SELECT COUNT(*) FROM "{n}"')) or 0) for n in names}


def test_restore_gives_back_what_was_archived(store: tuple[Engine, Settings]) -> None:
    engine, settings = store
    before_rows, before_files = _counts(engine), _home_digests(settings.home)
    archive = settings.home / "backups" / "one.tar.gz"
    manifest = create_backup(settings, engine, archive)
    assert manifest.row_counts == before_rows
    assert restore_drill(archive, postgres_admin_url=postgres_url()).row_counts == before_rows

    # Lose data after the backup: orders, a report, a changed snapshot and a new file.
    with unit_of_work(engine) as session:
        session.execute(text("DELETE FROM payments"))
        session.execute(text("DELETE FROM order_items"))
    (settings.home / "imports" / "report.json").unlink()
    (settings.home / "snapshot" / "extra.txt").write_text("written after the backup")
    assert _counts(engine) != before_rows

    restore_backup(settings, engine, archive)
    assert _counts(engine) == before_rows
    assert _home_digests(settings.home) == before_files
    assert archive.is_file()  # the archives folder is neither archived nor replaced
    with unit_of_work(engine, write=False) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == before_rows["orders"]


def test_damaged_archive_is_refused_before_anything_changes(
    store: tuple[Engine, Settings], tmp_path: Path
) -> None:
    engine, settings = store
    archive = tmp_path / "good.tar.gz"
    create_backup(settings, engine, archive)
    unpacked = tmp_path / "unpacked"
    manifest = read_verified(archive, unpacked)
    snapshot_member = next(n for n in manifest.files if n.startswith("home/snapshot/"))
    (unpacked / snapshot_member).write_bytes(b"not the archived bytes")
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(damaged, "w:gz") as tar:
        for path in sorted(unpacked.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=path.relative_to(unpacked).as_posix())
    with unit_of_work(engine) as session:
        session.execute(text("DELETE FROM payments"))
    after_change = _counts(engine)

    with pytest.raises(BackupError, match="damaged"):
        restore_backup(settings, engine, damaged)
    assert _counts(engine) == after_change
    with pytest.raises(BackupError, match="not a readable backup"):
        restore_backup(settings, engine, tmp_path / "missing.tar.gz")


@pytest.mark.postgres
def test_postgres_restore_that_fails_midway_keeps_the_old_database(tmp_path: Path) -> None:
    for engine in create_test_engine("postgres", tmp_path):
        with unit_of_work(engine) as session:
            ensure_brand(session, "midway")
        settings = Settings(home=tmp_path / "home", database_url=engine.url.render_as_string(False))
        archive = tmp_path / "pg.tar.gz"
        create_backup(settings, engine, archive)
        # A dump whose last statement fails, with a manifest that vouches for it: the
        # load runs in one transaction, so the schema drop before it is undone too.
        unpacked = tmp_path / "unpacked"
        read_verified(archive, unpacked)
        dump = unpacked / "database.sql"
        dump.write_text(dump.read_text() + "\nSELECT 1 / 0;\n")
        manifest = json.loads((unpacked / MANIFEST).read_text())
        manifest["files"]["database.sql"] = hashlib.sha256(dump.read_bytes()).hexdigest()
        (unpacked / MANIFEST).write_text(json.dumps(manifest))
        broken = tmp_path / "broken.tar.gz"
        with tarfile.open(broken, "w:gz") as tar:
            for path in sorted(unpacked.rglob("*")):
                if path.is_file():
                    tar.add(path, arcname=path.relative_to(unpacked).as_posix())
        with unit_of_work(engine) as session:
            ensure_brand(session, "after-the-backup")
        before = _counts(engine)

        with pytest.raises(BackupError, match="division by zero"):
            restore_backup(settings, engine, broken)
        assert _counts(engine) == before
