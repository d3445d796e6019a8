from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from accounts import views as accounts_views

urlpatterns = [
    path("", accounts_views.home, name="home"),
    # One sign-in for all staff; the front desk's old address keeps working.
    path("login/", accounts_views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("desk/login/", RedirectView.as_view(pattern_name="login", query_string=True), name="desk_login"),
    path("", include("stations.urls")),
    path("admin/", admin.site.urls),
    # The language switch on every page: Django's set_language (POST), remembered in a cookie.
    path("i18n/", include("django.conf.urls.i18n")),
    path("desk/", include("rfid.urls")),
    path("desk/", include("accounts.urls")),
]
