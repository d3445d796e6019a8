"""A connector's public address: its URL, the QR code holding it, and the code to type instead.

The URL is `/c/<charge point id>/<connector id>/` with the id percent-encoded
whole ("/" too, as %2F), made absolute with settings.PUBLIC_BASE_URL: the
address drivers' phones reach, not the one staff happen to use.

The typed code is computed, not stored: the connector row's database id,
at least four digits, followed by a Damm check digit ("0012" + "8" → "00128").
It is unique and stable because the row's id is; digits are what a phone's
number pad offers, with no O/0 or I/1 to confuse; and the check digit catches
every single wrong digit and every swap of two neighbours, so a typo never
lands on another connector's page. The codes are not secret: the pay pages
they lead to are public anyway.
"""

import io
import re
from urllib.parse import quote

import qrcode
from django.conf import settings
from qrcode.image.pure import PyPNGImage
from qrcode.image.svg import SvgPathFillImage

from stations.models import Charger, Connector

# Damm's quasigroup of order 10 (H. M. Damm, 2004): the check digit makes the walk end at 0.
DAMM_TABLE = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
CODE_DIGITS = 4  # before the check digit: codes stay five digits up to 9,999 connectors
QR_BOX_PIXELS = 8  # pixels per QR module in the PNG: big enough to print, small enough to send


def connector_path(charge_point_id: str, connector_id: int, suffix: str = "") -> str:
    """The pay page's path (or `suffix` below it, e.g. "qr.svg"), the charge point id quoted whole."""
    return f"/c/{quote(charge_point_id, safe='')}/{connector_id}/{suffix}"


def public_url(charge_point_id: str, connector_id: int) -> str:
    """What the QR code holds: the pay page at the address drivers' phones reach."""
    return settings.PUBLIC_BASE_URL + connector_path(charge_point_id, connector_id)


def public_connector(charge_point_id: str, connector_id: int) -> Connector | None:
    """The connector a public page names; None for an unknown, unapproved or whole-charger (0) one."""
    if connector_id < 1:
        return None
    return (
        Connector.objects.select_related("charger")
        .filter(
            charger__charge_point_id=charge_point_id,
            charger__approval=Charger.Approval.ACCEPTED,
            connector_id=connector_id,
        )
        .first()
    )


# The typed code -----------------------------------------------------------------


def _damm(digits: str) -> int:
    interim = 0
    for digit in digits:
        interim = DAMM_TABLE[interim][int(digit)]
    return interim


def connector_code(connector: Connector) -> str:
    number = f"{connector.pk:0{CODE_DIGITS}d}"
    return number + str(_damm(number))


def connector_by_code(typed: str) -> Connector | None:
    """The connector whose code was typed (spaces and dashes ignored); None if no connector has it."""
    digits = re.sub(r"[\s\-.]", "", typed or "")
    if not (CODE_DIGITS < len(digits) <= 12 and digits.isascii() and digits.isdigit()) or _damm(digits) != 0:
        return None
    connector = Connector.objects.select_related("charger").filter(pk=int(digits[:-1])).first()
    if connector is None:
        return None
    return public_connector(connector.charger.charge_point_id, connector.connector_id)


# The QR code ------------------------------------------------------------------------


def _qr(url: str, box_size: int = 10) -> qrcode.QRCode:
    # Error correction M: a sticker keeps scanning with 15 % of it scratched or dirty.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=box_size)
    code.add_data(url)
    code.make(fit=True)
    return code


def qr_svg(url: str) -> bytes:
    """One <path> on a white square: scales to any sticker size without blurring."""
    image = _qr(url).make_image(image_factory=SvgPathFillImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def qr_png(url: str) -> bytes:
    """A 1-bit greyscale PNG (pure Python: pypng), QR_BOX_PIXELS per module."""
    buffer = io.BytesIO()
    _qr(url, QR_BOX_PIXELS).make_image(image_factory=PyPNGImage).save(buffer)
    return buffer.getvalue()
