"""Writing many rows in one statement: COPY and UPDATE ... FROM unnest() on PostgreSQL.

The write-behind's writers (stations.gateway.writebehind). Django's bulk
methods build every value in Python; on PostgreSQL these stream them.
Elsewhere (SQLite, the embedded default) they fall back to Django's own.
"""

from django.db import connections, router

from csms.compiled import insert_params, inserted_fields


def append_rows(model, objects: list, *, ignore_conflicts: bool = False) -> None:
    """Insert new rows in one go: COPY on PostgreSQL, bulk_create elsewhere.

    For records the write-behind appends (message log, statuses, meter
    values, connection attempts); the objects' primary keys are not set.
    Django's bulk_create on PostgreSQL quotes every value into arrays in
    Python; COPY streams rows, several times less CPU per frame. COPY knows
    no ON CONFLICT: rows that may repeat one already stored (a replayed
    meter sample) go through a temporary table first. Call inside a transaction.
    """
    if not objects:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects, batch_size=500, ignore_conflicts=ignore_conflicts)
        return
    fields = inserted_fields(model)
    table, columns = connection.ops.quote_name(model._meta.db_table), _column_list(connection, fields)
    rows = (insert_params(row, fields, connection) for row in objects)
    with connection.cursor() as cursor:
        _copy_or_skip_conflicts(cursor, table, columns, rows, ignore_conflicts)


def _copy_or_skip_conflicts(cursor, table: str, columns: str, rows, ignore_conflicts: bool) -> None:
    target = _staging_table(cursor, table, columns) if ignore_conflicts else table
    _copy(cursor, target, columns, rows)
    if ignore_conflicts:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {target} ON CONFLICT DO NOTHING"
        )


def append_values(
    model, field_names: tuple[str, ...], rows: list[tuple], *, ignore_conflicts: bool = False
) -> None:
    """Insert rows given as plain values of `field_names`, ready for the database, in one go.

    Give every column: under COPY, one left out would get the database's
    default, and Django leaves none there.

    For the hottest records, the message log and meter samples: with COPY no
    model instance is ever built; elsewhere they are built here, on the pool's
    thread. `ignore_conflicts` as in append_rows.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        instances = [model(**dict(zip(field_names, row))) for row in rows]
        model.objects.bulk_create(instances, batch_size=500, ignore_conflicts=ignore_conflicts)
        return
    fields = [model._meta.get_field(name) for name in field_names]
    table, columns = connection.ops.quote_name(model._meta.db_table), _column_list(connection, fields)
    with connection.cursor() as cursor:
        _copy_or_skip_conflicts(cursor, table, columns, rows, ignore_conflicts)


def update_by_pk(model, field_names: tuple[str, ...], rows: list[tuple]) -> None:
    """Set `field_names` of many rows, given as (pk, *values); a None value keeps the stored one.

    For the write-behind's heartbeat and last-seen times, thousands per batch
    on a large site. Django's bulk_update builds a CASE WHEN per row and field
    in Python (a fifth of a server's CPU under the aggressive benchmark); on
    PostgreSQL one UPDATE joins the rows as arrays instead.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        _bulk_update_by_pk(model, field_names, rows)
        return
    fields = [model._meta.get_field(name) for name in field_names]
    quote, pk = connection.ops.quote_name, model._meta.pk
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in [pk, *fields])
    names = ", ".join(["pk", *(f"v{i}" for i in range(len(fields)))])
    assignments = ", ".join(
        f"{quote(f.column)} = COALESCE(v.v{i}, t.{quote(f.column)})" for i, f in enumerate(fields)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} AS t SET {assignments} "
            f"FROM unnest({arrays}) AS v({names}) WHERE t.{quote(pk.column)} = v.pk",
            [list(column) for column in zip(*rows)],
        )


def _bulk_update_by_pk(model, field_names, rows) -> None:
    by_fields = {}  # the fields a row sets -> its objects: bulk_update sets every field it is given
    for pk, *values in rows:
        given = tuple(name for name, value in zip(field_names, values) if value is not None)
        by_fields.setdefault(given, []).append(model(pk=pk, **dict(zip(field_names, values))))
    for given, objects in by_fields.items():
        if given:
            model.objects.bulk_update(objects, given, batch_size=500)


def _copy(cursor, table: str, columns: str, rows) -> None:
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _column_list(connection, fields) -> str:
    return ", ".join(connection.ops.quote_name(field.column) for field in fields)


def _staging_table(cursor, table: str, columns: str) -> str:
    """A temporary table of the same columns, emptied at each commit (one per connection)."""
    staging = f"staging_{table.strip(chr(34))}"
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS "
        f"AS SELECT {columns} FROM {table} WITH NO DATA"
    )
    return staging
