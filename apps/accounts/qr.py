"""QR codes drawn on the server as inline SVG (no image request, no third-party service)."""

from __future__ import annotations

import re

import qrcode
import qrcode.image.svg


def qr_svg(data: str) -> str:
    """An ``<svg>`` element encoding ``data``, safe to embed (it holds only path data)."""
    image = qrcode.make(
        data,
        image_factory=qrcode.image.svg.SvgPathImage,
        box_size=10,
        border=2,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
    )
    svg = image.to_string(encoding="unicode")
    # Drop the fixed millimetre size so CSS sizes it; add an accessible name.
    svg = re.sub(r'^<svg width="[^"]*" height="[^"]*"', "<svg", svg, count=1)
    return svg.replace(
        "<svg ", '<svg class="qr" role="img" aria-label="QR code for your authenticator app" ', 1
    )
