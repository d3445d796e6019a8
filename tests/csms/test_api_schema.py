"""/api/v1/schema/ and /api/v1/docs/: the OpenAPI 3 schema passes drf-spectacular's own validation with
every response typed, and the documentation page loads only this server's files under the site's CSP."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

from csms.security import CONTENT_SECURITY_POLICY

API_PATHS = [
    "/api/v1/chargers/",
    "/api/v1/chargers/{charge_point_id}/",
    "/api/v1/chargers/{charge_point_id}/commands/",
    "/api/v1/chargers/{charge_point_id}/password/",
    "/api/v1/chargers/{charge_point_id}/approve/",
    "/api/v1/chargers/{charge_point_id}/tariff/",
    "/api/v1/transactions/",
    "/api/v1/transactions/{transaction_id}/",
    "/api/v1/transactions/{transaction_id}/meter-values/",
    "/api/v1/reports/daily/",
    "/api/v1/connectors/{charge_point_id}/{connector_id}/",
    "/api/v1/charging-sessions/",
    "/api/v1/charging-sessions/{payment_id}/",
    "/api/v1/charging-sessions/{payment_id}/stop/",
    "/api/v1/auth/token/",
]


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        answer = APIClient().get("/api/v1/schema/?format=json")
    assert answer.status_code == 200
    return answer.json()


def test_it_passes_drf_spectacular_validation_without_a_warning(db, tmp_path):
    # --fail-on-warn: a view spectacular cannot type (an untyped method field, two components of
    # one name) fails here, not in an integrator's code generator.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3.0.3")


def test_it_describes_every_endpoint(schema):
    assert set(API_PATHS) <= set(schema["paths"])
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_it_types_every_response_and_field(schema):
    untyped = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not response.get("content", {}).get("application/json", {}).get("schema"):
                    untyped.append(f"{method.upper()} {path} {status}")
    for name, component in schema["components"]["schemas"].items():
        untyped += [
            f"{name}.{field}" for field, shape in component.get("properties", {}).items() if shape == {}
        ]

    assert untyped == []


def test_it_documents_each_refusal(schema):
    chargers = schema["paths"]["/api/v1/chargers/"]
    assert {"200", "400", "401", "403"} <= set(chargers["get"]["responses"])
    assert {"201", "400", "401", "403"} <= set(chargers["post"]["responses"])
    names = [parameter["name"] for parameter in chargers["get"]["parameters"]]
    assert names == ["connected", "page", "page_size", "state"]
    transactions = schema["paths"]["/api/v1/transactions/"]["get"]
    assert {"charger", "id_tag", "driver", "from", "to", "state"} <= {
        p["name"] for p in transactions["parameters"]
    }


def test_it_serves_the_docs_page_from_this_servers_files(db, client):
    page = client.get("/api/v1/docs/")

    assert page.status_code == 200
    html = page.content.decode()
    assert page["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "<style" not in html and re.search(r"<script(?![^>]*\bsrc=)", html) is None  # nothing inline
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    files = [asset for asset in assets if "?" not in asset]
    assert len(files) == 5  # favicon, two style sheets, two scripts
    for asset in files:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), asset


def test_it_serves_the_docs_start_up_script_from_this_server(db, client):
    page = client.get("/api/v1/docs/").content.decode()
    (script,) = re.findall(r'<script src="(/api/v1/docs/\?[^"]+)"', page)

    answer = client.get(script.replace("&amp;", "&"))

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/javascript")
    code = answer.content.decode()
    assert 'url: "/api/v1/schema/"' in code
    assert '"validatorUrl": null' in code  # no badge fetched from validator.swagger.io
    assert "http://" not in code and "https://" not in code
