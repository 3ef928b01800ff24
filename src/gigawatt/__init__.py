"""Gigawatt: sell a GPU fleet as an AI cloud.

Three parts share one core: the economics engine (:mod:`gigawatt.economics`),
the live control plane (``gigawatt serve``) and the digital twin (:mod:`gigawatt.sim`).
"""

__version__ = "0.1.0"
