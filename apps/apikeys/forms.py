from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from apps.apikeys.conf import default_expiry_days, max_expiry_days, max_rotation_grace_seconds
from apps.apikeys.models import validate_network
from apps.apikeys.scopes import Scope
from apps.venues.models import TradingAccount

GRACE_CHOICES = [
    (0, "None: the old secret stops working now"),
    (300, "5 minutes"),
    (3600, "1 hour"),
    (6 * 3600, "6 hours"),
    (max_rotation_grace_seconds(), "24 hours"),
]


class KeyIssueForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What runs with this key, e.g. 'mm-bot-eu'.")
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True))
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    trading_accounts = forms.ModelMultipleChoiceField(
        queryset=TradingAccount.objects.filter(active=True).select_related("venue"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Where the key may trade and read positions and orders. None: nowhere.",
    )
    allowed_networks = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One IPv4/IPv6 address or CIDR per line. Empty means any address.",
    )
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=max_expiry_days(), initial=default_expiry_days()
    )
    rate_per_second = forms.FloatField(min_value=0.1, max_value=10_000, initial=10)
    burst = forms.IntegerField(min_value=1, max_value=100_000, initial=20)

    def clean_allowed_networks(self) -> str:
        raw = self.cleaned_data.get("allowed_networks") or ""
        errors = []
        for network in _split_networks(raw):
            try:
                validate_network(network)
            except forms.ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise forms.ValidationError(errors)
        return raw

    def networks(self) -> list[str]:
        return _split_networks(self.cleaned_data.get("allowed_networks") or "")


def _split_networks(raw: str) -> list[str]:
    return [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]


class KeyRevokeForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Why: it is kept in the audit log.")


class KeyRotateForm(forms.Form):
    grace_seconds = forms.TypedChoiceField(choices=GRACE_CHOICES, coerce=int, initial=0)


class KeyFilterForm(forms.Form):
    STATUS_CHOICES = [
        ("", "Any status"),
        ("active", "Active"),
        ("expired", "Expired"),
        ("revoked", "Revoked"),
    ]
    owner = forms.CharField(required=False)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    scope = forms.ChoiceField(choices=[("", "Any scope"), *Scope.choices], required=False)
