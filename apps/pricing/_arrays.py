"""Input normalisation shared by the vectorised kernels."""

from __future__ import annotations

import numpy as np


def as_flat_arrays(*values: object) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast inputs and return the shape plus flat, contiguous, writeable float64 arrays.

    Inputs that already have the full shape are used as they are (no copy when they are
    contiguous float64); scalars and smaller arrays are broadcast into a fresh array. The kernels
    then always see the same array type, so numba compiles each kernel once.
    """
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    flat = []
    for a in arrays:
        if a.shape == shape and a.flags.c_contiguous and a.flags.writeable:
            flat.append(a.reshape(-1))
        else:
            full = np.empty(shape)
            full[...] = a
            flat.append(full.reshape(-1))
    return shape, flat


def call_sign(is_call: object) -> np.ndarray:
    """+1.0 for calls, -1.0 for puts.

    Accepts booleans (or numbers, non-zero = call) and the venues' strings "call"/"put", "c"/"p"
    (any case). Any other string is a programming error and raises ``ValueError``: silently
    treating "P" as truthy would price every put as a call.
    """
    flags = np.asarray(is_call)
    if flags.dtype.kind in "US":
        lowered = np.char.lower(flags.astype(str))
        calls = np.isin(lowered, ("c", "call"))
        if not np.all(calls | np.isin(lowered, ("p", "put"))):
            raise ValueError("option type strings must be 'call'/'put' or 'c'/'p'")
        return np.where(calls, 1.0, -1.0)
    return np.where(flags.astype(bool), 1.0, -1.0)
