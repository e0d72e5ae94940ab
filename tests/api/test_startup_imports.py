"""The server starts without the heavy numeric libraries (issue 20).

scikit-learn, statsmodels, scipy, PySpark and matplotlib cost seconds of CPU to import;
every API worker and CLI process paid them although no request handler needs them at
start-up. The modules that use them import them where they are used.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sklearn", "statsmodels", "scipy", "pyspark", "matplotlib")


def test_importing_the_server_imports_no_heavy_library() -> None:
    # A fresh interpreter: this test process has long imported them all.
    probe = (
        "import json, sys\n"
        "import recompra.server\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=120
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
