"""Pure numerics (NumPy/SciPy/numba only, no Django): Black-76, implied vol, SVI, surfaces.

The public API is re-exported here; conventions and units are in docs/pricing.md.
"""

from apps.pricing.black76 import Greeks, InverseGreeks, black76, black76_price, bsm, inverse_greeks
from apps.pricing.chain import ChainAnalytics, chain_analytics
from apps.pricing.iv import IVReason, implied_vol, implied_vol_with_reason
from apps.pricing.surface import (
    SmileMetrics,
    SurfaceGrid,
    atm_term_structure,
    smile_metrics,
    surface_delta_grid,
    surface_grid,
)
from apps.pricing.svi import (
    SVIFit,
    SVIParams,
    svi_butterfly_check,
    svi_calendar_check,
    svi_fit,
    svi_implied_vol,
    svi_total_variance,
    svi_weights_from_spread,
    svi_weights_from_vega,
)

__all__ = [
    "ChainAnalytics",
    "Greeks",
    "IVReason",
    "InverseGreeks",
    "SVIFit",
    "SVIParams",
    "SmileMetrics",
    "SurfaceGrid",
    "atm_term_structure",
    "black76",
    "black76_price",
    "bsm",
    "chain_analytics",
    "implied_vol",
    "implied_vol_with_reason",
    "inverse_greeks",
    "smile_metrics",
    "surface_delta_grid",
    "surface_grid",
    "svi_butterfly_check",
    "svi_calendar_check",
    "svi_fit",
    "svi_implied_vol",
    "svi_total_variance",
    "svi_weights_from_spread",
    "svi_weights_from_vega",
]
