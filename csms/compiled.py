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
that `raw()` cannot follow (select_related, prefetch_related, values()). The rows come from the default
database, as the querysets here do.
"""

from collections.abc import Callable

from django.db.models import Model, QuerySet


class CompiledQuery:
    """`build(*probes)` is the queryset, the probes standing for each call's values in that order."""

    def __init__(self, build: Callable[..., QuerySet], *probes):
        self._build, self._probes = build, probes
        self._compiled: tuple[type[Model], str, tuple, list[int]] | None = None

    def first(self, *values) -> Model | None:
        """The first row, as `build(*values).first()` without its ORDER BY: a query of one row at most."""
        return next(iter(self.all(*values)), None)

    def all(self, *values):
        model, sql, params = self._sql(values)
        return model.objects.raw(sql, params)

    def _sql(self, values: tuple) -> tuple[type[Model], str, list]:
        # Two threads compiling at once build the same thing: the last one kept is as good.
        model, sql, compiled_params, places = self._compiled or self._compile()
        params = list(compiled_params)
        for place, value in zip(places, values, strict=True):
            params[place] = value
        return model, sql, params

    def _compile(self) -> tuple[type[Model], str, tuple, list[int]]:
        queryset = self._build(*self._probes)
        sql, params = queryset.query.sql_with_params()
        places = [params.index(probe) for probe in self._probes]
        if len(set(places)) != len(places) or any(params.count(probe) != 1 for probe in self._probes):
            raise ValueError(f"each probe must stand once among the parameters: {params!r}")
        self._compiled = (queryset.model, sql, tuple(params), places)
        return self._compiled
