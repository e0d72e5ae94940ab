"""``recompra serve --workers 2``: /metrics sums both processes' requests and reads the
queues from the database; the JSON logs carry no e-mail, CPF or full client address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from dbtest import create_test_engine
from liveserver import UNLIMITED, free_port
from recompra.auth.keys import create_api_key
from recompra.db import unit_of_work
from recompra.models.automation import OutboxMessage
from recompra.models.base import utcnow
from recompra.ops.logs import network_part, redact
from samplestore import seed_sample

EMAIL = "maria.silva@example.com"
CPF = "123.456.789-09"
CUSTOMER_ROUTE = "/v1/customers/{customer_id}"
MISSES = 30


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Engine, str, dict[str, str], Path, Path]]:
    """Two worker processes through ``recompra serve``; yields the engine, the URL, the
    keys, the server's log file and the metrics folder."""
    for engine in create_test_engine("sqlite", tmp_path):
        with unit_of_work(engine) as session:
            store = seed_sample(session, customers=6)
            _, admin = create_api_key(session, scopes=["admin"])
            _, brand_admin = create_api_key(session, scopes=["admin"], brand_id=store.brand_a)
            now = utcnow()
            for index, state in enumerate(("pending", "pending", "sent")):
                session.add(
                    OutboxMessage(
                        brand_id=store.brand_a,
                        customer_id=store.customers_a[0],
                        execution_key=f"metrics-test-{index}",
                        channel="email",
                        purpose="marketing",
                        payload={},
                        state=state,
                        next_attempt_at=now - timedelta(minutes=10),
                    )
                )
        port = free_port()
        metrics_dir = tmp_path / "metrics"
        metrics_dir.mkdir()
        log_path = tmp_path / "server.log"
        env = {
            **os.environ,
            **UNLIMITED,
            "RECOMPRA_HOME": str(tmp_path / "home"),
            "RECOMPRA_DATABASE_URL": engine.url.render_as_string(False),
            "RECOMPRA_ENVIRONMENT": "test",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        command = [
            sys.executable, "-m", "recompra.cli.main", "serve", "--port", str(port),
            "--workers", "2", "--log-format", "json",
        ]  # fmt: skip
        with log_path.open("wb") as log:
            server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_for(url, server)
                yield (
                    engine,
                    url,
                    {"admin": admin, "brand_admin": brand_admin, "brand": str(store.brand_a)},
                    log_path,
                    metrics_dir,
                )
            finally:
                server.terminate()
                server.wait(timeout=30)


def _wait_for(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 240  # each worker imports the app: slow on a busy host
    while time.monotonic() < deadline:
        assert server.poll() is None, "recompra serve exited"
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("recompra serve did not answer /health")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.slow
def test_metrics_sum_the_workers_and_logs_hold_no_personal_data(
    served: tuple[Engine, str, dict[str, str], Path, Path],
) -> None:
    _, url, keys, log_path, metrics_dir = served
    # A fresh connection per request, so both worker processes answer some of them.
    for customer_id in range(900_000, 900_000 + MISSES):
        answer = httpx.get(
            f"{url}/v1/customers/{customer_id}",
            params={"brand_id": keys["brand"]},
            headers={"Authorization": f"Bearer {keys['admin']}"},
        )
        assert answer.status_code == 404
    httpx.get(f"{url}/v1/no-such-route/{EMAIL}?cpf={CPF}")
    httpx.get(f"{url}/dashboard/customers?q={EMAIL}&cpf={CPF}")

    assert httpx.get(f"{url}/metrics").status_code == 401
    refused = httpx.get(
        f"{url}/metrics", headers={"Authorization": f"Bearer {keys['brand_admin']}"}
    )
    assert refused.status_code == 403
    scraped = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert scraped.status_code == 200
    samples = _samples(scraped.text)

    label = (("method", "GET"), ("route", CUSTOMER_ROUTE), ("status", "404"))
    assert samples[("recompra_http_requests_total", label)] == MISSES
    assert samples[("recompra_http_request_duration_seconds_count", label[:2])] == MISSES
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert samples[("recompra_http_requests_total", unmatched)] == 1
    assert not any(EMAIL in str(key) for key in samples), "a raw path leaked into a label"
    # Both processes wrote samples (one file per process id).
    assert len({p.stem.rsplit("_", 1)[-1] for p in metrics_dir.glob("counter_*.db")}) == 2
    # Queues, as inserted by the fixture.
    assert samples[("recompra_outbox_messages", (("state", "pending"),))] == 2
    assert samples[("recompra_outbox_messages", (("state", "sent"),))] == 1
    oldest = samples[("recompra_outbox_oldest_pending_seconds", ())]
    assert 600 <= oldest < 600 + 300

    time.sleep(0.5)  # let the access log lines reach the file
    text = log_path.read_text()
    assert EMAIL not in text
    assert CPF not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "uvicorn.access"]
    assert len(access) >= MISSES + 4
    # Client addresses keep only their network.
    assert all(line["message"].startswith("127.0.0.0/24:") for line in access)
    assert not any("color_message" in line for line in lines)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any("/dashboard/customers " in line["message"] for line in access)
    assert all(line["time"].endswith("Z") for line in lines)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("contact maria.silva+vip@example.com.br now", "contact [redacted] now"),
        ("cpf 123.456.789-09 and 12345678909", "cpf [redacted] and [redacted]"),
        ("cnpj 12.345.678/0001-95 or 12345678000195", "cnpj [redacted] or [redacted]"),
        ("phone +55 11 91234-5678 or (21) 3456-7890", "phone [redacted] or [redacted]"),
        # Order ids, timestamps and counts are not personal data and stay readable.
        ("order 5589 at 1733356800123, 12 items", "order 5589 at 1733356800123, 12 items"),
    ],
)
def test_redact_masks_personal_data_only(raw: str, masked: str) -> None:
    assert redact(raw) == masked


def test_network_part_keeps_the_network_only() -> None:
    assert network_part("201.17.42.137:51234") == "201.17.42.0/24:51234"
    assert network_part("2804:14c:5b82:8f2a::1") == "2804:14c:5b82::/48"
    assert network_part("-") == "[redacted]"
