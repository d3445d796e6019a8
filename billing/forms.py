"""The driver's forms on the pay pages: the typed connector code, signing in and up, the payment, the
wallet's online top-up."""

import re
import uuid
from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.core.validators import RegexValidator
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.forms import SignInForm
from accounts.models import phone_without_separators
from billing.connector_links import connector_by_code

# A phone number as people write it: digits with spaces, dashes, dots or brackets, an optional leading +.
PHONE_WRITTEN = RegexValidator(
    r"^\+?[0-9 ()\-.]+$",
    gettext_lazy("Enter a phone number: digits, optionally starting with + and the country code."),
)
PHONE_DIGITS = (6, 15)  # E.164: at most 15 digits with the country code


def normalise_phone(written: str) -> str:
    """ "+49 170 555-0101" → "+491705550101": how a driver's phone is stored and compared."""
    written = written.strip()
    digits = re.sub(r"\D", "", written)
    return f"+{digits}" if written.startswith("+") else digits


def drivers_with_phone(phone: str):
    """Accounts whose phone, however it was written (the desk types it freely), is `phone`."""
    stored = phone_without_separators("phone")
    return get_user_model().objects.alias(phone_digits=stored).filter(phone_digits=normalise_phone(phone))


class ConnectorCodeForm(forms.Form):
    """The code on the sticker under the QR code, for when the camera fails."""

    code = forms.CharField(
        label=gettext_lazy("Connector code"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "autofocus": True}),
        help_text=gettext_lazy("The digits printed under the QR code on the charger."),
    )

    def clean_code(self):
        connector = connector_by_code(self.cleaned_data["code"])
        if connector is None:
            raise forms.ValidationError(
                _("No connector has the code %(code)s. Check the digits on the sticker."),
                code="unknown",
                params={"code": self.cleaned_data["code"]},
            )
        self.connector = connector
        return self.cleaned_data["code"]


class DriverSignInForm(SignInForm):
    """Sign in with a user name or a phone number; the throttled backend (accounts.backends) checks it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("Phone number or user name")
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "inputmode": "tel"})

    def clean_username(self):
        """A phone number becomes the user name of its one account; anything else is tried as typed."""
        typed = self.cleaned_data["username"]
        model = get_user_model()
        if model.objects.filter(username=typed).exists() or not _looks_like_phone(typed):
            return typed
        usernames = list(drivers_with_phone(typed).values_list("username", flat=True)[:2])
        return usernames[0] if len(usernames) == 1 else typed  # two accounts share it: user name needed


def _looks_like_phone(typed: str) -> bool:
    digits = len(re.sub(r"\D", "", typed))
    return bool(re.fullmatch(r"\+?[0-9 ()\-.]+", typed.strip())) and PHONE_DIGITS[0] <= digits


class DriverSignUpForm(forms.Form):
    """A new driver on the spot: a name, a phone number to sign in with, and a password."""

    name = forms.CharField(label=gettext_lazy("Your name"), max_length=150)
    phone = forms.CharField(
        label=gettext_lazy("Phone number"),
        max_length=32,
        validators=[PHONE_WRITTEN],
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
        help_text=gettext_lazy("You sign in with it next time."),
    )
    password = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password"].help_text = " ".join(password_validators_help_texts())

    def clean_phone(self):
        phone = normalise_phone(self.cleaned_data["phone"])
        digits = len(phone.lstrip("+"))
        if not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]:
            raise forms.ValidationError(
                _("A phone number has %(low)s to %(high)s digits."),
                code="length",
                params={"low": PHONE_DIGITS[0], "high": PHONE_DIGITS[1]},
            )
        if drivers_with_phone(phone).exists() or get_user_model().objects.filter(username=phone).exists():
            raise _phone_taken()
        return phone

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("phone") and "password" in cleaned:
            candidate = get_user_model()(
                username=cleaned["phone"], name=cleaned.get("name", ""), phone=cleaned["phone"]
            )
            try:
                validate_password(cleaned["password"], candidate)
            except forms.ValidationError as problems:
                self.add_error("password", problems)
        return cleaned

    def save(self):
        """The new account, its user name the phone number; None when someone took the number meanwhile."""
        try:
            with transaction.atomic():  # the unique user name settles two sign-ups racing for one number
                return get_user_model().objects.create_user(
                    self.cleaned_data["phone"],
                    password=self.cleaned_data["password"],
                    name=self.cleaned_data["name"],
                    phone=self.cleaned_data["phone"],
                )
        except IntegrityError:
            self.add_error("phone", _phone_taken())
            return None


def _phone_taken() -> forms.ValidationError:
    return forms.ValidationError(_("This phone number is already registered: sign in instead."), code="taken")


class AmountForm(forms.Form):
    """How much. Each preset is a submit button named `amount` (its value the amount), and the typed
    amount's button says "other": the button pressed is the amount chosen, with no script needed.

    The key is made when the page is shown: a double click or a resubmission after Back sends it again,
    and the service returns the first payment or top-up instead of making a second. The limits are the
    service's to check (one place): its refusal comes back as this form's error.
    """

    amount = forms.CharField(max_length=20, error_messages={"required": gettext_lazy("Choose an amount.")})
    other_amount = forms.DecimalField(
        label=gettext_lazy("Other amount"),
        required=False,
        max_digits=12,
        decimal_places=4,
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "any", "min": "0"}),
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, presets=(), **kwargs):
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.presets = [str(preset) for preset in presets]

    def clean(self):
        cleaned = super().clean()
        pressed, typed = cleaned.get("amount"), cleaned.get("other_amount")
        if pressed == "other":
            if typed is None:
                self.add_error("other_amount", _("Type an amount, or press one of the amounts above."))
            cleaned["chosen_amount"] = typed
        elif pressed is not None:
            if pressed not in self.presets:
                self.add_error("amount", _("Choose one of the amounts shown."))
            else:
                cleaned["chosen_amount"] = Decimal(pressed)
        return cleaned


class PaymentForm(AmountForm):
    """How much, and how: from the wallet or by card (billing.payments)."""

    method = forms.ChoiceField(
        choices=[("wallet", gettext_lazy("wallet")), ("card", gettext_lazy("card"))],
        error_messages={"required": gettext_lazy("Choose how to pay.")},
    )


class TopUpForm(AmountForm):
    """How much to add to the wallet by card (billing.topups); `next` is the page to go back to."""

    next = forms.CharField(widget=forms.HiddenInput, required=False, max_length=500)
