"""Parsing and validation of LLM replies, with a named reason for every rejection, and exact-duplicate removal.

The paper: "Any generated data that does not conform to the predefined JSON format are discarded during the parsing
process. We also remove duplicates based on exact string matching." (Wang et al., 2024, §3.1). One surrounding
markdown code fence is tolerated, and so are raw newlines inside strings; anything else that is not exactly the
template's keys with non-empty string values is rejected. The shape is checked by the pydantic models of
data_generation.schemas (`model_validate_json`); the semantic rules after parsing are data_generation.quality.
"""

from __future__ import annotations

import ast
import json
import re

from pydantic import BaseModel, ValidationError

from data_generation.schemas import brainstorm_model, reply_model
from data_generation.templates import OUTPUT_KEYS
from synthembed_common.text import normalize

_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.S)


class Rejected(ValueError):
    """A reply that cannot become a row; `reason` is a short stable label used in the statistics."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _strip_fence(text: str) -> str:
    text = text.strip()
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def _load(text: str, finish_reason: str | None):
    try:
        return json.loads(text, strict=False)  # strict=False: raw newlines inside strings are fine
    except json.JSONDecodeError as e:
        if finish_reason == "length":
            raise Rejected("truncated", "hit max_tokens") from e
        if text.startswith(("{", "[")):
            raise Rejected("invalid_json", str(e)) from e
        raise Rejected("not_json", text[:40]) from e


def load_reply(content: str | None, finish_reason: str | None):
    """The JSON of a whole reply (code fence allowed), or `Rejected`: empty, truncated, invalid or not JSON."""
    if content is None or not content.strip():
        raise Rejected("empty_reply")
    return _load(_strip_fence(content), finish_reason)


def parse_brainstorm(content: str | None, finish_reason: str | None = None) -> list[str]:
    """A python/JSON list of task strings; empty and repeated entries dropped (order kept)."""
    if content is None or not content.strip():
        raise Rejected("empty_reply")
    text = _strip_fence(content)
    try:
        tasks = brainstorm_model().model_validate_json(text).root
    except ValidationError:  # the lenient path: raw newlines, a python literal, non-string elements dropped
        try:
            tasks = json.loads(text, strict=False)
        except json.JSONDecodeError:
            try:
                tasks = ast.literal_eval(text)  # the prompt asks for a *python* list
            except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
                reason = "truncated" if finish_reason == "length" else "not_a_list"
                raise Rejected(reason, text[:40]) from e
    if not isinstance(tasks, list) or not tasks:
        raise Rejected("not_a_list")
    seen, out = set(), []
    for task in tasks:
        if isinstance(task, str) and task.strip() and normalize(task) not in seen:
            seen.add(normalize(task))
            out.append(task.strip())
    if not out:
        raise Rejected("not_a_list", "no string elements")
    return out


# pydantic error types -> rejection reasons, most telling first (a wrong key set outranks a wrong value).
_REASONS = (
    (("model_type", "model_attributes_type", "dict_type"), "not_object"),
    (("missing", "extra_forbidden"), "wrong_keys"),
    (("string_type",), "wrong_type"),
    (("string_too_short",), "empty_field"),
)


def validate(model: type[BaseModel], content: str | None, finish_reason: str | None = None) -> BaseModel:
    """`content` (one code fence allowed, raw newlines inside strings fine) as `model`, or `Rejected` with the reason
    of the most telling pydantic error."""
    if content is None or not content.strip():
        raise Rejected("empty_reply")
    text = _strip_fence(content)
    try:
        return model.model_validate_json(text)
    except ValidationError as first:
        try:
            if first.errors()[0]["type"] != "json_invalid":
                raise first
            return model.model_validate(_load(text, finish_reason))  # raw newlines inside strings are fine
        except ValidationError as e:
            types = {err["type"] for err in e.errors()}
            reason = next((r for kinds, r in _REASONS if types & set(kinds)), "wrong_type")
            raise Rejected(reason, str(sorted(types))) from e


def parse_example(
    task_type: str, content: str | None, finish_reason: str | None = None
) -> tuple[str, str, str | None]:
    """(query, positive, negative) from one generation reply, or `Rejected` with the reason."""
    reply = validate(reply_model(task_type), content, finish_reason)
    query, positive, negative = (getattr(reply, k) if k else None for k in OUTPUT_KEYS[task_type])
    if negative is not None and normalize(positive) == normalize(negative):
        raise Rejected("positive_equals_negative")
    return query, positive, negative


def parse_object(model: type[BaseModel], content: str | None, finish_reason: str | None = None) -> dict[str, str]:
    """The fields of a reply to a request made with `model` (schemas.object_model), or `Rejected` with the reason."""
    return validate(model, content, finish_reason).model_dump()


class Deduper:
    """Exact-duplicate removal across the run on normalised text (first occurrence in plan order wins)."""

    def __init__(self, on: str = "row"):
        self.on = on
        self.seen: set[str] = set()

    def is_duplicate(self, query: str, positive: str, negative: str | None) -> bool:
        parts = [query] if self.on == "query" else [query, positive, negative or ""]
        key = "\x1f".join(normalize(p) for p in parts)
        if key in self.seen:
            return True
        self.seen.add(key)
        return False
