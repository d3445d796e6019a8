"""The pay pages' addresses: included from csms/urls.py BEFORE stations.urls, whose
`chargers/<path:…>/` would otherwise take `chargers/<id>/stickers/` for a charger named "<id>/stickers".

Charge point ids may contain "/" (sent as %2F, decoded by the server): `<path:…>` followed by
the connector number, so the longest match wins and "/c/A/B/1/" is charger "A/B", connector 1.
"""

from django.urls import path

from billing import views

CONNECTOR = "c/<path:charge_point_id>/<int:connector_id>/"

urlpatterns = [
    path("c/", views.pay_start, name="pay_start"),
    path("c/sign-in/", views.driver_sign_in, name="driver_sign_in"),
    path("c/sign-up/", views.driver_sign_up, name="driver_sign_up"),
    path(CONNECTOR + "qr.svg", views.connector_qr_svg, name="connector_qr_svg"),
    path(CONNECTOR + "qr.png", views.connector_qr_png, name="connector_qr_png"),
    path(CONNECTOR + "pay/", views.pay_connector, name="pay_connector"),
    path(CONNECTOR, views.pay_page, name="pay_page"),
    # The session's token is the key (billing.payments): 22 URL-safe characters.
    path("s/<str:token>/", views.session_live, name="session_live"),
    path("s/<str:token>/status.json", views.session_status, name="session_status"),
    path("s/<str:token>/stop/", views.session_stop, name="session_stop"),
    path("s/<str:token>/receipt/", views.session_receipt, name="session_receipt"),
    # A signed-in driver's wallet, topped up online through the card gateway (billing.topups).
    path("wallet/top-up/", views.wallet_top_up, name="wallet_top_up"),
    path("wallet/top-up/<str:token>/", views.wallet_top_up_status, name="wallet_top_up_status"),
    path("payments/", views.payment_list, name="payment_list"),
    path("stickers/", views.site_stickers, name="site_stickers"),
    path("chargers/<path:charge_point_id>/stickers/", views.charger_stickers, name="charger_stickers"),
]
