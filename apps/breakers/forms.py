from __future__ import annotations

from django import forms

from apps.breakers.models import BreakerScope, BreakerState


class TripForm(forms.Form):
    scope = forms.ChoiceField(choices=BreakerScope.choices)
    target = forms.CharField(
        max_length=64,
        required=False,
        help_text="Venue (SIM), account label (SIM-A), underlying (BTC) or API key id. "
        "Empty for global.",
    )
    state = forms.ChoiceField(
        choices=[
            (BreakerState.HALTED, "Halted: nothing new, working orders cancelled"),
            (BreakerState.REDUCE_ONLY, "Reduce only: only orders that shrink a position"),
        ]
    )
    reason = forms.CharField(max_length=500, widget=forms.TextInput())


class ResetForm(forms.Form):
    to_state = forms.ChoiceField(
        label="Reset to",
        choices=[
            (BreakerState.ACTIVE, "Active: trading allowed"),
            (BreakerState.REDUCE_ONLY, "Reduce only (from halted): let positions be exited"),
        ],
    )
    reason = forms.CharField(max_length=500, widget=forms.TextInput())


class ApproveForm(forms.Form):
    note = forms.CharField(max_length=200, required=False, label="Note (optional)")
