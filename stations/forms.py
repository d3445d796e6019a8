from django import forms

from stations.models import Charger


class ChargerAdminForm(forms.ModelForm):
    """Staff type a charger's password once; only its hash is stored."""

    new_password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="HTTP Basic password the charger must present. Leave empty to keep the current one.",
    )
    clear_password = forms.BooleanField(required=False, help_text="Let the charger connect without a password.")

    class Meta:
        model = Charger
        fields = ("charge_point_id", "name", "approval")

    def save(self, commit=True):
        charger = super().save(commit=False)
        if self.cleaned_data.get("clear_password"):
            charger.set_password(None)
        elif self.cleaned_data.get("new_password"):
            charger.set_password(self.cleaned_data["new_password"])
        if commit:
            charger.save()
        return charger
