"""Session stops share the write-behind flush they wait for: stops arriving while one flush runs are all
served by the next, which takes its batch only after they buffered their samples."""

import asyncio

from stations.gateway import stop_flush


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
    await stop_flush.flush_for_stop(flushes.flush)
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
            await stop_flush.flush_for_stop(database_gone)
        except ConnectionError:
            answered.append("refused")  # the charger gets an error and sends its stop again
        failing.release.set()
        await stop(failing, "A", answered)
        return failing.batches, answered

    batches, answered = asyncio.run(site())

    assert answered == ["refused", "A"] and batches == [["A samples"]]
