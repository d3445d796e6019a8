import uuid
from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from billing.models import LedgerEntry
from billing.money import MAX_TOP_UP, check_top_up_amount
from rfid.models import MAX_ID_TAG_LENGTH, IdTag
from rfid.services import CardError, check_new_id_tag


class SearchForm(forms.Form):
    q = forms.CharField(label="idTag, name or phone", max_length=100, required=False)


class TopUpForm(forms.Form):
    amount = forms.DecimalField(min_value=0, max_value=MAX_TOP_UP, decimal_places=3, max_digits=12)
    method = forms.ChoiceField(
        label="Payment method",
        choices=LedgerEntry.PaymentMethod.choices,
        widget=forms.RadioSelect,
        initial=LedgerEntry.PaymentMethod.CASH,
    )
    # A fresh key per rendered form: submitting the same form twice credits once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].label = f"Amount ({currency})"
        self.initial.setdefault("idempotency_key", uuid.uuid4().hex)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        try:
            check_top_up_amount(amount, self.currency)
        except ValueError as problem:
            raise forms.ValidationError(str(problem)) from None
        return amount


class BlockForm(forms.Form):
    status = forms.ChoiceField(choices=[(IdTag.Status.BLOCKED, "Blocked"), (IdTag.Status.LOST, "Lost")])
    reason = forms.CharField(max_length=200, required=False)


class NewIdTagField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(label="idTag (card UID)", max_length=MAX_ID_TAG_LENGTH + 10, **kwargs)

    def clean(self, value):
        try:
            return check_new_id_tag(super().clean(value))
        except CardError as problem:
            raise forms.ValidationError(str(problem)) from None


class ReplaceForm(forms.Form):
    new_id_tag = NewIdTagField()
    reason = forms.CharField(max_length=150, initial="lost")


class NewCardForm(forms.Form):
    id_tag = NewIdTagField()
    mode = forms.ChoiceField(choices=IdTag.Mode.choices, initial=IdTag.Mode.PREPAID)
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("name", "username"),
        required=False,
        help_text="Empty: an anonymous prepaid card",
    )
    expires_on = forms.DateField(
        required=False,
        help_text="Valid through this day (site time)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day and day < timezone.localdate():
            raise forms.ValidationError("That day has passed.")
        return day


def end_of_day(day) -> datetime:
    """A card valid through `day` expires at the next midnight of the site's time zone."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time(0)))
