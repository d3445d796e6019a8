"""The payment flow's JSON API (billing.api) and the gateways' webhooks (billing.webhooks)."""

from django.urls import path

from billing import api, staff_api, webhooks

urlpatterns = [
    # Charge point ids may contain "/" (arriving as %2F): <path:…> followed by the connector number.
    path(
        "api/v1/connectors/<path:charge_point_id>/<int:connector_id>/",
        api.ConnectorApi.as_view(),
        name="api_connector",
    ),
    path("api/v1/charging-sessions/", api.ChargingSessionsApi.as_view(), name="api_charging_sessions"),
    path(
        "api/v1/charging-sessions/<int:payment_id>/",
        api.ChargingSessionApi.as_view(),
        name="api_charging_session",
    ),
    path(
        "api/v1/charging-sessions/<int:payment_id>/stop/",
        api.ChargingSessionStopApi.as_view(),
        name="api_charging_session_stop",
    ),
    path("api/v1/auth/token/", api.AuthTokenApi.as_view(), name="api_auth_token"),
    path("api/v1/wallet/top-ups/", api.WalletTopUpsApi.as_view(), name="api_wallet_top_ups"),
    path("api/v1/wallet/top-ups/<int:top_up_id>/", api.WalletTopUpApi.as_view(), name="api_wallet_top_up"),
    path("payments/stripe/webhook/", webhooks.stripe_webhook, name="stripe_webhook"),
    # Tariffs and the ledger, for staff (billing.staff_api).
    path("api/v1/tariffs/", staff_api.TariffsApi.as_view(), name="api_tariffs"),
    path("api/v1/tariffs/<int:tariff_id>/", staff_api.TariffApi.as_view(), name="api_tariff"),
    path("api/v1/ledger/", staff_api.LedgerApi.as_view(), name="api_ledger"),
]
