"""Schemathesis against every target: no request it can make breaks the published contract.

Each target of ``targets.TARGETS`` is started once for the module (client headers on, where
the target allows them), shown to serve the contract's one OpenAPI document, and fuzzed with all
of schemathesis' checks: its examples, coverage and fuzzing phases (one test per operation), and
its stateful phase from the target's own ``/openapi.json`` (chains of calls along the links it
infers, e.g. a PUT's ``id`` into a GET). A failure is a response the document does not
describe; the last test shows the fuzzer reached every answer that matters.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import hypothesis
import pytest
import schemathesis
from conftest import HTTP_TIMEOUT_S, TargetStarter
from schemathesis import BaseSchema, Case, Response

from cachebench.run.processes.launcher import TargetProcess
from cachebench.serve.openapi import BEARER_SCHEME
from cachebench.serve.origin import user_token
from targets import TARGETS, nocache

# A dozen targets, each started and fuzzed within a few seconds.
pytestmark = pytest.mark.timeout(120)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
#: Per operation and phase: enough to reach every answer in MUST_REACH; ~5 s a target, start included.
MAX_EXAMPLES = 12
STATEFUL_SCENARIOS = 15
STATEFUL_MAX_STEPS = 6
#: 413 answers a body over max_body_bytes whatever it holds: a limit on encoded bytes, which no
#: JSON Schema keyword can state, so it is a right answer to valid and invalid bodies alike.
POSITIVE_EXPECTED = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]
NEGATIVE_EXPECTED = [
    "400",
    "401",
    "403",
    "404",
    "405",
    "406",
    "409",
    "413",
    "415",
    "422",
    "428",
    "429",
    "5xx",
]
#: What the fuzzer must have met on every target, as (operation, status).
MUST_REACH = {
    ("GET /items/{item_id}", 200),
    ("GET /items/{item_id}", 404),
    ("GET /items/{item_id}", 422),
    ("GET /items/{item_id}", 405),  # the coverage phase's undocumented methods
    ("PUT /items/{item_id}", 200),
    ("PUT /items/{item_id}", 404),
    ("PUT /items/{item_id}", 413),
    ("PUT /items/{item_id}", 422),
    ("GET /me", 200),
    ("GET /me", 401),
    ("GET /metrics", 200),
    ("GET /healthz", 200),
}


def config() -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            # Derandomized: `make test` fuzzes the same cases every run, so a failure reproduces.
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"max-steps": STATEFUL_MAX_STEPS}},
            # A seeded user's token, so /me answers 200 and the checks see a profile.
            "auth": {"openapi": {BEARER_SCHEME: {"bearer": user_token(1)}}},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": POSITIVE_EXPECTED},
                "negative_data_rejection": {"expected-statuses": NEGATIVE_EXPECTED},
            },
        }
    )


@pytest.fixture(scope="module", params=list(TARGETS))
def target(request: pytest.FixtureRequest, start_module_target: TargetStarter) -> Iterator[TargetProcess]:
    row = TARGETS[request.param]
    # The libraries' targets refuse CLIENT_HEADERS (the headers are our app's, not the library's).
    settings: dict[str, object] = {} if row.library else {"client_headers": True}
    with pytest.MonkeyPatch.context() as env:
        if request.param == "custom":
            # The README's backend, imported by the uvicorn child from the examples folder.
            settings["backend"] = "mybackend:DictBackend"
            path = os.pathsep.join(filter(None, [str(EXAMPLES_DIR), os.environ.get("PYTHONPATH")]))
            env.setenv("PYTHONPATH", path)
        yield start_module_target(request.param, **settings)


@pytest.fixture(scope="module")
def api_schema(target: TargetProcess) -> BaseSchema:
    """The document the target serves, for the stateful phase."""
    return schemathesis.openapi.from_url(f"{target.url}/openapi.json", config=config())


@pytest.fixture(scope="module")
def reached() -> dict[str, Counter[tuple[str, int]]]:
    """(operation, status) -> responses seen, per target, from every phase."""
    return {}


def note(reached: dict, target: TargetProcess, case: Case, response: Response) -> None:
    reached.setdefault(target.strategy, Counter())[case.operation.label, response.status_code] += 1


def without_title(document: dict) -> dict:
    return {key: value for key, value in document.items() if key != "info"}


#: The contract's document as the app builds it (no process, no lifespan needed), loaded when the
#: module is collected: schemathesis makes one test per operation of a schema it holds then.
#: (``schemathesis.pytest.from_fixture``, which would load each target's own, fails on pytest 9.2:
#: it sets ``Function._nodeid``, which pytest no longer has.) Every target is held to serving
#: exactly this document by the first test, so fuzzing each with it is fuzzing each with its own.
REFERENCE = nocache.app.openapi()
schema = schemathesis.openapi.from_dict(REFERENCE, config=config())


def test_every_target_serves_the_same_document(target: TargetProcess) -> None:
    served = httpx.get(f"{target.url}/openapi.json", timeout=HTTP_TIMEOUT_S).json()
    assert without_title(served) == without_title(REFERENCE)
    assert served["info"]["title"] == f"cachebench target: {target.strategy}"


@schema.parametrize()
def test_every_response_is_documented(case: Case, target: TargetProcess, reached: dict) -> None:
    response = case.call(base_url=target.url)
    note(reached, target, case, response)
    case.validate_response(response)


def test_call_chains_meet_the_contract(api_schema: BaseSchema, target: TargetProcess, reached: dict) -> None:
    steps = Counter[str]()

    class Chains(api_schema.as_state_machine()):
        def after_call(self, response: Response, case: Case) -> None:
            super().after_call(response, case)
            steps[case.operation.label] += 1
            note(reached, target, case, response)

    settings = hypothesis.settings(
        max_examples=STATEFUL_SCENARIOS,
        stateful_step_count=STATEFUL_MAX_STEPS,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    Chains.run(settings=settings)
    # The chains reached both ends of the links it infers between a write and a read.
    assert steps["PUT /items/{item_id}"] > 0 and steps["GET /items/{item_id}"] > 0, steps


def test_the_fuzzer_reached_every_documented_answer(target: TargetProcess, reached: dict) -> None:
    seen = reached.get(target.strategy, Counter())
    assert MUST_REACH - set(seen) == set(), sorted(seen)
    assert not [key for key in seen if key[1] >= 500]
