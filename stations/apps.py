from django.apps import AppConfig


class StationsConfig(AppConfig):
    name = "stations"
    verbose_name = "Charging stations"

    def ready(self):
        from csms import library_patches

        library_patches.apply()
