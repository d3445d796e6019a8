from django.db import models


def normalise_id_tag(raw: str) -> str:
    """One spelling per card: readers differ in case and padding of the UID."""
    return raw.strip().upper()


class IdTag(models.Model):
    """An idTag (RFID card UID or token) that staff registered."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        BLOCKED = "blocked"
        LOST = "lost"
        EXPIRED = "expired"

    id_tag = models.CharField("idTag", max_length=20, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField(null=True, blank=True)
    parent_id_tag = models.CharField("parent idTag", max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "idTag"
        ordering = ["id_tag"]

    def __str__(self):
        return self.id_tag

    def save(self, *args, **kwargs):
        self.id_tag = normalise_id_tag(self.id_tag)
        super().save(*args, **kwargs)
