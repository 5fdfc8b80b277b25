#!/usr/bin/env python3
"""Writes python.safetensors, the file test_safetensors reads to check that nncl reads
what Python's safetensors package writes. Run from this directory:
    python3 make_python_safetensors.py   (needs: pip install safetensors numpy)
"""
import numpy as np
from safetensors.numpy import save_file

tensors = {
    "w": (np.arange(6, dtype=np.float32).reshape(2, 3) / 4 - 0.5),
    "b": np.array([1, -2, 3], dtype=np.int64),
    "u": np.arange(5, dtype=np.uint8) * 50,
    "s": np.array(7, dtype=np.int32),
    "h": np.array([1.5, -2.0], dtype=np.float16),
    "e": np.zeros((0, 3), dtype=np.float32),
    "caf\u00e9 \U0001F600": np.array([[1.0]], dtype=np.float64),
}
metadata = {
    "model": 'input shape=3\ndense units=2 name="fc \\"1\\""\n',
    "unicode": "\u00e9\u20ac\U0001F600",
    "ctl": "tab\there\x01",
}
save_file(tensors, "python.safetensors", metadata=metadata)
