"""``recompra backup create|drill|restore`` as an operator runs them, on SQLite."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from recompra.cli.main import app


def test_backup_drill_and_restore_through_the_command(home: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["generate", "--customers", "120", "--seed", "4"]).exit_code == 0
    before = json.loads(runner.invoke(app, ["stats", "--json"]).output)

    created = runner.invoke(app, ["backup", "create", "--json"])
    assert created.exit_code == 0, created.output
    manifest = json.loads(created.output)
    assert manifest["row_counts"]["customers"] == before["customers"]
    (archive,) = (home / "backups").glob("recompra-*.tar.gz")

    drilled = runner.invoke(app, ["backup", "drill", str(archive)])
    assert drilled.exit_code == 0, drilled.output

    # More data after the backup; the restore takes the database back to the archive.
    assert runner.invoke(app, ["generate", "--customers", "60", "--seed", "9"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["stats", "--json"]).output) != before
    refused = runner.invoke(app, ["backup", "restore", str(archive)], input="n\n")
    assert refused.exit_code != 0
    restored = runner.invoke(app, ["backup", "restore", str(archive), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert json.loads(runner.invoke(app, ["stats", "--json"]).output) == before

    missing = runner.invoke(app, ["backup", "drill", str(home / "nope.tar.gz")])
    assert missing.exit_code == 1
    assert "not a readable backup archive" in missing.output
