"""What every view of the REST API (/api/v1/) shares: who may call it, filters, pages, errors, schema.

- `permission_required(permission, to_change=None)`: the permission class of a view, asking for ONE
  Django permission (accounts.access names them, so pages and the API ask the same question).
  Signed out: 401 (DRF answers NotAuthenticated, with `WWW-Authenticate: Token`); signed in, but
  inactive or without the permission: 403. `to_change` is asked instead for POST, PUT, PATCH and
  DELETE, for a URL that both reads and changes (GET lists, POST registers).
- `read_filters(FilterSerializer, request)`: the query string through a serializer; a wrong value is
  DRF's 400 naming the parameter (`{"from": ["Date has wrong format…"]}`).
- `paginate(request, queryset, OutputSerializer)`: pages of `page` and `page_size` (at most
  MAX_PAGE_SIZE), answered as `{"count", "next", "previous", "results"}`.
- `list_schema(...)` and `errors(...)`: the OpenAPI of a paginated list and of DRF's error bodies.

Every 4xx is in DRF's format: `{"detail": "…"}`, or for a 400 `{"<field>": ["…"]}` naming the field.
"""

from datetime import UTC
from functools import cache

from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.defaults import page_not_found
from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


# Who may call a view -------------------------------------------------------------------


def permission_required(permission: str, *, to_change: str | None = None) -> type[BasePermission]:
    """The permission class asking for `permission` (for writes, `to_change` when given)."""

    class HasPermission(BasePermission):
        message = _("Your account does not have the permission this needs.")

        def has_permission(self, request, view):
            needed = permission if to_change is None or request.method in SAFE_METHODS else to_change
            user = request.user
            return bool(user and user.is_authenticated and user.is_active and user.has_perm(needed))

    HasPermission.__name__ = HasPermission.__qualname__ = f"HasPermission[{permission}]"
    return HasPermission


# Query filters -------------------------------------------------------------------------


def read_filters(filter_serializer: type[serializers.Serializer], request) -> dict:
    """The query string's filters, validated by `filter_serializer`: only those given (not None).

    The query string is read as a plain dict, one value per name: DRF reads an absent BooleanField of
    a QueryDict as False, which would turn "no filter" into `connected=false`.
    """
    given = filter_serializer(data={name: request.query_params.get(name) for name in request.query_params})
    given.is_valid(raise_exception=True)
    return {name: value for name, value in given.validated_data.items() if value is not None}


class DayRangeFilterSerializer(serializers.Serializer):
    """`from` and `to`: the site's local days, both included (YYYY-MM-DD). Python keywords, so the
    fields are added in get_fields; a subclass declares its other filters as usual."""

    def get_fields(self):
        return {
            **super().get_fields(),
            "from": serializers.DateField(required=False, help_text="First local day, YYYY-MM-DD"),
            "to": serializers.DateField(required=False, help_text="Last local day (included), YYYY-MM-DD"),
        }

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["from"] > attrs["to"]:
            raise serializers.ValidationError(
                {"from": [_("The first day (from) is after the last day (to).")]}
            )
        return attrs


# Pages ----------------------------------------------------------------------------------


class Pagination(PageNumberPagination):
    """`?page=2&page_size=100`; past the last page, 404 (DRF's "Invalid page.")."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


def paginate(request, items, output_serializer: type[serializers.Serializer], *, shape=None) -> Response:
    """One page of `items` (a queryset ordered so that pages do not overlap, or a list), each item
    through `shape` first when given (e.g. a function building the dict the serializer shows)."""
    pagination = Pagination()
    page = pagination.paginate_queryset(items, request)
    shown = [shape(item) for item in page] if shape else page
    return pagination.get_paginated_response(output_serializer(shown, many=True).data)


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="The page, from 1."),
    OpenApiParameter(
        "page_size",
        int,
        description=f"Items per page (default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE}).",
    ),
]


@cache
def paginated(output_serializer: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of a page of `output_serializer`s: a component named Paginated<Name>List."""
    name = output_serializer.__name__.removesuffix("Serializer")
    if name == "Output":  # a view's nested OutputSerializer: name it after its view
        name = output_serializer.__qualname__.split(".")[0].removesuffix("Api")
    return inline_serializer(
        f"Paginated{name}List",
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": output_serializer(many=True),
        },
    )


# Fields ---------------------------------------------------------------------------------


class UtcDateTimeField(serializers.DateTimeField):
    """A moment in UTC with "Z" ("2027-03-01T08:00:00Z"), whatever the site's time zone: the database's
    and OCPP's way of writing it; pages show the site's time, an integrator converts as they need."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)


# Errors, as DRF answers them ------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """401, 403, 404, 409, 429: what went wrong, in the caller's language."""

    detail = serializers.CharField()


class ValidationErrorSerializer(serializers.Serializer):
    """400: each wrong field (or query parameter) named, with its problems; `non_field_errors` for the whole."""

    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)


ERROR_DESCRIPTIONS = {
    400: "A field or query parameter is wrong: each one named, with its problems.",
    401: "Not signed in: send `Authorization: Token <key>` (POST /api/v1/auth/token/) or a session cookie.",
    403: "Signed in, but the account lacks the permission (or is inactive).",
    404: "No such object (or page).",
    409: "The object is not in a state that allows this.",
}


def errors(*statuses: int) -> dict:
    """extend_schema(responses=…) entries for DRF's error bodies of these statuses."""
    return {
        status: OpenApiResponse(
            ValidationErrorSerializer if status == 400 else ErrorSerializer,
            description=ERROR_DESCRIPTIONS.get(status, ""),
        )
        for status in statuses
    }


def list_schema(*, output, filters=None, summary: str = "", tags=None):
    """extend_schema of a paginated, filtered list for staff: 400 for a wrong filter, 401, 403."""
    parameters = ([filters] if filters else []) + PAGE_PARAMETERS
    schema = extend_schema(
        summary=summary or None,
        tags=tags,
        parameters=parameters,
        responses={200: paginated(output), **errors(400, 401, 403, 404)},
    )

    def decorate(handler):
        handler = schema(handler)
        handler.lists = True  # AutoSchema: operation id "<path>_list", not "_retrieve" (one of a detail's)
        return handler

    return decorate


# The schema ------------------------------------------------------------------------------


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, naming a view's nested serializers after the view: every view has its own
    InputSerializer and OutputSerializer, and components named "Input" and "Output" would collide.
    ChargersApi.OutputSerializer is the component ChargersOutput (ChargersOutputRequest as a request)."""

    def get_operation_id(self) -> str:
        """A plain APIView's GET is a "retrieve" to drf-spectacular; a list (csms.api.list_schema) is a "list"."""
        operation_id = super().get_operation_id()
        if getattr(getattr(self.view, self.method.lower(), None), "lists", False):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def get_serializer_name(self, serializer, direction) -> str:
        view_name, _dot, own_name = type(serializer).__qualname__.rpartition(".")
        if not view_name:
            return super().get_serializer_name(serializer, direction)
        return view_name.split(".")[-1].removesuffix("Api") + own_name


# An address nothing answers ---------------------------------------------------------------


def not_found(request, exception=None):
    """Django's 404 (csms.urls handler404): under /api/ DRF's error body, like every other 4xx of the
    API (a client asked for /api/v1/tariffs/-1/ and got an HTML page); elsewhere the site's own page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": str(NotFound.default_detail)}, status=404)
    return page_not_found(request, exception)
