from django.apps import AppConfig


class StationsConfig(AppConfig):
    name = "stations"
    verbose_name = "Charging stations"

    def ready(self):
        from csms import library_patches
        from stations import certificates

        library_patches.apply()
        certificates.authority()  # a CA that does not load stops the start (ImproperlyConfigured)
