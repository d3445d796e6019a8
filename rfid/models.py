import string
from datetime import date, timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

MAX_ID_TAG_LENGTH = 20  # OCPP 1.6 IdToken is CiString20Type


# Only ASCII letters change case: str.upper() turns "ß" into "SS", and an idTag at OCPP's
# 20-character limit would no longer fit any idTag column.
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def normalise_id_tag(raw: str) -> str:
    """One spelling per card: readers differ in case and padding of the UID (hex, ASCII)."""
    return raw.strip().translate(_ASCII_UPPER)


class IdTag(models.Model):
    """An RFID card (or token): who may charge, and whose wallet pays.

    A card without an owner is an anonymous prepaid card with its own wallet;
    an owner's cards all share the owner's wallet.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("card status", "Active")
        BLOCKED = "blocked", pgettext_lazy("card status", "Blocked")
        LOST = "lost", pgettext_lazy("card status", "Lost")
        EXPIRED = "expired", pgettext_lazy("card status", "Expired")

    class Mode(models.TextChoices):
        PERSONAL = "personal", _("personal (free, never charged)")
        PREPAID = "prepaid", _("prepaid (the balance pays each session)")

    id_tag = models.CharField("idTag", max_length=MAX_ID_TAG_LENGTH, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="cards"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.PERSONAL)
    expires_at = models.DateTimeField(null=True, blank=True)
    parent_id_tag = models.CharField("parent idTag", max_length=MAX_ID_TAG_LENGTH, blank=True)
    # The wallet that pays: the owner's, or the card's own when it has no owner.
    account = models.ForeignKey(
        "billing.Account", on_delete=models.PROTECT, null=True, blank=True, related_name="cards"
    )
    replaces = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_by",
        help_text="The lost card this one replaced: its wallet and history carry over",
    )
    status_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "idTag"
        ordering = ["id_tag"]
        permissions = [
            ("use_front_desk", "Can use the front desk pages"),
            # Through the API (/api/v1/cards/): admins. The desk issues, blocks and replaces on its pages.
            ("manage_cards", "Can issue, block and replace cards through the API"),
        ]

    def __str__(self):
        return self.id_tag

    def save(self, *args, **kwargs):
        self.id_tag = normalise_id_tag(self.id_tag)
        self.parent_id_tag = normalise_id_tag(self.parent_id_tag)
        super().save(*args, **kwargs)

    @property
    def is_prepaid(self) -> bool:
        return self.mode == self.Mode.PREPAID

    @property
    def valid_through(self) -> date | None:
        """The last day the card is valid, in the site's zone: expires_at is the first moment it is not."""
        if self.expires_at is None:
            return None
        return timezone.localtime(self.expires_at - timedelta(microseconds=1)).date()

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.EXPIRED or bool(
            self.expires_at and self.expires_at <= timezone.now()
        )

    @property
    def can_be_topped_up(self) -> bool:
        return self.is_prepaid and self.status not in (self.Status.BLOCKED, self.Status.LOST)

    def lineage(self) -> list["IdTag"]:
        """This card and the cards it replaced, newest first: one history."""
        cards, card = [], self
        while card is not None and card not in cards:
            cards.append(card)
            card = card.replaces
        return cards

    @transaction.atomic
    def set_status(self, status: str, reason: str = "") -> None:
        """Block, mark lost, reactivate.

        Guards a desk click racing an authorization: the row lock orders the
        change before or after the decision, never half-way through it.
        """
        IdTag.objects.select_for_update().filter(pk=self.pk).update(status=status, status_reason=reason[:200])
        self.status, self.status_reason = status, reason[:200]


class AuthorizationRefusal(models.Model):
    """A refused Authorize/StartTransaction, with the reason staff see (chargers only get a status)."""

    id_tag = models.CharField("idTag", max_length=MAX_ID_TAG_LENGTH, db_index=True)
    card = models.ForeignKey(IdTag, on_delete=models.SET_NULL, null=True, blank=True, related_name="refusals")
    charger = models.ForeignKey(
        "stations.Charger", on_delete=models.SET_NULL, null=True, blank=True, related_name="refusals"
    )
    status = models.CharField(max_length=20, help_text="What the charger was told")
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.id_tag}: {self.status} ({self.reason})"
