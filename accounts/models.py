from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """Drivers and staff alike: a driver has a name and a phone number."""

    name = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=32, blank=True, db_index=True)

    def __str__(self):
        return self.name or self.get_full_name() or self.username
