"""Schemathesis against the live schema, in process (WSGI): every operation of /api/v1/, with valid and
invalid input, signed in as an admin and again as a front-desk clerk. Nothing may answer 5xx, and every
answer must be one the schema documents, in the shape it documents.

Deterministic (a fixed seed per operation) and bounded (max_examples): a failure reproduces on the next run.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from tests import personas
from tests.billing.builders import charger, default_tariff, finished_session, peak_window, prepaid_card

EXAMPLES_PER_OPERATION = 12  # per pass: valid input, valid input on the site's objects, invalid input
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@pytest.fixture
def requests_on_the_test_connection(db):
    """As Django's test client does: a request's end would close the connection that holds the test's
    transaction (and with it the test database's rows), so the requests leave it open."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def site_with_data() -> dict:
    """Something for each resource to find (a charger, a finished session, a tariff with a window, a
    driver with a prepaid card), and the path parameters that name them."""
    tariff = default_tariff()
    peak_window(tariff)
    dana = personas.driver()
    prepaid_card("04A2B3C4", balance="20", owner=dana)
    session = finished_session("04A2B3C4", on=charger("CP-1"))
    return {
        "charge_point_id": "CP-1",
        "transaction_id": session.pk,
        "tariff_id": tariff.pk,
        "driver_id": dana.pk,
        "id_tag": "04A2B3C4",
    }


def failures_of(operation, headers: dict, known: dict) -> list[str]:
    """What Schemathesis found wrong with one operation (each failure shrunk to a small example), or
    nothing: valid input, valid input on the site's own objects (where the path names one), invalid input."""
    path_names = [parameter.name for parameter in operation.path_parameters]
    own = {name: known[name] for name in path_names if name in known}
    passes = [("valid input", GenerationMode.POSITIVE, {}), ("invalid input", GenerationMode.NEGATIVE, {})]
    if own:
        passes.insert(1, ("valid input on the site's objects", GenerationMode.POSITIVE, own))
    found = []
    for name, mode, path_parameters in passes:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)
        problem = _failure(strategy, headers, may_be_unsatisfiable=mode is GenerationMode.NEGATIVE)
        if problem:
            found.append(f"{operation.label} ({name}):\n{problem}")
    return found


def _failure(strategy, headers: dict, *, may_be_unsatisfiable: bool) -> str:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        answers_as_documented()
    except Unsatisfiable as failure:
        # Nothing of it can be made invalid (a free-text path parameter, no body): valid input only.
        return "" if may_be_unsatisfiable else str(failure)
    # Every operation is tried, and all that failed are reported at the end. Schemathesis reports
    # its findings as a FailureGroup, a BaseExceptionGroup (not an Exception).
    except (Exception, FailureGroup) as failure:
        return str(failure)
    return ""


@pytest.mark.timeout(300)  # ~40 s a persona on PostgreSQL alone; more beside other workers
@pytest.mark.parametrize("persona", ["admin", "clerk"])
def test_it_answers_every_operation_as_the_schema_says(requests_on_the_test_connection, settings, persona):
    settings.OCPP_COMMAND_ACK_SECONDS = 0.05  # nobody holds CP-1's socket: a command is "offline" at once
    user = getattr(personas, persona)()
    known = site_with_data()
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(
        key=lambda operation: operation.path.endswith(("/block/", "/replace/"))
    )  # the card's last

    found = [failure for operation in operations for failure in failures_of(operation, headers, known)]

    assert len(operations) > 20  # the schema is not empty
    assert not found, "\n\n".join(found)


def test_it_answers_an_address_no_api_route_matches_as_the_api_does(client, db):
    """Schemathesis found these as HTML pages: /api/v1/tariffs/-1/ matches no route at all."""
    for address in ("/api/v1/tariffs/-1/", "/api/v1/no-such-thing/"):
        answer = client.get(address)
        assert (answer.status_code, answer["Content-Type"], answer.json()) == (
            404,
            "application/json",
            {"detail": "Not found."},
        )
    assert "text/html" in client.get("/no-such-page/")["Content-Type"]  # the site's own page elsewhere
