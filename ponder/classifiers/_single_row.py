"""Raw scores of one row from a LightGBM booster through its C API's single-row fast path.

A routing decision predicts one row. ``Booster.predict`` spends ~60 us on that, nearly all
of it in Python (argument checks, array conversions, a predictor set up per call), which
is a quarter of a short prompt's decision. LightGBM ships a C entry point for exactly this
case (``LGBM_BoosterPredictForMatSingleRowFast``): its configuration is parsed once, and a
call costs a few microseconds. The Python package does not wrap it, so it is reached
through the package's own loaded library (``lightgbm.basic._LIB``).

Anything unexpected (another LightGBM build, a missing symbol, an error code) turns the
fast path off for that booster and :func:`raw_score_one` returns None, so the caller falls
back to ``Booster.predict``; ``tests/classifiers/test_single_row.py`` holds the two equal.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

import numpy as np
import numpy.typing as npt

_PREDICT_RAW_SCORE = 1  # C_API_PREDICT_RAW_SCORE
_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}  # C_API_DTYPE_FLOAT32 / 64

_lock = threading.Lock()  # one FastConfig holds one output buffer: calls take turns
_configs: weakref.WeakKeyDictionary[Any, dict[tuple[int, int, int], Any]] = (
    weakref.WeakKeyDictionary()
)
_broken: weakref.WeakSet[Any] = weakref.WeakSet()


def _library() -> Any:
    from lightgbm import basic

    return basic._LIB


def _config(booster: Any, dtype: int, ncol: int, num_iteration: int) -> Any:
    per_booster = _configs.get(booster)
    if per_booster is None:
        per_booster = _configs[booster] = {}
    key = (dtype, ncol, num_iteration)
    handle = per_booster.get(key)
    if handle is None:
        lib = _library()
        handle = ctypes.c_void_p()
        status = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,
            ctypes.c_int(_PREDICT_RAW_SCORE),
            ctypes.c_int(0),
            ctypes.c_int(num_iteration),
            ctypes.c_int(dtype),
            ctypes.c_int32(ncol),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(handle),
        )
        if status != 0:
            raise RuntimeError("LGBM_BoosterPredictForMatSingleRowFastInit failed")
        per_booster[key] = handle
        weakref.finalize(booster, lib.LGBM_FastConfigFree, handle)
    return handle


def raw_score_one(booster: Any, row: npt.NDArray[Any], num_iteration: int = 0) -> float | None:
    """The booster's raw score of one feature row (1-D, float32 or float64, C-contiguous),
    using the first ``num_iteration`` trees (0: all); None when the fast path is not
    available for this booster."""
    dtype = _DTYPES.get(row.dtype)
    if dtype is None or row.ndim != 1 or booster in _broken:
        return None
    data = np.ascontiguousarray(row)
    out = np.zeros(1, dtype=np.float64)
    out_len = ctypes.c_int64(0)
    try:
        with _lock:
            handle = _config(booster, dtype, int(data.shape[0]), int(num_iteration))
            status = _library().LGBM_BoosterPredictForMatSingleRowFast(
                handle,
                data.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(out_len),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            )
    except (AttributeError, RuntimeError, TypeError, ValueError, ctypes.ArgumentError):
        _broken.add(booster)
        return None
    if status != 0 or out_len.value != 1:
        _broken.add(booster)
        return None
    return float(out[0])
