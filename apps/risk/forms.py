from __future__ import annotations

from django import forms

from apps.risk.models import RiskLimit


class LimitForm(forms.ModelForm):
    class Meta:
        model = RiskLimit
        fields = [
            "name",
            "scope",
            "target",
            "metric",
            "threshold",
            "warning_fraction",
            "action",
            "confirmations_required",
            "enabled",
        ]
        help_texts = {
            "target": "Venue (SIM), account label (SIM-A) or underlying (BTC); empty for global.",
            "threshold": "In the metric's unit (USD, count, orders per minute).",
            "warning_fraction": "Utilisation at which the limit shows as a warning (0.8 = 80%).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].required = False
        # Validated by the service (existence of the venue/account/underlying); the model's own
        # checks run there too, with the person's input.
        self.fields["enabled"].required = False


class DeleteForm(forms.Form):
    confirm = forms.BooleanField(required=True, label="Yes, delete this limit")
