from django.apps import AppConfig


class StationsConfig(AppConfig):
    name = "stations"
    verbose_name = "Charging stations"

    def ready(self):
        import ocpp.messages

        # Schema validation takes microseconds; the library's default hands each
        # one to a thread pool, which costs more than the validation itself.
        ocpp.messages.ASYNC_VALIDATION = False
