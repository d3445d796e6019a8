"""What the admin may never do to history, and how it shows time and money, for every app.

Every moment the admin shows goes through `site_time` (one format, the site's zone) and every
amount through billing.money (its currency's decimals and its code), on the lists and on the
detail pages alike: `SiteFormats` turns a date-time field or a declared money field into such a
column wherever an admin names it.
"""

from datetime import date, datetime
from decimal import Decimal

from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone

from billing.money import format_money, quantize_money

TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"  # 2026-11-21 11:00:05 CET


def site_time(value) -> str:
    """A moment in the site's zone ("2026-11-21 11:00:05 CET"), a day as "2026-11-21", "—" for none."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime(TIME_FORMAT)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def rate_text(rate: Decimal | None, currency: str, unit: str) -> str:
    """A tariff's rate: the currency's decimals, more only where the rate has them ("0.3249 EUR/kWh")."""
    if rate is None:
        return "—"
    shown = quantize_money(rate, currency)
    if shown != rate:
        shown = rate.normalize()
    return f"{shown:f} {currency}/{unit}"


def _follow(row, path: str):
    """The value at `path` ("account__currency") from `row`; None when a link on the way is empty."""
    for name in path.split("__"):
        if row is None:
            return None
        row = getattr(row, name)
    return row


def time_column(field: str, description=None):
    """A column (list or detail) showing a date-time field with site_time, sorted by the field."""

    def column(row):
        return site_time(_follow(row, field))

    column.__name__ = f"{field}_in_site_time"
    return admin.display(description=description or field.replace("_", " "), ordering=field)(column)


def money_column(field: str, currency: str = "currency", description=None):
    """A column showing an amount with its currency ("0.62 EUR"); `currency` is a field or a path."""

    def column(row):
        amount = _follow(row, field)
        return "—" if amount is None else format_money(amount, _follow(row, currency) or "")

    column.__name__ = f"{field}_as_money"
    return admin.display(description=description or field.replace("_", " "), ordering=field)(column)


class SiteFormats:
    """Date-time fields and the fields named in `money`, wherever an admin shows them, in one format.

    The same column object stands for a name everywhere (list, fieldsets, read-only fields), as
    Django compares them.
    """

    money: dict[str, str] = {}  # amount field → its currency field or path ("account__currency")

    def column_for(self, name):
        columns = self.__dict__.setdefault("_site_columns", {})
        if name not in columns:
            columns[name] = self._column(name)
        return columns[name]

    def _column(self, name):
        if not isinstance(name, str):
            return name
        if name in self.money:
            return money_column(name, self.money[name], self._label(name))
        if isinstance(self._field(name), models.DateTimeField):
            return time_column(name, self._label(name))
        return name

    def _field(self, name: str):
        try:
            return self.model._meta.get_field(name)
        except FieldDoesNotExist:
            return None

    def _label(self, name: str):
        field = self._field(name)
        return field.verbose_name if field is not None else name.replace("_", " ")

    def get_list_display(self, request):
        return [self.column_for(name) for name in super().get_list_display(request)]

    def get_readonly_fields(self, request, obj=None):
        return [self.column_for(name) for name in super().get_readonly_fields(request, obj)]

    def get_fieldsets(self, request, obj=None):
        shown = set(super().get_readonly_fields(request, obj))
        if not self.has_change_permission(request, obj):
            shown = set(flatten_fieldsets(super().get_fieldsets(request, obj)))
        return [
            (title, {**options, "fields": [self._shown(name, shown) for name in options["fields"]]})
            for title, options in super().get_fieldsets(request, obj)
        ]

    def _shown(self, name, read_only: set):
        if isinstance(name, (list, tuple)):  # a row of fields
            return type(name)(self._shown(inner, read_only) for inner in name)
        return self.column_for(name) if name in read_only else name


class ReadOnlyAdmin(SiteFormats, admin.ModelAdmin):
    """History (what chargers sent, money that moved): staff look in the admin; only the services write.

    No deleting either: a session, a meter value or a ledger row deleted by a
    click would change bills and balances after the fact. The detail page shows
    every field of the row (but those in `exclude`), read-only.
    """

    def get_fields(self, request, obj=None):
        if self.fields:
            return self.fields
        hidden = set(self.exclude or ())
        return [field.name for field in self.model._meta.fields if field.name not in hidden]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FormattedAdmin(SiteFormats, admin.ModelAdmin):
    """An editable model's admin, showing time and money as the rest of the admin does."""
