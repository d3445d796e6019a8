from django import forms
from django.contrib.auth import get_user_model


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
