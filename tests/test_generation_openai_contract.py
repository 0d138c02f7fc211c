"""The contract of the four private openai members the fleet client (data_generation/client.py) builds its retry
policy on: `openai._models.FinalRequestOptions`, `_make_status_error_from_response`, `_should_retry` and
`_calculate_retry_timeout`. Private members may change in any openai release; this test names what changed, instead of
an AttributeError or a silently different retry policy deep inside a generation run. If it fails after an upgrade:
adapt client.py (or own the policy there) and the pin in setup.cfg."""

from __future__ import annotations

import inspect

import httpx2
import openai
import pytest

URL = "http://127.0.0.1:1/v1/chat/completions"


def private(obj, name: str):
    member = getattr(obj, name, None)
    assert member is not None, (
        f"openai {openai.__version__} no longer has `{name}` (data_generation/client.py uses it)"
    )
    return member


@pytest.fixture
def client():
    return openai.AsyncOpenAI(api_key="sk-contract", base_url="http://127.0.0.1:1/v1", max_retries=3)


def options():
    import openai._models

    final = private(openai._models, "FinalRequestOptions")
    return final.construct(method="post", url="/chat/completions")


def response(status: int, **headers: str) -> httpx2.Response:
    request = httpx2.Request("POST", URL)
    return httpx2.Response(status, headers=headers, request=request, json={"error": {"message": "scripted"}})


def test_the_private_members_keep_the_signatures_the_client_calls(client):
    expected = {
        "_make_status_error_from_response": ["response"],
        "_should_retry": ["response"],
        "_calculate_retry_timeout": ["remaining_retries", "options", "response_headers"],
    }
    for name, parameters in expected.items():
        found = list(inspect.signature(private(client, name)).parameters)
        assert found == parameters, (
            f"openai {openai.__version__}: `{name}{found}` (client.py calls it with {parameters})"
        )
    assert options().get_max_retries(client.max_retries) == 3


@pytest.mark.parametrize(
    ("status", "headers", "retried", "error"),
    [
        (429, {"retry-after": "1"}, True, openai.RateLimitError),
        (500, {}, True, openai.InternalServerError),
        (503, {"x-should-retry": "false"}, False, openai.InternalServerError),  # the server's word wins
        (408, {}, True, openai.APIStatusError),
        (409, {}, True, openai.ConflictError),
        (400, {}, False, openai.BadRequestError),
        (404, {}, False, openai.NotFoundError),
    ],
)
def test_what_is_retried_and_which_error_is_raised(client, status, headers, retried, error):
    reply = response(status, **headers)
    assert private(client, "_should_retry")(reply) is retried, f"openai {openai.__version__}: retry of HTTP {status}"
    raised = private(client, "_make_status_error_from_response")(reply)
    assert type(raised) is error and raised.status_code == status, (status, type(raised))


def test_how_long_to_wait(client):
    wait = private(client, "_calculate_retry_timeout")
    assert wait(2, options(), httpx2.Headers({"retry-after": "1"})) == 1.0
    assert wait(2, options(), httpx2.Headers({"retry-after-ms": "250"})) == 0.25
    assert wait(2, options(), httpx2.Headers({"retry-after": "120"})) == 120.0  # honoured up to two minutes
    # Otherwise exponential backoff from 0.5 s with up to 25 % jitter: the second retry of 3 waits 0.75-1 s.
    for headers in (None, httpx2.Headers({"retry-after": "121"})):
        assert 0.75 <= wait(2, options(), headers) <= 1.0
    assert 1.5 <= wait(1, options(), None) <= 2.0
