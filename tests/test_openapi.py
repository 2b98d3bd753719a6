"""docs/openapi.yaml is what the app serves, and every operation is documented well enough to call it."""

from __future__ import annotations

import json
from typing import Any

import yaml

from app.cli.openapi import OPENAPI_PATH, render_yaml
from app.main import app

REGENERATE = "docs/openapi.yaml is stale: run `daoxiang openapi` (in a worktree: `python -m app.cli openapi`)"
# Gateway callbacks answer in the gateway's own protocol (plain `fail`/JSON the gateway expects), not problem+json.
GATEWAY_CALLBACKS = {("post", "/api/payments/alipay/notify"), ("post", "/api/payments/wechat/notify")}
# Request bodies documented before examples were required; new operations must not be added here.
BODIES_WITHOUT_EXAMPLES = {
    ("post", "/api/auth/token"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/logout"),
    ("post", "/api/users/me/addresses"),
    ("put", "/api/cart/items/{sku_id}"),
    ("post", "/api/orders"),
    ("post", "/api/orders/{order_id}/refund-request"),
    ("post", "/api/admin/orders/{order_id}/ship"),
    ("post", "/api/admin/orders/{order_id}/refund-reject"),
    ("post", "/api/admin/products"),
    ("post", "/api/admin/products/{product_id}/skus"),
    ("put", "/api/admin/skus/{sku_id}/stock"),
    ("post", "/api/review-images"),  # a multipart file
    ("post", "/api/admin/categories"),
    ("post", "/api/admin/products/{product_id}/images"),
    ("put", "/api/admin/products/{product_id}/images/order"),
    ("post", "/api/admin/producers"),
    ("post", "/api/admin/producers/{producer_id}/plots"),
    ("post", "/api/admin/batches"),
    ("post", "/api/admin/batches/{batch_id}/events"),
    ("put", "/api/admin/batches/{batch_id}/events/{event_id}/photo"),
    ("post", "/api/admin/certificates"),
    ("put", "/api/admin/certificates/{certificate_id}/file"),
    ("post", "/api/admin/batches/{batch_id}/codes"),
    ("post", "/api/admin/batches/{batch_id}/code-runs"),
    ("post", "/api/admin/trace-codes/revoke"),
}


def served() -> dict[str, Any]:
    return json.loads(json.dumps(app.openapi()))


def operations(schema: dict[str, Any]):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method, path, operation


class TestSnapshot:
    def test_docs_openapi_yaml_equals_what_the_app_serves(self):
        assert OPENAPI_PATH.is_file(), REGENERATE
        assert yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8")) == served(), REGENERATE

    def test_the_command_writes_exactly_the_committed_file(self):
        assert render_yaml(app.openapi()) == OPENAPI_PATH.read_text(encoding="utf-8"), REGENERATE


def _resolve(schema: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _has_example(schema: dict[str, Any], node: Any) -> bool:
    node = _resolve(schema, node)
    if not isinstance(node, dict):
        return False
    if (
        any(key in node for key in ("examples", "example", "enum", "const", "default"))
        or node.get("type") == "boolean"
    ):
        return True
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            return any(_has_example(schema, option) for option in node[key])
    if node.get("type") == "array":
        return _has_example(schema, node.get("items", {}))
    if "properties" in node:
        props = node["properties"]
        return all(_has_example(schema, props[name]) for name in node.get("required", []))
    return False


class TestEveryOperationIsDocumented:
    """Fails for a new route that lacks what a caller needs; the message says what to add."""

    def test_summary_and_a_known_domain_tag(self):
        schema = served()
        known = {tag["name"] for tag in schema["tags"]}
        missing = [
            f"{m.upper()} {p}"
            for m, p, op in operations(schema)
            if not op.get("summary") or not op.get("tags") or not set(op["tags"]) <= known
        ]
        assert missing == [], "add summary= and tags=[<a tag in OPENAPI_TAGS>] to these routes"

    def test_error_responses_with_their_problem_codes(self):
        schema = served()
        problems = []
        for method, path, op in operations(schema):
            responses = op["responses"]
            takes_input = op.get("parameters") or op.get("requestBody") or op.get("security")
            client_errors = [code for code in responses if code.startswith("4")]
            if takes_input and not client_errors:
                problems.append(f"{method.upper()} {path}: no 4xx documented")
            if op.get("security") and "401" not in responses:
                problems.append(f"{method.upper()} {path}: needs a token but does not document 401")
            if (method, path) in GATEWAY_CALLBACKS:
                continue
            for code in client_errors:
                body = responses[code].get("content", {}).get("application/problem+json", {})
                example = body.get("example")
                if not (isinstance(example, dict) and example.get("code")) or "schema" not in body:
                    problems.append(
                        f"{method.upper()} {path}: {code} lacks a problem+json schema/example code"
                    )
        assert problems == [], (
            "document errors with responses=problem_responses(ErrA, ErrB) (app/kit/openapi.py)"
        )

    def test_request_bodies_have_examples(self):
        schema = served()
        missing = []
        for method, path, op in operations(schema):
            body = op.get("requestBody")
            if not body or (method, path) in BODIES_WITHOUT_EXAMPLES:
                continue
            for media in body["content"].values():
                if not (
                    "example" in media or "examples" in media or _has_example(schema, media.get("schema"))
                ):
                    missing.append(f"{method.upper()} {path}")
        assert missing == [], "give the required fields Field(examples=[...]) or the model an example"

    def test_the_allowance_for_old_bodies_only_shrinks(self):
        existing = {(m, p) for m, p, _ in operations(served())}
        assert BODIES_WITHOUT_EXAMPLES <= existing, "remove entries for routes that no longer exist"


class TestDatabaseOutageIsDocumented:
    def test_every_operation_documents_its_503(self):
        schema = served()
        missing = []
        for method, path, op in operations(schema):
            body = op["responses"].get("503", {}).get("content", {}).get("application/problem+json", {})
            if path != "/api/health" and body.get("example", {}).get("code") != "database_unavailable":
                missing.append(f"{method.upper()} {path}")
        assert missing == [], "app.kit.openapi documents 503 database_unavailable on every operation"
