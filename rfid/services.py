"""Who may charge: the one place that decides Authorize and StartTransaction."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from rfid.models import IdTag, normalise_id_tag


@dataclass(frozen=True)
class Authorization:
    status: str  # an OCPP AuthorizationStatus: Accepted, Blocked, Expired, Invalid, ConcurrentTx
    expiry_date: datetime | None = None
    parent_id_tag: str = ""
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


def authorize(*, id_tag: str, charger=None) -> Authorization:
    """Decide whether `id_tag` may charge (at `charger`, when one is given)."""
    if charger is not None and not charger.is_approved:
        return Authorization("Invalid", reason="charger not approved")
    card = IdTag.objects.filter(id_tag=normalise_id_tag(id_tag)).first()
    if card is None:
        return Authorization("Invalid", reason="unknown idTag")
    if card.status in (IdTag.Status.BLOCKED, IdTag.Status.LOST):
        return Authorization("Blocked", reason=f"card {card.status}")
    if card.status == IdTag.Status.EXPIRED or (card.expires_at and card.expires_at <= timezone.now()):
        return Authorization("Expired", card.expires_at, reason="card expired")
    return Authorization("Accepted", card.expires_at, card.parent_id_tag)
