"""Queries whose SQL the ORM writes once per process: for the statements a charger's answer waits on.

Django writes a queryset's SQL again every time it runs one. On the path of a StartTransaction or a
StopTransaction that was two thirds of each statement's interpreter time (a session by pk and charger,
`filter(...).first()`: 0.97 ms; the same SQL sent with `raw()`: 0.51 ms; the round trip alone:
0.15 ms), taken from every other charger of the process (docs/performance.md, issue 18, round 3). So
the ORM still writes the SQL, from the queryset the code would otherwise run, but once: with probe
values standing for a call's own, whose places among the parameters are remembered. Each call sends that
SQL with its values through `raw()`, which builds the model instances (annotations included) as
the queryset would.

Only for querysets whose SQL does not change with the values: each probe a plain value that the
compiled parameters hold once (no `__in` lists, no None, which the ORM writes as IS NULL), and nothing
that `raw()` cannot follow (select_related, prefetch_related) in `first()` and `all()`; a
`values_list()` queryset is read with `rows()`. The rows come from the default database, as the
querysets here do.

`raw()` sends SELECTs only. `CompiledUpdate` and `CompiledInsert` are the same idea for the UPDATEs
and INSERTs a charger waits on (its handshake's mark, its boot, a session's start and stop, its charge):
the SQL written from the model's columns once per process, each call's values prepared by their fields
as the ORM prepares them, and what RETURNING gives back converted as the ORM converts a column.

The converters are looked up once, from the connection of the thread that first ran the statement, and
then called with each thread's own: Django's converters read settings and the value, never the
connection they were found on, so sharing them across the ORM pool's threads is safe.
"""

import functools
from collections.abc import Callable, Iterable
from typing import NamedTuple

from django.db import connection
from django.db.models import Field, Model, QuerySet


class _Compiled(NamedTuple):
    model: type[Model]
    sql: str
    params: tuple
    places: list[int]  # where each probe stands among the params
    converters: list[tuple[int, list, object]]  # (column, its converters, its expression), as the ORM's


class CompiledQuery:
    """`build(*probes)` is the queryset, the probes standing for each call's values in that order."""

    def __init__(self, build: Callable[..., QuerySet], *probes):
        self._build, self._probes = build, probes
        self._compiled: _Compiled | None = None

    def first(self, *values) -> Model | None:
        """The first row, as `build(*values).first()` without its ORDER BY: a query of one row at most."""
        return next(iter(self.all(*values)), None)

    def all(self, *values):
        compiled = self._compiled or self._compile()
        return compiled.model.objects.raw(compiled.sql, self._params(compiled, values))

    def rows(self, *values) -> list[tuple]:
        """The rows of a `values_list()` queryset as tuples, each column converted as the ORM converts it
        (a datetime or a decimal read back from SQLite, say)."""
        compiled = self._compiled or self._compile()
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, self._params(compiled, values))
            rows = [list(row) for row in cursor.fetchall()]
        for row in rows:
            for column, converters, expression in compiled.converters:
                for convert in converters:
                    row[column] = convert(row[column], expression, connection)
        return [tuple(row) for row in rows]

    def sql(self) -> str:
        """The query's SQL, as written once (for a statement that holds it: CompiledInsert's `unless`)."""
        return (self._compiled or self._compile()).sql

    def params(self, *values) -> list:
        """Its parameters for a call with these values, in the order of sql()'s placeholders."""
        return self._params(self._compiled or self._compile(), values)

    @staticmethod
    def _params(compiled: _Compiled, values: tuple) -> list:
        params = list(compiled.params)
        for place, value in zip(compiled.places, values, strict=True):
            params[place] = value
        return params

    def _compile(self) -> _Compiled:
        # Two threads compiling at once build the same thing: the last one kept is as good.
        queryset = self._build(*self._probes)
        compiler = queryset.query.get_compiler(queryset.db)
        sql, params = compiler.as_sql()
        places = [params.index(probe) for probe in self._probes]
        if len(set(places)) != len(places) or any(params.count(probe) != 1 for probe in self._probes):
            raise ValueError(f"each probe must stand once among the parameters: {params!r}")
        selected = [expression for expression, _sql, _alias in compiler.select]
        converters = [(column, *found) for column, found in compiler.get_converters(selected).items()]
        self._compiled = _Compiled(queryset.model, sql, tuple(params), places, converters)
        return self._compiled


# A condition of CompiledUpdate's WHERE: "field" (= the call's value), "field__lt" (< the call's value),
# "field__isnull" (IS NULL, no value).
_OPERATORS = {"": "= %s", "lt": "< %s", "isnull": "IS NULL"}


class CompiledUpdate:
    """`UPDATE model SET <set> WHERE <where> [RETURNING <returning>]`, written once per process.

    `run(**values)` takes one value per field of `set` and per valued condition of `where`, by name
    (a condition's lookup included: `created_at__lt=…`), and answers the number of rows updated, or
    with `returning`, the first updated row's values as a tuple (None if no row was updated). As
    `queryset.filter(**where).update(**set)`, no signals, no save(): the rows are updated in place.
    """

    def __init__(self, model: type[Model], *, set: Iterable[str], where: Iterable[str], returning=()):
        self.model = model
        self._set, self._where, self._returning = tuple(set), tuple(where), tuple(returning)
        self._valued = self._set + tuple(name for name in self._where if not name.endswith("__isnull"))

    def run(self, **values):
        if values.keys() != set(self._valued):
            raise TypeError(f"{sorted(values)} are not the values of {sorted(self._valued)}")
        params = [self._prepared(name, values[name]) for name in self._valued]
        with connection.cursor() as cursor:
            cursor.execute(self._sql, params)
            if not self._returning:
                return cursor.rowcount
            row = cursor.fetchone()
        return row and tuple(convert(value) for convert, value in zip(self._converters, row, strict=True))

    def _field(self, name: str) -> Field:
        name = name.partition("__")[0]
        return self.model._meta.pk if name == "pk" else self.model._meta.get_field(name)

    def _prepared(self, name: str, value):
        # The preparation the ORM gives a value saved (SET) or compared (WHERE) on this field: a
        # datetime as text on SQLite, JSON adapted, a foreign key as its target's value.
        return self._field(name).get_db_prep_save(value, connection)

    @functools.cached_property
    def _sql(self) -> str:
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(self._field(name).column)} = %s" for name in self._set)
        conditions = " AND ".join(
            f"{quote(self._field(name).column)} {_OPERATORS[name.partition('__')[2]]}" for name in self._where
        )
        sql = f"UPDATE {quote(self.model._meta.db_table)} SET {assignments} WHERE {conditions}"
        if self._returning:
            if not connection.features.can_return_rows_from_bulk_insert:  # RETURNING: PostgreSQL, SQLite 3.35
                raise ValueError(f"{connection.vendor} cannot return the updated row")
            sql += " RETURNING " + ", ".join(quote(self._field(name).column) for name in self._returning)
        return sql

    @functools.cached_property
    def _converters(self) -> list[Callable]:
        return [self._converter(self._field(name)) for name in self._returning]

    def _converter(self, field: Field) -> Callable:
        column = field.get_col(self.model._meta.db_table)
        steps = connection.ops.get_db_converters(column) + column.get_db_converters(connection)

        def convert(value):
            for step in steps:
                value = step(value, column, connection)
            return value

        return convert


class CompiledInsert:
    """`instance.save(force_insert=True)` of one new row of `model`, its INSERT written once per process.

    As Model.save prepares an insert: each field's pre_save (an auto_now_add time set on the instance),
    its value prepared for the database; the primary key comes back with RETURNING and is set on the
    instance. No save() override and no signals run: only for models that have neither.

    `unless`: a CompiledQuery whose rows keep the row out, asked in the same statement
    (`INSERT … SELECT … WHERE NOT EXISTS (…)`): insert() takes its values after the instance and
    answers None when it found a row. A check before an INSERT costs a round trip of its own.
    """

    def __init__(self, model: type[Model], *, unless: CompiledQuery | None = None):
        if model.save is not Model.save:
            raise ValueError(f"{model.__name__} has its own save(), which an INSERT written once would skip")
        self.model, self._unless = model, unless
        self._fields = inserted_fields(model)

    def insert(self, instance: Model, *unless_values) -> Model | None:
        params = insert_params(instance, self._fields, connection)
        if self._unless is not None:
            params += self._unless.params(*unless_values)
        with connection.cursor() as cursor:
            cursor.execute(self._sql, params)
            inserted = cursor.fetchone()
        if inserted is None:
            return None
        (instance.pk,) = inserted
        instance._state.adding, instance._state.db = False, connection.alias
        return instance

    @functools.cached_property
    def _sql(self) -> str:
        if not connection.features.can_return_columns_from_insert:  # PostgreSQL, SQLite 3.35
            raise ValueError(f"{connection.vendor} cannot return the inserted row's key")
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in self._fields)
        values = ", ".join(["%s"] * len(self._fields))
        key = quote(self.model._meta.pk.column)
        insert = f"INSERT INTO {quote(self.model._meta.db_table)} ({columns})"
        if self._unless is None:
            return f"{insert} VALUES ({values}) RETURNING {key}"
        # The SELECT's placeholders take the type of their target columns, on PostgreSQL as on SQLite.
        return f"{insert} SELECT {values} WHERE NOT EXISTS ({self._unless.sql()}) RETURNING {key}"


def inserted_fields(model: type[Model]) -> list[Field]:
    """The columns an INSERT of a new row names: every concrete field but the key the database makes."""
    return [field for field in model._meta.concrete_fields if not field.primary_key]


def insert_params(instance: Model, fields: list[Field], on_connection) -> list:
    """The instance's values as Model.save gives them to an INSERT: each field's pre_save (an auto_now_add
    time set on the instance), then prepared for the database (a datetime as text on SQLite, JSON adapted)."""
    return [field.get_db_prep_save(field.pre_save(instance, True), on_connection) for field in fields]
