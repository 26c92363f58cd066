"""Forms of the sign-in, second-factor and user-administration pages (parsing only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator

from apps.accounts.models import User
from apps.accounts.roles import ROLE_LABELS, Role
from apps.accounts.services.mfa import Method

ROLE_CHOICES = [(role.value, ROLE_LABELS[role]) for role in Role]


class LoginForm(forms.Form):
    username = forms.CharField(max_length=150, strip=True)
    password = forms.CharField(max_length=4096, strip=False, widget=forms.PasswordInput)


class CodeForm(forms.Form):
    method = forms.ChoiceField(
        choices=[
            (Method.TOTP.value, "Authenticator app code"),
            (Method.BACKUP.value, "Backup code"),
        ],
        initial=Method.TOTP.value,
        widget=forms.RadioSelect,
    )
    code = forms.CharField(max_length=32, strip=True)


class EnrolForm(forms.Form):
    code = forms.CharField(max_length=16, strip=True)


class UserCreateForm(forms.Form):
    ONBOARD_LINK = "link"
    ONBOARD_PASSWORD = "password"  # noqa: S105 - a choice value, not a secret

    username = forms.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES, widget=forms.CheckboxSelectMultiple, required=False
    )
    onboarding = forms.ChoiceField(
        choices=[
            (ONBOARD_LINK, "Send a one-time link to set a password"),
            (ONBOARD_PASSWORD, "Set an initial password (must be changed at first login)"),
        ],
        initial=ONBOARD_LINK,
        widget=forms.RadioSelect,
    )
    initial_password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False)
    )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with that username already exists.")
        return username

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("onboarding") == self.ONBOARD_PASSWORD:
            password = data.get("initial_password") or ""
            if not password:
                self.add_error("initial_password", "Enter an initial password, or send a link.")
            else:
                candidate = User(username=data.get("username", ""), email=data.get("email", ""))
                try:
                    password_validation.validate_password(password, candidate)
                except forms.ValidationError as exc:
                    self.add_error("initial_password", exc)
        return data


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES, widget=forms.CheckboxSelectMultiple, required=False
    )
