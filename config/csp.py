"""What plotly.js needs from our Content-Security-Policy, derived from the file we serve.

plotly.js styles its charts with CSS it injects at run time, in two ways our policy must allow
without 'unsafe-inline':

* empty ``<style>`` elements whose rules it then adds through the CSSOM (``insertRule``, which
  CSP does not govern), and ``style=""`` on colour-bar rectangles: both are allowed by the hash
  of the empty string, which admits no content at all;
* one fixed stylesheet (maplibre's, for map traces) written into a ``<style>`` element as
  text: allowed by its own hash, read here from the installed ``plotly.min.js``, so an upgrade
  of the ``plotly`` package brings its new hash along. The CSP browser test fails if it does not
  (tests/foundation/test_security_csp_browser.py).

No script needs 'unsafe-eval': the 3D surface draws with the policy as it is (same test).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import re
from pathlib import Path

# <style> elements created and filled with a string literal: createElement("style"); ...
# e.textContent='...'
_INJECTED_STYLE = re.compile(r"""createElement\("style"\)[^{}]{0,300}?\.textContent=(['"])""")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "/": "/"}


def csp_hash(text: str) -> str:
    """The CSP source expression that allows exactly ``text`` as inline content."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


EMPTY_HASH = csp_hash("")


def _read_js_string(source: str, start: int, quote: str) -> str | None:
    """The value of the JavaScript string literal whose body starts at ``start``."""
    out, i = [], start
    while i < len(source):
        char = source[i]
        if char == quote:
            return "".join(out)
        if char == "\\":
            nxt = source[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt in "ux":
                width = 4 if nxt == "u" else 2
                out.append(chr(int(source[i + 2 : i + 2 + width], 16)))
                i += 2 + width
            else:
                return None  # an escape we do not decode: no hash rather than a wrong one
            continue
        out.append(char)
        i += 1
    return None


@functools.cache
def plotly_style_hashes() -> tuple[str, ...]:
    """Hashes of the stylesheets plotly.min.js writes into <style> elements as text."""
    spec = importlib.util.find_spec("plotly")  # the file apps.dashboard.staticfinders serves
    if spec is None or spec.origin is None:
        return ()
    try:
        path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
        source = path.read_text(encoding="utf-8")
    except OSError:
        return ()
    hashes = []
    for match in _INJECTED_STYLE.finditer(source):
        text = _read_js_string(source, match.end(), match.group(1))
        if text is not None:
            hashes.append(csp_hash(text))
    return tuple(dict.fromkeys(hashes))


@functools.cache
def swagger_ui_style_hashes() -> tuple[str, ...]:
    """Hashes of the inline <style> blocks of drf-spectacular's Swagger UI page (/api/docs/),
    read from the installed template, so an upgrade brings its new hash along."""
    spec = importlib.util.find_spec("drf_spectacular")
    if spec is None or spec.origin is None:
        return ()
    path = Path(spec.origin).parent / "templates" / "drf_spectacular" / "swagger_ui.html"
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        return ()
    return tuple(csp_hash(m) for m in re.findall(r"<style>(.*?)</style>", source, re.S))
