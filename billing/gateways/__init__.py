"""Payment providers behind one interface (billing.gateways.base): the wallet, and card gateways.

A card gateway is configured by its settings; with none, drivers pay from their wallet only.
A new provider is a module here with a Gateway subclass, and a line in ADAPTERS.
"""

from django.conf import settings

from billing.gateways.base import Gateway, GatewayError
from billing.gateways.wallet import WalletGateway


def _stripe() -> Gateway | None:
    if not settings.STRIPE_SECRET_KEY:
        return None
    from billing.gateways.stripe import StripeGateway  # the stripe package loads only when used

    return StripeGateway.from_settings()


# name → a function making the configured adapter, or None when it is not configured.
ADAPTERS = {"stripe": _stripe}


def card_gateway() -> Gateway | None:
    """The card gateway drivers pay with: the first configured one; None when none is."""
    return next((gateway for make in ADAPTERS.values() if (gateway := make()) is not None), None)


def top_up_gateway() -> Gateway | None:
    """The card gateway drivers top up their wallet through; None when none is configured (or can)."""
    gateway = card_gateway()
    return gateway if gateway is not None and gateway.tops_up_wallets else None


def gateway_named(name: str) -> Gateway:
    """The adapter a payment was made with; GatewayError when it is no longer configured."""
    if name == WalletGateway.name:
        return WalletGateway()
    gateway = ADAPTERS[name]() if name in ADAPTERS else None
    if gateway is None:
        raise GatewayError(f"the payment gateway {name!r} is not configured on this server")
    return gateway
