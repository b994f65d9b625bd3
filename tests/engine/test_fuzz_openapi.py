"""The schemathesis fuzz suite: every operation of `docs/openapi.yaml` against a real engine on
127.0.0.1, every request signed as the BLP API requires (and carrying the admin token), a
bounded number of deterministic examples per operation (valid and invalid inputs).

Checks: no 5xx, every answer conforms to the spec (a documented status code, its content type
and its body schema), and a 200 sends exactly the documented fields (`field_drift`). A failure
means the server and the yaml disagree: fix the one that is wrong, keep the yaml true.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from fuzz_support import ThreadedEngine
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from server_helpers import test_config

from blp_client.auth import HEADER_ADMIN_TOKEN, Timestamps, signed_headers
from blp_client.engine.server import RunningEngine, build_app
from blp_client.engine.service import EngineService

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
EXAMPLES = 25  # per operation (valid and invalid inputs); the module runs in about 25 s
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_path(SPEC)
DOC: dict[str, Any] = schema.raw_schema


def _resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = DOC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def field_drift(value: Any, spec: Any, where: str = "$") -> list[str]:
    """Where an answer and its documented schema disagree on the fields: a documented property
    not sent, or a sent field not documented (objects without `additionalProperties`)."""
    spec = _resolve(spec)
    if "oneOf" in spec:
        return min((field_drift(value, alt, where) for alt in spec["oneOf"]), key=len)
    out: list[str] = []
    if isinstance(value, dict) and "properties" in spec:
        props = spec["properties"]
        out += [f"{where}.{k}: documented, not sent" for k in props if k not in value]
        for k, v in value.items():
            if k in props:
                out += field_drift(v, props[k], f"{where}.{k}")
            elif not spec.get("additionalProperties"):
                out.append(f"{where}.{k}: sent, not documented")
    elif isinstance(value, dict) and isinstance(spec.get("additionalProperties"), dict):
        for k, v in value.items():
            out += field_drift(v, spec["additionalProperties"], f"{where}[{k!r}]")
    elif isinstance(value, list) and "items" in spec:
        for i, v in enumerate(value):
            out += field_drift(v, spec["items"], f"{where}[{i}]")
    return out


def fields_match_the_spec(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A 200 answer sends exactly the documented fields: the yaml's schemas allow extra
    properties and name none required, so the conformance check alone would miss a field
    added to the server and not to the spec, or one the spec promises and the server drops."""
    if response.status_code != 200:
        return
    operation = DOC["paths"][case.path][case.method.lower()]
    ok = _resolve(operation["responses"]["200"])
    body_schema = ok.get("content", {}).get("application/json", {}).get("schema")
    if body_schema is not None:
        drift = field_drift(response.json(), body_schema)
        assert not drift, f"{case.method} {case.path}: " + "; ".join(drift[:10])


_covered: set[str] = set()
_PARAM_RE = re.compile(r"\{[^}]*\}")  # path parameters compare by position, not by name


@dataclass
class LiveEngine:
    """An engine served from its own event loop in a thread (schemathesis calls are
    blocking) and a session signing every request with one registered BLP's key."""

    engine: RunningEngine
    session: requests.Session


class BLPSigner(requests.auth.AuthBase):
    """Signs each prepared request as the BLP API requires (timestamp + METHOD +
    path_with_query + body, the exact bytes sent) and adds the admin token."""

    def __init__(self, key: str, secret: str, admin_token: str) -> None:
        self.key, self.secret, self.admin_token = key, secret, admin_token
        self.timestamps = Timestamps()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        method = r.method or "GET"
        ts = self.timestamps.next()
        r.headers.update(signed_headers(self.key, self.secret, method, r.path_url, text, ts))
        r.headers[HEADER_ADMIN_TOKEN] = self.admin_token
        return r


@pytest.fixture(scope="module")
def live() -> Iterator[LiveEngine]:
    config = test_config(rate_limit={"per_second": 100_000, "burst": 100_000})
    threaded = ThreadedEngine(config)
    engine = threaded.engine
    session = requests.Session()
    try:
        headers = {HEADER_ADMIN_TOKEN: engine.admin_token}
        for symbol, price in (("BTC-PERP", "50000"), ("ETH-PERP", "3000")):
            body = {"symbol": symbol, "price": price}
            r = session.post(f"{engine.url}/admin/v1/index", json=body, headers=headers)
            assert r.status_code == 200, r.text
        blp = {
            "collateral": "1000000",
            "minute_rate": "1000000",
            "hour_rate": "10000000",
            "max_position_notional": {"BTC-PERP": "1000000", "ETH-PERP": "1000000"},
        }
        r = session.post(f"{engine.url}/admin/v1/blps", json=blp, headers=headers)
        assert r.status_code == 200, r.text
        creds = r.json()
        session.auth = BLPSigner(creds["api_key"], creds["api_secret"], engine.admin_token)
        yield LiveEngine(engine, session)
    finally:
        session.close()
        threaded.stop()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms(case: schemathesis.Case, live: LiveEngine) -> None:
    _covered.add(f"{case.method.upper()} {case.path}")
    response = case.call(base_url=live.engine.url, session=live.session, timeout=10)
    case.validate_response(response, checks=CHECKS)
    fields_match_the_spec(None, response, case)


def _spec_operations() -> set[str]:
    doc = DOC
    methods = {"get", "post", "put", "patch", "delete"}
    return {f"{m.upper()} {p}" for p, item in doc["paths"].items() for m in item if m in methods}


def test_zz_every_operation_was_fuzzed() -> None:
    """Runs after the fuzz test (file order): each operation of the yaml was called."""
    if not _covered:
        pytest.skip("the fuzz test did not run in this session")
    assert _spec_operations() <= _covered, sorted(_spec_operations() - _covered)


def test_the_spec_names_every_blp_and_admin_route() -> None:
    """The yaml and the server's route table agree: no served BLP/admin route is missing
    from the spec, and the spec names no route the server lacks."""
    app = build_app_for_routes()
    served = set()
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith(("/api/v1/", "/admin/v1/")):
            continue
        if path == "/api/v1/stream":  # the WebSocket, specified in docs/protocol.md
            continue
        for route in resource:
            if route.method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                served.add(f"{route.method} {_PARAM_RE.sub('{}', path)}")
    spec = {_PARAM_RE.sub("{}", op) for op in _spec_operations()}
    assert served - spec == set(), f"served, not in docs/openapi.yaml: {sorted(served - spec)}"
    assert spec - served == set(), f"in docs/openapi.yaml, not served: {sorted(spec - served)}"


def build_app_for_routes() -> Any:
    return build_app(EngineService(test_config(), clock="manual"), None)


def test_signer_signs_the_exact_bytes_sent() -> None:
    signer = BLPSigner("k", "s", "t")
    req = requests.Request(
        "POST", "http://127.0.0.1:1/api/v1/orders?x=1", data=json.dumps({"a": "é"}).encode()
    ).prepare()
    signed = signer(req)
    assert signed.headers[HEADER_ADMIN_TOKEN] == "t"
    ts = int(signed.headers["X-BLP-TIMESTAMP"])
    expected = signed_headers("k", "s", "POST", "/api/v1/orders?x=1", req.body.decode(), ts)  # type: ignore[union-attr]
    assert signed.headers["X-BLP-SIGNATURE"] == expected["X-BLP-SIGNATURE"]


def test_field_drift_names_both_directions() -> None:
    spec = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"$ref": "#/components/schemas/Clock"}},
    }
    assert field_drift({"a": "x", "b": {"now_ms": 1, "clock": "manual"}}, spec) == []
    assert field_drift({"b": {"now_ms": 1, "clock": "manual", "speed": 2}, "c": 1}, spec) == [
        "$.a: documented, not sent",
        "$.b.speed: sent, not documented",
        "$.c: sent, not documented",
    ]
