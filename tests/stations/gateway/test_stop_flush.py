"""A session stop waits only for the write-behind batch holding its own charger's samples; when that batch
is still collecting, stops arriving while one flush runs are all served by the next, which takes its batch
only after they buffered their samples."""

import asyncio
import contextlib

from django.db import OperationalError

from stations.gateway import stop_flush, writebehind
from stations.gateway.ocpp16 import meter_samples
from stations.gateway.orm_pool import in_pool
from stations.models import MeterValue
from tests.factories import register_charger


class Flushes:
    """Stands for writebehind.flush: records what was buffered when each flush took its batch, and
    holds each flush until released."""

    def __init__(self):
        self.buffered: list[str] = []
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()

    async def flush(self):
        batch, self.buffered = self.buffered, []
        self.batches.append(batch)
        await self.release.wait()


async def stop(flushes: Flushes, session: str, answered: list[str]):
    flushes.buffered.append(f"{session} samples")  # its MeterValues, handled before its stop
    await stop_flush.shared_flush(flushes.flush)
    answered.append(session)


def test_it_serves_every_stop_that_arrived_during_a_flush_with_one_flush_after_it():
    async def site():
        flushes, answered = Flushes(), []
        first = asyncio.ensure_future(stop(flushes, "A", answered))
        await asyncio.sleep(0.01)  # A's flush has taken its batch and is writing
        later = [asyncio.ensure_future(stop(flushes, name, answered)) for name in "BCD"]
        await asyncio.sleep(0.01)
        assert answered == [] and flushes.batches == [["A samples"]]  # B, C, D wait: A's batch lacks them
        flushes.release.set()
        await asyncio.gather(first, *later)
        return flushes.batches, answered

    batches, answered = asyncio.run(site())

    assert batches == [["A samples"], ["B samples", "C samples", "D samples"]]  # two flushes for four stops
    assert answered == ["A", "B", "C", "D"]


def test_it_gives_a_failed_flush_to_the_stops_that_waited_for_it_and_flushes_again_for_the_next():
    async def site():
        failing, answered = Flushes(), []

        async def database_gone():
            raise ConnectionError("the database restarted")

        try:
            await stop_flush.shared_flush(database_gone)
        except ConnectionError:
            answered.append("refused")  # the charger gets an error and sends its stop again
        failing.release.set()
        await stop(failing, "A", answered)
        return failing.batches, answered

    batches, answered = asyncio.run(site())

    assert answered == ["refused", "A"] and batches == [["A samples"]]


async def stored(charger) -> int:
    # On the ORM pool, whose connections the suite closes at its end: asgiref's own thread would keep
    # one open, and PostgreSQL would then refuse to drop the test database.
    return await in_pool(MeterValue.objects.filter(charger=charger).count)()


# --- against the real write-behind: a stop waits only for the batch holding its own charger's samples ---


def samples_of(charger, at="2026-11-29T10:00:00Z"):
    meter_value = [{"timestamp": at, "sampled_value": [{"value": "1000"}]}]
    return meter_samples(charger, 1, meter_value)


def test_it_answers_a_stop_at_once_when_its_chargers_samples_are_already_stored(transactional_db):
    stopping, busy = register_charger("CP-1"), register_charger("CP-2")

    async def site():
        writebehind.add_meter_values(samples_of(stopping))
        await writebehind.flush()
        writebehind.add_meter_values(samples_of(busy, "2026-11-29T10:00:01Z"))  # another charger's, buffered
        await stop_flush.flush_for_stop(stopping.pk)
        busy_stored_at_stop = await stored(busy)
        await stop_flush.flush_for_stop(busy.pk)
        return busy_stored_at_stop, await stored(busy)

    assert asyncio.run(site()) == (0, 1)  # the first stop waited for no flush; the second for its own


def test_it_waits_for_the_flush_already_writing_its_chargers_samples_and_no_other(transactional_db):
    charger = register_charger("CP-1")

    async def site():
        writebehind.add_meter_values(samples_of(charger))
        writing = asyncio.ensure_future(writebehind.flush())
        await asyncio.sleep(0)  # the flush took the batch and is writing it
        batch = writebehind.batch_of(charger.pk)
        assert writebehind.writing(batch) is not None
        await stop_flush.flush_for_stop(charger.pk)
        stored_at_answer = await stored(charger)
        await writing
        return stored_at_answer, writebehind.batch_of(charger.pk)

    assert asyncio.run(site()) == (1, None)


def test_it_flushes_again_for_a_stop_whose_samples_were_in_a_failed_flush(transactional_db, monkeypatch):
    charger = register_charger("CP-1")
    write = writebehind._write
    outages = iter([OperationalError("the database restarted")])

    def database_back_after_one_outage(*batch):
        if (outage := next(outages, None)) is not None:
            raise outage
        write(*batch)

    monkeypatch.setattr(writebehind, "_write", database_back_after_one_outage)

    async def site():
        writebehind.add_meter_values(samples_of(charger))
        failing = asyncio.ensure_future(writebehind.flush())
        await asyncio.sleep(0)
        stop = asyncio.ensure_future(stop_flush.flush_for_stop(charger.pk))
        with contextlib.suppress(OperationalError):
            await failing
        await stop
        return await stored(charger)

    assert asyncio.run(site()) == 1  # put back by the failed flush, written by the stop's own
