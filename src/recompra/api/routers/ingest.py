"""Ingest: customers, orders, returns, reviews and events, one at a time or in batches.

Values are validated by the same parsers and rules as the importers (:mod:`recompra.hub.ingest`):
a record with a bad value is rejected and reported, the others are written, all in the
request's unit of work: a request (one record or a batch) is one transaction. The body is
always the same multi-status report; the status is 200 when every record was accepted and
207 when some were rejected. 422 is only for a payload that is not the documented JSON
shape (not an object, ``items`` not a list, an unknown key, a boolean where a number or
text belongs, an event payload over :data:`MAX_EVENT_PAYLOAD_BYTES`); a body over
``RECOMPRA_API_MAX_BODY_BYTES`` is 413 before it is read (:mod:`recompra.api.body_limit`).
"""

# No ``from __future__ import annotations``: the endpoints built in ``_register`` annotate
# their body with a local model class, which FastAPI must see as a class, not a string.

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, StrictFloat, StrictInt, StrictStr, field_validator
from pydantic import Field as PydanticField
from sqlalchemy.orm import Session

from recompra.api.deps import IngestBrand, OneHopRoute, WriteSession
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.api.settings import ApiSettings
from recompra.errors import InvalidInput
from recompra.hub.ingest.aftersale import ingest_events, ingest_returns, ingest_reviews
from recompra.hub.ingest.batch import IngestResult
from recompra.hub.ingest.customers import ingest_customers
from recompra.hub.ingest.orders import ingest_orders
from recompra.segments.live import reevaluate_written

router = APIRouter(prefix="/v1/ingest", tags=["ingest"], route_class=OneHopRoute)

_ERRORS = error_responses(400, *AUTH_ERRORS, 404)

#: A JSON scalar as sent; the hub parses it like a file's text cell (bad values: rejects).
#: Strict: ``true`` is not the number 1 nor the text "true" (a wrong type is a 422).
Scalar = StrictStr | StrictInt | StrictFloat | None
#: Largest event payload, as compact JSON (bytes of UTF-8): a payload is stored whole.
MAX_EVENT_PAYLOAD_BYTES = 16_384

SourceQuery = Annotated[
    str,
    Query(
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="The system the records come from; external ids are unique per source",
    ),
]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerIn(_Record):
    """A customer: at least one identity (``id``, ``email``, ``document`` or ``phone``)."""

    id: Scalar = PydanticField(default=None, description="The store's customer id")
    email: Scalar = None
    document: Scalar = PydanticField(default=None, description="CPF or CNPJ")
    phone: Scalar = None
    name: Scalar = None
    city: Scalar = None
    state: Scalar = PydanticField(default=None, description="UF, two letters")
    zip_prefix: Scalar = None
    birth_date: Scalar = PydanticField(default=None, description="YYYY-MM-DD or DD/MM/YYYY")


class OrderItemIn(_Record):
    """One order line; money in integer minor units (5890 is R$ 58,90)."""

    line_number: Scalar = None
    product_id: Scalar = None
    product_name: Scalar = None
    category: Scalar = None
    quantity: Scalar = PydanticField(default=None, description="Default 1")
    unit_price_minor: Scalar = None
    freight_minor: Scalar = None
    discount_minor: Scalar = None


class OrderIn(_Record):
    """An order with its customer and items (the store's ids)."""

    order_id: Scalar = None
    purchased_at: Scalar = PydanticField(default=None, description="ISO-8601; naive is UTC")
    status: Scalar = PydanticField(default=None, description="e.g. delivered, canceled, pago")
    channel: Scalar = None
    currency: Scalar = None
    payment_type: Scalar = None
    installments: Scalar = None
    payment_fingerprint: Scalar = PydanticField(
        default=None, description="The payment provider's card/wallet token, never a card number"
    )
    approved_at: Scalar = None
    delivered_at: Scalar = None
    customer: CustomerIn = PydanticField(default_factory=CustomerIn)
    items: list[OrderItemIn] = PydanticField(default_factory=list, max_length=1000)


class ReturnIn(_Record):
    """A return or cancellation of an order ingested from the same source."""

    return_id: Scalar = None
    order_id: Scalar = None
    kind: Scalar = PydanticField(default=None, description="return (default) or cancellation")
    amount_minor: Scalar = None
    currency: Scalar = None
    reason: Scalar = None
    created_at: Scalar = None


class ReviewIn(_Record):
    """A 1-5 review of an order (or of a customer's experience, by customer id)."""

    review_id: Scalar = None
    order_id: Scalar = None
    customer_id: Scalar = None
    score: Scalar = None
    title: Scalar = None
    comment: Scalar = None
    created_at: Scalar = None
    answered_at: Scalar = None


class EventIn(_Record):
    """A customer event; ``event_id`` makes re-sending it idempotent."""

    event_id: Scalar = None
    type: Scalar = None
    occurred_at: Scalar = None
    customer_id: Scalar = None
    email: Scalar = None
    payload: dict[str, Any] = PydanticField(
        default_factory=dict, description=f"At most {MAX_EVENT_PAYLOAD_BYTES} bytes as JSON"
    )

    @field_validator("payload")
    @classmethod
    def _payload_fits(cls, payload: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
        if size > MAX_EVENT_PAYLOAD_BYTES:
            raise ValueError(f"payload is {size} bytes as JSON; at most {MAX_EVENT_PAYLOAD_BYTES}")
        return payload


RecordT = TypeVar("RecordT", bound=_Record)


class Batch(BaseModel, Generic[RecordT]):
    """Records to ingest (at most ``RECOMPRA_API_MAX_BATCH``)."""

    model_config = ConfigDict(extra="forbid")
    items: list[RecordT]


class RejectOut(BaseModel):
    """A problem with one record: its position in the request, the field and why."""

    index: int
    field: str
    value: str
    reason: str


class EntityCountsOut(BaseModel):
    """What happened to the rows of one entity (read = the other five summed)."""

    read: int
    inserted: int
    updated: int
    unchanged: int
    duplicate: int
    rejected: int


class IngestReport(BaseModel):
    """Outcome of an ingest request (200: all accepted; 207: some rejected)."""

    entity: str
    received: int
    accepted: int
    rejected: int
    ids: list[int | None] = PydanticField(
        description="Per record, the stored id (null when rejected)"
    )
    counts: dict[str, EntityCountsOut]
    rejects: list[RejectOut]


def _report(result: IngestResult, response: Response) -> IngestReport:
    response.status_code = 207 if result.rejects else 200
    return IngestReport(
        entity=result.entity,
        received=result.received,
        accepted=result.accepted,
        rejected=result.rejected,
        ids=result.ids,
        counts={name: EntityCountsOut(**asdict(c)) for name, c in result.counts.items()},
        rejects=[RejectOut(**asdict(r)) for r in result.rejects],
    )


def _check_size(request: Request, items: Sequence[object]) -> None:
    settings: ApiSettings = request.app.state.api_settings
    if len(items) > settings.max_batch:
        raise InvalidInput(
            f"a batch holds at most {settings.max_batch} records (got {len(items)})",
            field="items",
        )


Ingest = Callable[..., IngestResult]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    207: {"model": IngestReport, "description": "Some records were rejected (see `rejects`)"},
}


def _register(
    name: str, model: type[_Record], batch_model: type[BaseModel], function: Ingest, arg: str
) -> None:
    """Add ``POST /v1/ingest/{name}`` (one record) and ``/{name}/batch``."""

    def run(
        request: Request,
        response: Response,
        session: Session,
        brand: IngestBrand,
        source: str,
        records: Sequence[_Record],
    ) -> IngestReport:
        _check_size(request, records)
        payload = [r.model_dump() for r in records]
        kwargs = {arg: payload}
        result = function(
            session, brand_id=brand.id, source=source, currency=brand.currency, **kwargs
        )
        # Same unit of work: segment entry/exit events commit with the data or not at all.
        reevaluate_written(session, brand.id, name, result.ids)
        return _report(result, response)

    def one(
        record: model,  # type: ignore[valid-type]
        request: Request,
        response: Response,
        # After the brand: authentication may write (last use of the key) before the
        # request's write unit of work takes the database's write lock.
        brand: IngestBrand,
        session: WriteSession,
        source: SourceQuery = "api",
    ) -> IngestReport:
        return run(request, response, session, brand, source, [record])

    def many(
        batch: batch_model,  # type: ignore[valid-type]
        request: Request,
        response: Response,
        # After the brand: authentication may write (last use of the key) before the
        # request's write unit of work takes the database's write lock.
        brand: IngestBrand,
        session: WriteSession,
        source: SourceQuery = "api",
    ) -> IngestReport:
        return run(request, response, session, brand, source, batch.items)  # type: ignore[attr-defined]

    one.__doc__ = f"Ingest one {name[:-1]} (rejected values are reported, not raised)."
    many.__doc__ = f"Ingest a batch of {name}; rejected records never block the others."
    router.add_api_route(
        f"/{name}",
        one,
        methods=["POST"],
        operation_id=f"ingest_{name}",
        response_model=IngestReport,
        responses=_RESPONSES,
        summary=f"Ingest one {name[:-1]}",
    )
    router.add_api_route(
        f"/{name}/batch",
        many,
        methods=["POST"],
        operation_id=f"ingest_{name}_batch",
        response_model=IngestReport,
        responses=_RESPONSES,
        summary=f"Ingest a batch of {name}",
    )


_register("customers", CustomerIn, Batch[CustomerIn], ingest_customers, "customers")
_register("orders", OrderIn, Batch[OrderIn], ingest_orders, "orders")
_register("returns", ReturnIn, Batch[ReturnIn], ingest_returns, "returns")
_register("reviews", ReviewIn, Batch[ReviewIn], ingest_reviews, "reviews")
_register("events", EventIn, Batch[EventIn], ingest_events, "events")
