"""The built-in provider: the driver's prepaid wallet, moved through its append-only ledger.

A hold is a HOLD entry (negative, never more than the balance: Account.post refuses that under the
wallet's row lock); the end of a session RELEASEs the hold and posts the SESSION_CHARGE of what it
cost, in the same database transaction as the stop; a session that never started RELEASEs it all.
Each entry has an idempotency key naming the payment, so no movement can happen twice.
"""

from decimal import Decimal

from billing.gateways.base import Checkout, Confirmation, Gateway, GatewayError
from billing.models import LedgerEntry

Kind = LedgerEntry.Kind


def _source(payment) -> str:
    return f"payment:{payment.pk}"


class WalletGateway(Gateway):
    name = "wallet"
    holds_funds = True
    in_database = True

    def begin(self, payment, *, return_url: str) -> Checkout:
        raise GatewayError(
            "the wallet has no checkout page: billing.payments holds the money itself", retry=False
        )

    def confirmation(self, payment) -> Confirmation:
        held = payment.account.entries.filter(idempotency_key=f"hold:{payment.pk}").exists()
        return Confirmation(Confirmation.AUTHORISED if held else Confirmation.OPEN, amount=payment.amount)

    def hold(self, payment) -> LedgerEntry:
        """Raises billing.models.InsufficientBalance when the balance is below the amount."""
        return payment.account.post(
            kind=Kind.HOLD,
            amount=-payment.amount,
            source=_source(payment),
            created_by=payment.driver,
            reason=f"held for charging at {payment.charger.charge_point_id} #{payment.connector_id}"[:200],
            idempotency_key=f"hold:{payment.pk}",
        )

    def capture(self, payment, *, amount: Decimal, session=None) -> None:
        """Inside the stop's transaction: the hold back, then what the session cost."""
        self.cancel(payment)
        if amount:
            payment.account.post(
                kind=Kind.SESSION_CHARGE,
                amount=-amount,
                source=_source(payment),
                created_by=payment.driver,
                transaction=session,
                idempotency_key=f"session:{session.pk}",
            )

    def cancel(self, payment) -> None:
        payment.account.post(
            kind=Kind.RELEASE,
            amount=payment.amount,
            source=_source(payment),
            created_by=payment.driver,
            transaction_id=payment.transaction_id,
            idempotency_key=f"release:{payment.pk}",
        )
