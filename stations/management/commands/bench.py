import asyncio
import os
from datetime import UTC, datetime
from functools import partial

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from stations.simulator import bench

SCENARIOS = ("steady", "aggressive", "aggressive-201", "knee", "storm", "idle", "tail")  # the default run
EXTRA_SCENARIOS = ("soak",)  # 30 minutes of the steady mix: memory drift
KNEE_LIMIT_S, KNEE_GOOD_S = 1.0, 0.2  # stop stepping past p99 1 s; report the last step under 200 ms


class Command(BaseCommand):
    help = (
        "Benchmark the CSMS in its production configuration (PostgreSQL, Redis, DEBUG off, one "
        "server process per core) against a bare ocpp-on-websockets reference, with a simulated fleet. "
        "Loopback only; the full run takes about half an hour, --quick under two minutes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="small fleets and short windows")
        parser.add_argument(
            "--scenario",
            action="append",
            choices=SCENARIOS + EXTRA_SCENARIOS,
            help="repeatable; default: all but soak",
        )
        parser.add_argument("--servers", type=int, default=os.cpu_count() or 1, help="processes per target")
        parser.add_argument(
            "--database-url",
            default="postgres://postgres@127.0.0.1:5432/csms_bench",
            help="a PostgreSQL database the benchmark DROPS and recreates",
        )
        parser.add_argument(
            "--redis-url", default="redis://127.0.0.1:6379/7", help="a Redis database it flushes"
        )
        parser.add_argument("--port", type=int, default=18100, help="first port; servers use the next ones")
        parser.add_argument(
            "--csms-only",
            action="store_true",
            help="skip the reference (e.g. for the 30-minute soak: only the CSMS's drift matters)",
        )

    def handle(self, *args, quick, scenario, servers, database_url, redis_url, port, csms_only, **options):
        if not database_url.startswith("postgres"):
            raise CommandError("the benchmark measures the production configuration: give a PostgreSQL URL")
        plan = {
            name: steps for name, steps in bench.scenarios(quick).items() if name in (scenario or SCENARIOS)
        }
        log_dir = settings.VAR_DIR / "bench"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._say(f"Preparing {database_url} and {redis_url} ...")
        bench.prepare_database(database_url, max(s.chargers for steps in plan.values() for s in steps))
        redis.Redis.from_url(redis_url).flushdb()
        start_csms = partial(
            bench.start_csms, first_port=port, database_url=database_url, redis_url=redis_url
        )
        start_reference = None if csms_only else partial(bench.start_reference, first_port=port + 50)
        pairs = [
            pair
            for steps in plan.values()
            for pair in self._run_steps(
                steps,
                start_reference and partial(start_reference, steps[0].servers or servers, log_dir=log_dir),
                partial(start_csms, steps[0].servers or servers, log_dir=log_dir),
            )
        ]
        self._print_report(pairs, quick, servers)

    def _run_steps(self, steps, start_reference, start_csms) -> list[tuple]:
        """One scenario on fresh server processes: its memory figures start from theirs."""
        csms, reference = start_csms(), None
        try:
            reference = start_reference and start_reference()
            pairs = []
            for step in steps:
                pair = (reference and self._run(step, reference), self._run(step, csms))
                pairs.append(pair)
                if step.name.startswith("knee") and all((r.p99() or 0) > KNEE_LIMIT_S for r in pair if r):
                    break
            return pairs
        finally:
            for servers in (csms, reference):
                if servers:
                    servers.stop()

    def _run(self, scenario, servers):
        self._say(f"{scenario.name}: {scenario.chargers:,} chargers against the {servers.label} ...")
        before = bench.count_rows(servers.database_url) if servers.database_url else None
        result = asyncio.run(bench.run_scenario(scenario, servers))
        if before is not None:
            result = bench.with_rows(result, servers, before)
            bench.close_open_sessions(servers.database_url)
        self._say(
            f"  {result.report.messages_per_second():.0f} CALLs/s, MeterValues p99 {bench.ms(result.p99())} ms"
        )
        return result

    def _print_report(self, pairs, quick, servers):
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        tail = [p for p in pairs if p[1].scenario.name.startswith("tail")]
        lines = [
            f"## Benchmark {stamp}{' (--quick)' if quick else ''}: {servers} processes per target"
            f"{' (the tail scenario: 1)' if tail else ''}, {os.cpu_count()} cores",
            "",
            *bench.summary_table(pairs),
            "",
        ]
        lines += self._knee_lines([p for p in pairs if p[1].scenario.name.startswith("knee")])
        lines += [line for p in pairs if p[1].scenario.name == "idle" for line in bench.idle_lines(*p)]
        lines += (
            ["Latency per action, one server process (issue 18):", "", *bench.tail_table(tail), ""]
            if tail
            else []
        )
        lines += [
            line
            for p in pairs
            if p[1].scenario.name == "soak"
            for r in p
            if r
            for line in bench.drift_lines(r)
        ]
        lines += [
            "",
            "Latency per action (ms):",
            "",
            *bench.latency_table([r for p in pairs for r in p if r]),
        ]
        text = "\n".join(lines)
        self.stdout.write(text)
        out = settings.VAR_DIR / "bench" / f"results-{datetime.now(UTC):%Y%m%dT%H%M%S}.md"
        out.write_text(text + "\n")
        self._say(f"\nWritten to {out}")

    def _knee_lines(self, knee_pairs) -> list[str]:
        lines = []
        for index, target in ((0, "reference"), (1, "CSMS")):
            good = [p[index] for p in knee_pairs if p[index] and (p[index].p99() or 0) < KNEE_GOOD_S]
            knee = max(good, key=lambda r: r.calls_per_second, default=None)
            figure = (
                "none"
                if knee is None
                else (
                    f"{knee.scenario.name}: {knee.calls_per_second:.0f} "
                    f"CALLs/s at MeterValues p99 {bench.ms(knee.p99())} ms"
                )
            )
            lines.append(f"- knee of the {target} (last step with p99 < 200 ms): {figure}")
        return lines + [""] if lines else []

    def _say(self, text):
        self.stderr.write(text)
