from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html", next_page="desk:search"),
        name="desk_login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="desk_login"), name="desk_logout"),
    path("drivers/new/", views.driver_new, name="driver_new"),
    path("drivers/<int:user_id>/", views.driver_detail, name="driver"),
]
