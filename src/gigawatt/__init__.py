"""Gigawatt: sell a GPU fleet as an AI cloud.

Three parts share one core: the economics engine (:mod:`gigawatt.economics`),
the live control plane (``gigawatt serve``) and the digital twin (:mod:`gigawatt.sim`).

The scheduler and the twin's event loop may run compiled (mypyc); :mod:`gigawatt.native`
decides, before they are first imported, whether the compiled build or the sources run.
"""

from gigawatt.native import install_guard as _install_guard

__version__ = "0.1.0"

#: ``"compiled"`` or ``"pure"``: which build of the hot path this process imports.
NATIVE_BUILD = _install_guard()
