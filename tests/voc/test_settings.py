"""The stored star mapping on SQLite and PostgreSQL: default, update, refusal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.errors import InvalidInput
from recompra.hub.brands import ensure_brand
from recompra.models import VocSetting
from recompra.voc.scores import StarMapping
from recompra.voc.settings import set_star_mapping, star_mapping


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path)


def test_default_then_stored_then_updated(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "loja").id
        assert star_mapping(session, brand_id=brand_id) == StarMapping(5, 3)
        set_star_mapping(session, brand_id=brand_id, promoter_min=4, detractor_max=2)
    with unit_of_work(engine) as session:
        assert star_mapping(session, brand_id=brand_id) == StarMapping(4, 2)
        set_star_mapping(session, brand_id=brand_id, promoter_min=5, detractor_max=4)
    with unit_of_work(engine, write=False) as session:
        assert star_mapping(session, brand_id=brand_id).as_dict() == {
            "promoter": [5],
            "passive": [],
            "detractor": [1, 2, 3, 4],
        }


def test_a_wrong_mapping_changes_nothing(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "loja").id
    with pytest.raises(InvalidInput), unit_of_work(engine) as session:
        set_star_mapping(session, brand_id=brand_id, promoter_min=2, detractor_max=2)

    def write_row_directly() -> None:
        with unit_of_work(engine) as session:
            session.add(VocSetting(brand_id=brand_id, promoter_min_stars=3, detractor_max_stars=4))

    # The database refuses it too, whoever writes the row.
    with pytest.raises(IntegrityError):
        write_row_directly()
    with unit_of_work(engine, write=False) as session:
        assert session.get(VocSetting, brand_id) is None
        assert star_mapping(session, brand_id=brand_id) == StarMapping()
