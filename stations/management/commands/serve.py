import os
import sys

from django.core.management.base import BaseCommand

from csms.server import daphne_argv


class Command(BaseCommand):
    help = "Serve HTTP and the OCPP WebSocket endpoint with daphne."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        argv = daphne_argv(host, port)
        self.stdout.write(f"Serving on http://{host}:{port}/ and ws://{host}:{port}/ocpp/<charge point id>")
        sys.stdout.flush()
        os.execv(argv[0], argv)
