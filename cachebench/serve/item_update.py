"""The body of ``PUT /items/{id}``: its model, the schema the contract documents, and reading it.

At least one of ``name`` and ``payload``, each a string; a body over ``max_body_bytes`` is
answered 413 before it is parsed, a body the model refuses 422 with FastAPI's error list.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

NAME_MAX_CHARS = 200
PAYLOAD_MAX_CHARS = 1_000_000


class ItemUpdate(BaseModel):
    """Body of ``PUT /items/{id}``: at least one of the fields."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=NAME_MAX_CHARS)
    payload: str | None = Field(None, max_length=PAYLOAD_MAX_CHARS)

    @field_validator("name", "payload", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # A field left out is left unchanged; an explicit null was taken for "unchanged" too
        # beside another field but refused alone: now one rule, a string or nothing.
        if value is None:
            raise ValueError("give a string, or leave the field out")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> ItemUpdate:
        if self.name is None and self.payload is None:
            raise ValueError("give name and/or payload")
        return self


#: ``ItemUpdate`` as its validator judges a body: pydantic's own schema would allow a null field
#: and an empty object, both of which are answered 422, so the document says strings and one field.
SCHEMA = {
    "title": "ItemUpdate",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX_CHARS},
        "payload": {"type": "string", "maxLength": PAYLOAD_MAX_CHARS},
    },
    "additionalProperties": False,
    "minProperties": 1,
}


async def read(request: Request, limit_bytes: int) -> ItemUpdate:
    """The request's body as an ``ItemUpdate``: 413 over ``limit_bytes``, 422 when the model refuses it."""
    body = await _read_limited(request, limit_bytes)
    try:
        return ItemUpdate.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(_printable(exc.errors(include_url=False))) from None


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
    return bytes(body)


def _printable(errors: list[dict]) -> list[dict]:
    """Validation errors whose ``input`` is text: FastAPI's 422 handler cannot encode a body that is
    not UTF-8 and answered 500 (found by schemathesis), so undecodable bytes are replaced."""
    return [
        {**error, "input": error["input"].decode("utf-8", "replace")}
        if isinstance(error.get("input"), bytes)
        else error
        for error in errors
    ]
