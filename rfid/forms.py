import uuid
from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from billing.models import LedgerEntry
from billing.money import MAX_TOP_UP, check_top_up_amount, format_money
from rfid.models import MAX_ID_TAG_LENGTH, IdTag
from rfid.services import CardError, CardState, check_new_id_tag, recent_same_top_up

SEARCH_HELP = gettext_lazy("idTag, name, phone or email")


class SearchInput(forms.TextInput):
    input_type = "search"


class CardFilterForm(forms.Form):
    """The card list's one search box (the desk's search) and its filters; all optional."""

    q = forms.CharField(label=gettext_lazy("Search"), max_length=100, required=False, widget=SearchInput)
    state = forms.ChoiceField(
        label=pgettext_lazy("card state", "Status"),
        choices=[("", gettext_lazy("any status")), *CardState.choices],
        required=False,
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("Mode"),
        choices=[("", gettext_lazy("any mode")), *IdTag.Mode.choices],
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update(placeholder=SEARCH_HELP, autofocus=True)


class DriverSearchForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Search"), max_length=100, required=False, widget=SearchInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update(placeholder=SEARCH_HELP, autofocus=True)


class TopUpForm(forms.Form):
    """A top-up at the desk. The same amount on the same card shortly after another asks to confirm."""

    amount = forms.DecimalField(min_value=0, max_value=MAX_TOP_UP, decimal_places=3, max_digits=12)
    method = forms.ChoiceField(
        label=gettext_lazy("Payment method"),
        choices=LedgerEntry.PaymentMethod.choices,
        widget=forms.RadioSelect,
        initial=LedgerEntry.PaymentMethod.CASH,
    )
    # A fresh key per rendered form: submitting the same form twice credits once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    # Sent by the "top up again" button the warning about a recent same top-up shows.
    confirm_repeat = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, card: IdTag, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.card, self.currency = card, currency
        self.repeat_of = None  # the recent same top-up, when the clerk must confirm another
        self.fields["amount"].label = _("Amount (%(currency)s)") % {"currency": currency}
        self.fields["amount"].widget.attrs.update(autofocus=True, inputmode="decimal")
        self.initial.setdefault("idempotency_key", uuid.uuid4().hex)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        try:
            check_top_up_amount(amount, self.currency)
        except ValueError as problem:
            raise forms.ValidationError(str(problem)) from None
        return amount

    def clean(self):
        data = super().clean()
        if "amount" in data and "idempotency_key" in data and not data.get("confirm_repeat"):
            self.repeat_of = recent_same_top_up(
                card=self.card, amount=data["amount"], other_than_key=data["idempotency_key"]
            )
            if self.repeat_of is not None:
                raise forms.ValidationError(self._repeat_warning(), code="same_top_up")
        return data

    def _repeat_warning(self) -> str:
        entry = self.repeat_of
        facts = {
            "amount": format_money(entry.amount, entry.account.currency),
            "ago": timesince(entry.created_at),
            "who": entry.created_by or entry.source,
        }
        if timezone.now() - entry.created_at < timedelta(minutes=1):  # timesince would say "0 minutes"
            return _("%(amount)s was credited to this card a moment ago by %(who)s. Top up again?") % facts
        return _("%(amount)s was credited to this card %(ago)s ago by %(who)s. Top up again?") % facts


class BlockForm(forms.Form):
    status = forms.ChoiceField(
        label=pgettext_lazy("card state", "Status"),
        choices=[
            (IdTag.Status.BLOCKED, pgettext_lazy("card state", "blocked")),
            (IdTag.Status.LOST, pgettext_lazy("card state", "lost")),
        ],
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=200, required=False)


class NewIdTagField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(label=gettext_lazy("idTag (card UID)"), max_length=MAX_ID_TAG_LENGTH + 10, **kwargs)

    def clean(self, value):
        try:
            return check_new_id_tag(super().clean(value))
        except CardError as problem:
            raise forms.ValidationError(str(problem)) from None


class ReplaceForm(forms.Form):
    new_id_tag = NewIdTagField()
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=150, initial=gettext_lazy("lost"))


class NewCardForm(forms.Form):
    id_tag = NewIdTagField()
    mode = forms.ChoiceField(
        label=gettext_lazy("Mode"), choices=IdTag.Mode.choices, initial=IdTag.Mode.PREPAID
    )
    owner = forms.ModelChoiceField(
        label=gettext_lazy("Owner"),
        queryset=get_user_model().objects.drivers().order_by("name", "username"),  # never a staff account
        required=False,
        help_text=gettext_lazy("Empty: an anonymous prepaid card"),
    )
    expires_on = forms.DateField(
        label=gettext_lazy("Expires on"),
        required=False,
        help_text=gettext_lazy("Valid through this day (site time)"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day and day < timezone.localdate():
            raise forms.ValidationError(_("That day has passed."))
        return day


def end_of_day(day) -> datetime:
    """A card valid through `day` expires at the next midnight of the site's time zone."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time(0)))
