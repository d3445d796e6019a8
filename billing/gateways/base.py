"""The one small interface every payment provider sits behind (billing.payments drives it).

Two kinds of provider fit it, told apart by `holds_funds`:

- providers that HOLD money (the wallet, Stripe with manual capture): the driver authorises the
  chosen amount, `capture(amount)` takes the real cost when the session ends and lets the rest
  go, `cancel()` lets all of it go when the session never started;
- providers that CANNOT hold money (charge up front, as the QR payments of WeChat Pay and
  Alipay work): the confirmed payment is already taken, `refund(amount)` gives back what the
  session did not use (or all of it when it never started). `capture` is never called on them.

billing.payments.collect / give_back pick the path from the flag, so an adapter for such a
provider is a new file here (and a line in billing.gateways.ADAPTERS), not a new flow.

Money is confirmed only server-side: by the provider's signed webhook (parse_webhook) or by
asking it (confirmation); a browser coming back from the provider's page proves nothing.

A card provider may also top up a driver's wallet (`tops_up_wallets`, billing.topups): a checkout
whose money is taken at once (`begin_top_up`; a holding provider charges in automatic-capture mode),
asked about with the same `confirmation` (a top-up has gateway_reference, gateway_payment and
currency as a payment has), and closed unpaid with `close_top_up`. The wallet cannot top itself up.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal


class GatewayError(Exception):
    """A call to the provider failed; the message is for staff. `retry` False: trying again cannot help."""

    def __init__(self, message: str, *, retry: bool = True):
        super().__init__(message)
        self.retry = retry


class BadSignature(Exception):
    """A webhook that is not provably the provider's: refused, nothing changes."""


@dataclass(frozen=True)
class Checkout:
    """Where the driver pays: the provider's page for this payment."""

    reference: str  # the provider's id of it (Stripe: the Checkout Session id)
    redirect_url: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Confirmation:
    """What the provider says of a payment when asked, server-side."""

    OPEN = "open"  # not paid yet (the checkout is still open)
    AUTHORISED = "authorised"  # money confirmed: held (holds_funds) or taken up front
    CAPTURED = "captured"  # the hold was captured (holds_funds)
    CANCELLED = "cancelled"  # the authorisation is gone: cancelled, expired, refunded in full
    FAILED = "failed"  # will never be paid: the checkout expired or was closed unpaid

    status: str
    gateway_payment: str = ""  # the provider's id of the money itself (Stripe: the PaymentIntent id)
    amount: Decimal | None = None  # what is held, taken or captured
    expires_at: datetime | None = None  # when a hold lapses if not captured
    detail: str = ""


@dataclass(frozen=True)
class Event:
    """A verified webhook event, reduced to what finds its payment; the payload is kept for staff."""

    event_id: str
    event_type: str
    payment_id: int | None = None  # ours, from the metadata we gave the provider
    reference: str = ""
    gateway_payment: str = ""
    payload: dict = field(default_factory=dict)
    top_up_id: int | None = None  # ours, when the event is of a wallet top-up (billing.topups)


class Gateway(ABC):
    name: str
    holds_funds: bool
    # True for the wallet only: money moves in our own ledger, inside the caller's database
    # transaction, so ending or cancelling a payment and moving its money are one commit.
    in_database: bool = False
    hold_lifetime: timedelta | None = None  # how long an authorisation lasts uncaptured
    tops_up_wallets: bool = False  # drivers may top up their wallet through it (begin_top_up)

    @abstractmethod
    def begin(self, payment, *, return_url: str) -> Checkout:
        """Open the provider's checkout for `payment.amount`; the driver comes back to `return_url`."""

    @abstractmethod
    def confirmation(self, payment) -> Confirmation:
        """Ask the provider where the payment stands (never trust a browser for this)."""

    def capture(self, payment, *, amount: Decimal) -> None:
        """holds_funds only: take `amount` (≤ the hold) and let the rest go; 0 lets all of it go."""
        raise GatewayError(f"{self.name} cannot capture: it does not hold money", retry=False)

    @abstractmethod
    def cancel(self, payment) -> None:
        """Let all of it go: void the authorisation, or close a checkout not yet paid."""

    def refund(self, payment, *, amount: Decimal) -> None:
        """Give back `amount` of what was taken (up-front providers; staff corrections)."""
        raise GatewayError(f"{self.name} cannot refund", retry=False)

    def begin_top_up(self, top_up, *, return_url: str) -> Checkout:
        """tops_up_wallets only: open a checkout for `top_up.amount` whose money is taken when paid, never
        held. Once taken, `confirmation(top_up)` says CAPTURED (AUTHORISED from a provider that does not
        hold funds: its money is always taken up front)."""
        raise GatewayError(f"{self.name} cannot top up a wallet", retry=False)

    def close_top_up(self, top_up) -> None:
        """Close a top-up's checkout nobody paid, so that it can no longer be paid; GatewayError when
        it cannot be closed (paid meanwhile: the caller asks `confirmation` and credits it)."""
        raise GatewayError(f"{self.name} cannot top up a wallet", retry=False)

    def parse_webhook(self, body: bytes, headers) -> Event:
        """The verified event in a webhook request; BadSignature when it is not the provider's."""
        raise BadSignature(f"{self.name} sends no webhooks")
