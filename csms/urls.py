from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from accounts import views as accounts_views
from csms.api_docs import ApiDocsView
from rfid import urls as rfid_urls

urlpatterns = [
    path("", accounts_views.home, name="home"),
    # One sign-in for all staff; the front desk's old address keeps working.
    path("login/", accounts_views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    # Staff accounts and their roles: admins only.
    path("staff/", accounts_views.staff_list, name="staff_list"),
    path("staff/new/", accounts_views.staff_new, name="staff_new"),
    path("staff/<int:pk>/role/", accounts_views.staff_role, name="staff_role"),
    path("staff/<int:pk>/active/", accounts_views.staff_active, name="staff_active"),
    path("desk/login/", RedirectView.as_view(pattern_name="login", query_string=True), name="desk_login"),
    # The driver's pay pages, stickers and payments; before stations.urls (billing/web_urls.py says why).
    path("", include("billing.web_urls")),
    # The payment flow's JSON API (/api/v1/connectors/, /api/v1/charging-sessions/, /api/v1/auth/token/)
    # and the gateways' webhooks (/payments/stripe/webhook/).
    path("", include("billing.urls")),
    path("", include("stations.urls")),
    # The REST API's OpenAPI 3 schema and its Swagger UI page (local files only).
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/v1/docs/", ApiDocsView.as_view(url_name="api_schema"), name="api_docs"),
    path("admin/", admin.site.urls),
    # The language switch on every page: Django's set_language (POST), remembered in a cookie.
    path("i18n/", include("django.conf.urls.i18n")),
    # Drivers and cards, for operators and the front desk; the desk's old /desk/ addresses lead there.
    path("", include("rfid.urls")),
    path("", include("accounts.urls")),
    path("desk/", include((rfid_urls.desk_urlpatterns, "desk"))),
]

# Under /api/ a JSON error body, elsewhere the site's own page (templates/404.html).
handler404 = "csms.api.not_found"
