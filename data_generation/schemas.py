"""The replies as pydantic models: one per task type (the keys of its template, Wang et al., 2024, Appendix C), the
brainstorm list, the corpus mode's example, a translation and a relabeling ranking. `model_json_schema()` gives the
`response_format` schema (plan.build_request, the one place a request is made), `model_validate_json` checks replies.

Two schema variants: "full" (minLength/maxLength/maxItems, for llama.cpp grammars and vLLM) and "strict", cut to
the keywords OpenAI structured outputs accept (every property required, additionalProperties false, no length or
count bounds: OpenAI answers 400 "'minLength' is not permitted"). `schema_variant: auto` picks strict for OpenAI
and Azure OpenAI hosts, full elsewhere.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from data_generation.templates import OUTPUT_KEYS

# The keywords of OpenAI's supported JSON-schema subset that these schemas use; everything else is dropped.
STRICT_KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "title", "description", "enum"}
OPENAI_HOSTS = ("api.openai.com", ".openai.azure.com")


@cache
def object_model(name: str, keys: tuple[str, ...], max_length: int | None = None) -> type[BaseModel]:
    """A JSON object of exactly `keys`, each a non-empty string (stripped), at most `max_length` characters."""
    text = Annotated[str, Field(min_length=1, max_length=max_length)]
    config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)
    return create_model(name, __config__=config, **{k: (text, ...) for k in keys})


def reply_model(task_type: str, max_length: int | None = None) -> type[BaseModel]:
    """The pydantic model of one generated example: exactly the template's keys, each a non-empty string."""
    keys = tuple(k for k in OUTPUT_KEYS[task_type] if k is not None)
    return object_model("".join(p.title() for p in task_type.split("-")) + "Example", keys, max_length)


@cache
def ranking_reply(num_ids: int) -> type[BaseModel]:
    """A relabeling reply: {"ranking": every id P1..P<num_ids> exactly once} (the count is the full variant's bound;
    the permutation itself is checked by relabel.parse_ranking)."""
    ids = Literal[tuple(f"P{j + 1}" for j in range(num_ids))]
    ranking = Annotated[list[ids], Field(min_length=num_ids, max_length=num_ids)]
    return create_model("Ranking", __config__=ConfigDict(extra="forbid", strict=True), ranking=(ranking, ...))


@cache
def brainstorm_model(max_items: int = 40, max_length: int | None = None) -> type[RootModel]:
    text = Annotated[str, Field(min_length=1, max_length=max_length)]
    return create_model(
        "TaskList", __base__=RootModel[Annotated[list[text], Field(min_length=1, max_length=max_items)]]
    )


def strict_schema(schema: dict) -> dict:
    """`schema` limited to STRICT_KEYWORDS, recursively; every object closed and all its properties required."""
    out = {k: v for k, v in schema.items() if k in STRICT_KEYWORDS}
    if "properties" in out:
        out["properties"] = {name: strict_schema(sub) for name, sub in out["properties"].items()}
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    if isinstance(out.get("items"), dict):
        out["items"] = strict_schema(out["items"])
    return out


@cache  # one schema per (model, variant), shared by every request of the plan (never mutated)
def json_schema(model: type[BaseModel], variant: str) -> dict:
    schema = model.model_json_schema()
    return strict_schema(schema) if variant == "strict" else schema


def resolve_variant(variant: str, base_url: str | list[str]) -> str:
    """auto -> strict where any endpoint is OpenAI / Azure OpenAI, full for other servers (vLLM, llama.cpp)."""
    if variant != "auto":
        return variant
    urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
    hosts = [urlparse(str(url)).hostname or "" for url in urls]
    return "strict" if any(h == OPENAI_HOSTS[0] or h.endswith(OPENAI_HOSTS[1]) for h in hosts) else "full"


class SchemaRejected(RuntimeError):
    """The server refused the response_format schema; the run stops before it stores refusals as replies."""


class SchemaGuard:
    """Turns an HTTP 400 on a schema-constrained request into SchemaRejected until the server has accepted one such
    request: a server that cannot take the schema refuses the first ones, and storing each refusal as a completed
    request would make a rerun with a fixed config skip them."""

    def __init__(self):
        self.accepted = False

    def ok(self, request, record: dict) -> None:
        self.accepted = self.accepted or ("response_format" in request.params and not record.get("error"))

    def check(self, request, error) -> None:
        if getattr(error, "status_code", None) == 400 and "response_format" in request.params and not self.accepted:
            message = " ".join(str(getattr(error, "message", error)).split())[:300]
            raise SchemaRejected(
                f"the server refused the `response_format` schema (HTTP 400: {message}); set `schema_variant` "
                "(strict for OpenAI, full for vLLM/llama.cpp) or `structured_output` (json_object for llama.cpp, "
                "none to send no schema) and rerun: nothing was stored for the refused requests"
            )
