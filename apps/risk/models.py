"""Risk limits (edited by risk managers) and their latest evaluation (written by the evaluator).

Split like Venue / VenueHealth: a person editing a limit never overwrites what the evaluator
wrote, and the evaluator never overwrites an edit.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class LimitScope(models.TextChoices):
    GLOBAL = "global", "Global (whole book)"
    VENUE = "venue", "Venue"
    ACCOUNT = "account", "Trading account"
    UNDERLYING = "underlying", "Underlying"


class LimitMetric(models.TextChoices):
    NET_DELTA_USD = "net_delta_usd", "Net delta (USD, absolute)"
    GAMMA_USD = "gamma_usd", "|Gamma| (USD per 1% move)"
    VEGA_USD = "vega_usd", "|Vega| (USD per vol point)"
    GROSS_NOTIONAL_USD = "gross_notional_usd", "Gross notional (USD)"
    UNREALISED_LOSS_USD = "unrealised_loss_usd", "Unrealised loss (USD)"
    WORST_SCENARIO_LOSS_USD = "worst_scenario_loss_usd", "Worst scenario loss (USD)"
    OPEN_ORDERS = "open_orders", "Open orders (count)"
    ORDER_RATE = "order_rate", "Order rate (orders per minute)"


class LimitAction(models.TextChoices):
    REDUCE_ONLY = "reduce_only", "Reduce only"
    HALTED = "halted", "Halt"


# Short names used in trip reasons: "limit sim-b-vega: vega 1.2M > 1.0M".
METRIC_SHORT: dict[str, str] = {
    LimitMetric.NET_DELTA_USD: "net delta",
    LimitMetric.GAMMA_USD: "gamma",
    LimitMetric.VEGA_USD: "vega",
    LimitMetric.GROSS_NOTIONAL_USD: "gross notional",
    LimitMetric.UNREALISED_LOSS_USD: "unrealised loss",
    LimitMetric.WORST_SCENARIO_LOSS_USD: "worst scenario loss",
    LimitMetric.OPEN_ORDERS: "open orders",
    LimitMetric.ORDER_RATE: "order rate",
}


class RiskLimit(models.Model):
    """A threshold on one risk metric of one scope; a confirmed breach trips the breaker of the
    same scope and target (``account`` limit -> ``account`` breaker) to ``action``.

    Guarantees: ``name`` is unique; the global scope has no target and the others have one
    (check constraint); ``threshold > 0``; ``0 < warning_fraction <= 1``;
    ``confirmations_required >= 1``. Changes go through apps.risk.services.limits (step-up MFA,
    audited with old and new values); the admin is read-only.
    """

    name = models.SlugField(max_length=64, unique=True)
    scope = models.CharField(max_length=16, choices=LimitScope.choices)
    target = models.CharField(max_length=64, blank=True, default="")
    metric = models.CharField(max_length=32, choices=LimitMetric.choices)
    threshold = models.FloatField(validators=[MinValueValidator(0.0)])
    warning_fraction = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.01), MaxValueValidator(1.0)]
    )
    action = models.CharField(
        max_length=16, choices=LimitAction.choices, default=LimitAction.REDUCE_ONLY
    )
    confirmations_required = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Consecutive evaluations a breach must hold before it trips (1 = at once).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["scope", "target", "metric", "name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(scope="global") & Q(target="")) | (~Q(scope="global") & ~Q(target="")),
                name="risk_limit_target_matches_scope",
            ),
            models.CheckConstraint(condition=Q(threshold__gt=0), name="risk_limit_threshold_pos"),
            models.CheckConstraint(
                condition=Q(warning_fraction__gt=0) & Q(warning_fraction__lte=1),
                name="risk_limit_warning_fraction",
            ),
            models.CheckConstraint(
                condition=Q(confirmations_required__gte=1), name="risk_limit_confirmations"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.threshold is not None and self.threshold <= 0:
            raise ValidationError({"threshold": "the threshold must be greater than 0"})
        if self.scope == LimitScope.GLOBAL and self.target:
            raise ValidationError({"target": "a global limit has no target"})
        if self.scope != LimitScope.GLOBAL and not self.target:
            raise ValidationError({"target": f"a {self.scope} limit needs a target"})

    @property
    def condition_key(self) -> str:
        """The id of this limit's condition on its breaker."""
        return f"limit:{self.pk}"

    @property
    def scope_label(self) -> str:
        return "global" if self.scope == LimitScope.GLOBAL else f"{self.scope} {self.target}"

    def snapshot(self) -> dict[str, object]:
        """Editable fields, for audit before/after."""
        return {
            "name": self.name,
            "scope": self.scope,
            "target": self.target,
            "metric": self.metric,
            "threshold": self.threshold,
            "warning_fraction": self.warning_fraction,
            "action": self.action,
            "confirmations_required": self.confirmations_required,
            "enabled": self.enabled,
        }


class LimitStatus(models.TextChoices):
    OK = "ok", "Within limit"
    WARNING = "warning", "Warning"
    BREACH = "breach", "Breach"
    UNKNOWN = "unknown", "No data"
    DISABLED = "disabled", "Disabled"


class LimitUtilisation(models.Model):
    """The latest evaluation of one limit (one row per limit, written by the evaluator only).

    Guarantees: ``consecutive_breaches`` counts evaluations in a row whose value exceeded the
    threshold (reset to 0 by one that did not; left alone by one without data); ``tripped`` is
    True exactly while this limit's condition is recorded on its breaker.
    """

    limit = models.OneToOneField(
        RiskLimit, on_delete=models.CASCADE, primary_key=True, related_name="utilisation"
    )
    value = models.FloatField(null=True, blank=True)
    utilisation = models.FloatField(null=True, blank=True, help_text="value / threshold")
    status = models.CharField(
        max_length=16, choices=LimitStatus.choices, default=LimitStatus.UNKNOWN
    )
    consecutive_breaches = models.PositiveIntegerField(default=0)
    tripped = models.BooleanField(default=False)
    complete = models.BooleanField(
        default=True, help_text="False when some positions in scope could not be priced."
    )
    detail = models.CharField(max_length=300, blank=True, default="")
    evaluated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.limit.name}: {self.status}"
