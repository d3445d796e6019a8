from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import roles


class DriverForm(forms.ModelForm):
    """A driver registered at the desk; they have no password until they set one."""

    class Meta:
        model = get_user_model()
        fields = ["username", "name", "phone", "email"]
        labels = {
            "username": gettext_lazy("Username"),
            "name": gettext_lazy("Name"),
            "phone": gettext_lazy("Phone"),
            "email": gettext_lazy("Email"),
        }
        help_texts = {"username": gettext_lazy("Letters, digits and @/./+/-/_ only; for signing in later.")}

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


ROLE_CHOICES = [(role, roles.ROLE_LABELS[role]) for role in roles.ROLES]


class StaffAccountForm(UserCreationForm):
    """A staff account an admin makes: who they are, a first password (Django's checks), a role."""

    # Chosen every time, never a default: a forgotten field must not make someone an admin.
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=[("", "—"), *ROLE_CHOICES])

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ["username", "name", "phone", "email"]
        labels = {
            "name": gettext_lazy("Name"),
            "phone": gettext_lazy("Phone"),
            "email": gettext_lazy("Email"),
        }


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=ROLE_CHOICES)


class AccountActiveForm(forms.Form):
    """Deactivate ("0") or reactivate ("1"), said outright: a repeated click changes nothing more."""

    active = forms.TypedChoiceField(choices=[("1", "1"), ("0", "0")], coerce=lambda value: value == "1")
