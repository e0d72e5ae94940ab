"""``benchmarks/bench_api.py --before``: each side's database is prepared by that side's
own code (issue 20).

The older code cannot serve a database the current migrations shaped (0039 dropped the
idempotency keys' ``id`` column: the code before it failed with ``no such column: id``),
so the preparation runs in a process whose ``PYTHONPATH`` holds the chosen checkout's
``src`` (migrations, seed) and ``tests`` (the sample store). A checkout whose modules
announce themselves when imported shows which code ran.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"


def _bench_api() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))  # its sibling modules (``_cpu``)
    try:
        spec = importlib.util.spec_from_file_location("bench_api", BENCHMARKS / "bench_api.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop("bench_api", None)
    return module


def _announcing(path: Path) -> None:
    """A module at ``path`` that stops the process naming itself when imported."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"raise SystemExit('imported {path}')\n")


@pytest.mark.parametrize("folder", ["src", "tests"])
def test_preparation_runs_the_chosen_checkouts_code(tmp_path: Path, folder: str) -> None:
    root = tmp_path / "checkout"
    if folder == "src":
        announcer = root / "src" / "recompra" / "__init__.py"
    else:
        # The project's real package, so that the preparation reaches the sample store.
        (root / "src").mkdir(parents=True)
        (root / "src" / "recompra").symlink_to(REPO / "src" / "recompra")
        announcer = root / "tests" / "samplestore.py"
    _announcing(announcer)
    bench_api = _bench_api()

    with pytest.raises(subprocess.CalledProcessError) as failed:
        bench_api._prepare_with(root, f"sqlite:///{tmp_path / 'side.db'}", 5)

    assert f"imported {announcer}" in failed.value.stderr
