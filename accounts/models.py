from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Replace

PHONE_SEPARATORS = " -./()"  # what people write between the digits of a phone number


def phone_without_separators(field: str, *, keep_plus: bool = True):
    """The phone stored in `field` without the separators people typed, in SQL (SQLite and PostgreSQL
    alike), so that one query compares everyone's number however it was written."""
    expression = F(field)
    for separator in PHONE_SEPARATORS if keep_plus else PHONE_SEPARATORS + "+":
        expression = Replace(expression, Value(separator), Value(""))
    return expression


class PeopleManager(UserManager):
    def drivers(self):
        """Customers: no staff or admin account, no role. The front desk sees these and nobody else."""
        return self.filter(is_staff=False, is_superuser=False, groups__isnull=True)


class User(AbstractUser):
    """Drivers and staff alike: a driver has a name and a phone number."""

    name = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=32, blank=True, db_index=True)

    objects = PeopleManager()

    class Meta(AbstractUser.Meta):
        # Given to the admin role (accounts.roles): add staff, change their roles, deactivate them.
        permissions = [("manage_staff", "Can manage staff accounts and their roles")]

    def __str__(self):
        return self.name or self.get_full_name() or self.username


class FailedSignIn(models.Model):
    """A sign-in with a wrong password, or refused for too many of them: for staff to see who is guessing."""

    username = models.CharField(max_length=150, db_index=True)
    remote_address = models.CharField(max_length=64, blank=True)
    throttled = models.BooleanField(default=False, help_text="Refused without checking the password")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.username} from {self.remote_address or '?'}"
