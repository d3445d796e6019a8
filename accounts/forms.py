from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext as _


class DriverForm(forms.ModelForm):
    """A driver registered at the desk; they have no password until they set one."""

    class Meta:
        model = get_user_model()
        fields = ["username", "name", "phone", "email"]

    def save(self, commit=True):
        driver = super().save(commit=False)
        driver.set_unusable_password()
        if commit:
            driver.save()
        return driver


class SignInForm(AuthenticationForm):
    """Django's sign-in form, saying so when sign-in from here is paused (accounts.backends)."""

    def get_invalid_login_error(self):
        if getattr(self.request, "sign_in_throttled", False):
            return forms.ValidationError(
                _("Too many failed sign-ins from here. Wait a quarter of an hour, then try again."),
                code="throttled",
            )
        return super().get_invalid_login_error()
