"""Backups of an installation: the database and the data directory in one verified archive.

An archive (``.tar.gz``) holds:

* ``database.sqlite`` — SQLite's online backup of the database (consistent while the
  server runs: the backup API copies a snapshot page by page), or ``database.sql`` —
  ``pg_dump``'s plain dump of a PostgreSQL database;
* ``home/...`` — the data directory (import reports and rejects, snapshots, model outputs,
  recommendation tables), without the database files and without ``backups/``;
* ``manifest.json`` — when, which backend, the schema revision, the rows of every table
  and the SHA-256 of every file, so that a damaged or incomplete archive is refused before
  anything is overwritten.

Restoring replaces the database in **one transaction** (PostgreSQL: ``psql
--single-transaction`` drops and recreates the schema and loads the dump, so a failure
leaves the old database as it was; SQLite: the file is checked, then renamed over the old
one) and the data directory, then checks the row counts against the manifest and brings
the schema up to this version's migrations. Stop the server and the workers first.
:func:`restore_drill` restores an archive into a scratch database and compares it with its
manifest without touching the installation: the "is our backup any good" check.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, table, text
from sqlalchemy.engine import URL, make_url

from recompra.config import Settings
from recompra.db import make_engine
from recompra.db.checkpoint import checkpoints_paused
from recompra.db.writers import LOCK_SUFFIX
from recompra.errors import RecompraError
from recompra.migrate import upgrade
from recompra.models.base import utcnow

MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite"
POSTGRES_MEMBER = "database.sql"
HOME_PREFIX = "home"
#: The data directory's folder for archives: never archived, never replaced by a restore.
BACKUPS_DIR = "backups"
#: The database file and its side files (journals, the writers' lock): never archived as
#: home files, never removed by a restore (a live process may hold the lock file).
_SQLITE_FILE_SUFFIXES = ("", "-wal", "-shm", "-journal", LOCK_SUFFIX)


class BackupError(RecompraError):
    """A backup could not be made, or an archive cannot be trusted or restored."""

    status_code = 422
    code = "backup_failed"


@dataclass(frozen=True)
class Manifest:
    """What an archive holds, written at backup time and checked at restore time."""

    created_at: str
    backend: str
    revision: str | None
    row_counts: dict[str, int]
    #: SHA-256 of every member but the manifest, by member name.
    files: dict[str, str] = field(default_factory=dict)

    @property
    def database_member(self) -> str:
        return SQLITE_MEMBER if self.backend == "sqlite" else POSTGRES_MEMBER


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database of ``engine`` is at."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table of the database, by table name (Alembic's own included)."""
    names = sorted(inspect(engine).get_table_names())
    with engine.connect() as connection:
        return {
            name: int(connection.scalar(select(func.count()).select_from(table(name))) or 0)
            for name in names
        }


def create_backup(settings: Settings, engine: Engine, destination: Path) -> Manifest:
    """Write an archive of the installation to ``destination`` (a file name, or a folder
    that gets ``recompra-<UTC time>.tar.gz``); return its manifest."""
    if destination.is_dir():
        destination = destination / f"recompra-{utcnow():%Y%m%dT%H%M%SZ}.tar.gz"
    destination.parent.mkdir(parents=True, exist_ok=True)
    backend = "sqlite" if engine.dialect.name == "sqlite" else "postgresql"
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".backup-") as work:
        staging = Path(work)
        member = SQLITE_MEMBER if backend == "sqlite" else POSTGRES_MEMBER
        # Counted from the copy, not the live database: rows written meanwhile are in
        # neither, and the manifest must describe what the archive holds.
        if backend == "sqlite":
            _sqlite_online_copy(_sqlite_path(engine.url), staging / member)
            copied = make_engine(f"sqlite:///{staging / member}", pool_size=1)
            counts, revision = row_counts(copied), schema_revision(copied)
            copied.dispose()
        else:
            counts, revision = _pg_dump(engine.url, staging / member)
        files = {member: _sha256(staging / member)}
        with tarfile.open(destination.with_suffix(".partial"), "w:gz") as archive:
            archive.add(staging / member, arcname=member)
            for path, name in _home_files(settings.home, engine.url):
                files[name] = _sha256(path)
                archive.add(path, arcname=name)
            manifest = Manifest(
                created_at=utcnow().isoformat(),
                backend=backend,
                revision=revision,
                row_counts=counts,
                files=files,
            )
            manifest_path = staging / MANIFEST
            manifest_path.write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True))
            archive.add(manifest_path, arcname=MANIFEST)
    # Renamed only once complete: a crash never leaves a truncated archive under the name.
    os.replace(destination.with_suffix(".partial"), destination)
    return manifest


def read_verified(archive: Path, into: Path) -> Manifest:
    """Extract ``archive`` into ``into`` and check every member against the manifest."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive} is not a readable backup archive: {exc}") from exc
    manifest_path = into / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{archive} has no {MANIFEST}: not a Recompra backup")
    manifest = Manifest(**json.loads(manifest_path.read_text()))
    present = {p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file()} - {MANIFEST}
    if present != set(manifest.files):
        missing = sorted(set(manifest.files) - present)
        extra = sorted(present - set(manifest.files))
        raise BackupError(
            f"{archive} does not match its manifest: missing {missing}, extra {extra}"
        )
    for name, digest in manifest.files.items():
        if _sha256(into / name) != digest:
            raise BackupError(f"{archive}: {name} is damaged (its checksum differs)")
    return manifest


def restore_backup(settings: Settings, engine: Engine, archive: Path) -> Manifest:
    """Replace the installation's database and data directory with ``archive``'s."""
    with tempfile.TemporaryDirectory(prefix="recompra-restore-") as work:
        staging = Path(work)
        manifest = read_verified(archive, staging)
        _check_backend(manifest, engine)
        with checkpoints_paused():
            engine.dispose()
            _load_database(manifest, staging, engine.url)
        _check_counts(manifest, engine)
        _replace_home(settings.home, staging / HOME_PREFIX, engine.url)
    upgrade(engine)
    return manifest


def restore_drill(archive: Path, *, postgres_admin_url: str | None = None) -> Manifest:
    """Restore ``archive`` into a scratch database (SQLite in a temporary folder, or a new
    database on ``postgres_admin_url``'s server) and check it against its manifest; the
    installation is not touched. Raises :class:`BackupError` when anything differs."""
    with tempfile.TemporaryDirectory(prefix="recompra-drill-") as work:
        staging = Path(work)
        manifest = read_verified(archive, staging / "archive")
        with _scratch_database(manifest.backend, staging, postgres_admin_url) as url:
            _load_database(manifest, staging / "archive", url)
            engine = make_engine(url.render_as_string(hide_password=False), pool_size=1)
            try:
                _check_counts(manifest, engine)
            finally:
                engine.dispose()
        return manifest


def _check_backend(manifest: Manifest, engine: Engine) -> None:
    backend = "sqlite" if engine.dialect.name == "sqlite" else "postgresql"
    if manifest.backend != backend:
        raise BackupError(
            f"the archive is a {manifest.backend} backup; this installation runs on {backend}"
        )


def _check_counts(manifest: Manifest, engine: Engine) -> None:
    restored = row_counts(engine)
    if restored != manifest.row_counts:
        differing = sorted(
            name
            for name in set(restored) | set(manifest.row_counts)
            if restored.get(name) != manifest.row_counts.get(name)
        )
        raise BackupError(f"restored tables differ from the manifest: {differing}")


def _load_database(manifest: Manifest, staging: Path, url: URL) -> None:
    source = staging / manifest.database_member
    if manifest.backend == "sqlite":
        target = _sqlite_path(url)
        with closing(sqlite3.connect(source)) as check:
            verdict = check.execute("PRAGMA integrity_check").fetchone()
        if verdict is None or verdict[0] != "ok":
            raise BackupError(f"the archived database fails SQLite's integrity check: {verdict}")
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(source, target.with_name(target.name + ".restoring"))
        os.replace(target.with_name(target.name + ".restoring"), target)
        return
    # One transaction: the old schema is dropped only if the whole dump loads.
    _run(
        [
            _tool("psql"),
            "--quiet",
            "--no-psqlrc",
            "--single-transaction",
            "--set=ON_ERROR_STOP=1",
            "--command=DROP SCHEMA IF EXISTS public CASCADE",
            "--command=CREATE SCHEMA public",
            f"--file={source}",
            _libpq_url(url),
        ],
        url,
    )


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database).resolve()


def _sqlite_online_copy(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(target)) as copy:
        live.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file


def _pg_dump(url: URL, target: Path) -> tuple[dict[str, int], str | None]:
    # A repeatable-read snapshot shared with pg_dump (--snapshot) makes the counts and the
    # revision describe exactly the rows the dump holds.
    engine = make_engine(url.render_as_string(hide_password=False), pool_size=1)
    try:
        with engine.connect() as connection:
            connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
            _run(
                [
                    _tool("pg_dump"),
                    "--format=plain",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    _libpq_url(url),
                ],
                url,
            )
            names = sorted(inspect(connection).get_table_names())
            counts = {
                name: int(connection.scalar(select(func.count()).select_from(table(name))) or 0)
                for name in names
            }
            revision = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return counts, revision


@contextmanager
def _scratch_database(backend: str, folder: Path, postgres_admin_url: str | None) -> Iterator[URL]:
    """A throw-away database of ``backend``: a file in ``folder``, or a new database on the
    admin URL's server, dropped afterwards."""
    if backend == "sqlite":
        yield make_url(f"sqlite:///{folder / 'drill.db'}")
        return
    if postgres_admin_url is None:
        raise BackupError("a PostgreSQL archive needs a server to drill on (admin URL)")
    admin = make_engine(postgres_admin_url, pool_size=1)
    name = f"recompra_drill_{os.getpid()}_{utcnow():%H%M%S%f}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(postgres_admin_url).set(database=name)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _home_files(home: Path, database_url: URL) -> Iterator[tuple[Path, str]]:
    if not home.is_dir():
        return
    excluded = {home.resolve() / BACKUPS_DIR}
    if database_url.get_backend_name() == "sqlite" and database_url.database:
        db = Path(database_url.database).resolve()
        excluded |= {Path(f"{db}{suffix}") for suffix in _SQLITE_FILE_SUFFIXES}
    for path in sorted(home.resolve().rglob("*")):
        if not path.is_file() or any(path == e or e in path.parents for e in excluded):
            continue
        yield path, f"{HOME_PREFIX}/{path.relative_to(home.resolve()).as_posix()}"


def _replace_home(home: Path, archived: Path, database_url: URL) -> None:
    home.mkdir(parents=True, exist_ok=True)
    kept = {BACKUPS_DIR}
    if database_url.get_backend_name() == "sqlite" and database_url.database:
        db = Path(database_url.database).resolve()
        kept |= {f"{db.name}{suffix}" for suffix in _SQLITE_FILE_SUFFIXES}
    for entry in home.iterdir():
        if entry.name in kept:
            continue
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    if archived.is_dir():
        shutil.copytree(archived, home, dirs_exist_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"`{name}` is not installed (PostgreSQL's client tools are needed)")
    return found


def _libpq_url(url: URL) -> str:
    # The password travels in the environment (PGPASSWORD), never on a command line that
    # any local user can read from the process list.
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _run(command: list[str], url: URL) -> None:
    # Notices (one per dropped table) would bury the error that matters.
    env: Mapping[str, Any] = {
        **os.environ,
        "PGPASSWORD": url.password or "",
        "PGOPTIONS": "-c client_min_messages=warning",
    }
    result = subprocess.run(command, capture_output=True, text=True, env=dict(env), check=False)
    if result.returncode != 0:
        raise BackupError(
            f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
        )
