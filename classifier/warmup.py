"""The first shape pass in a process costs seconds that later ones do not: the meta
kernels written in Python and every torch dispatch mode (the FLOP counter's) are wrapped
by ``torch._disable_dynamo``, which imports ``torch._dynamo`` on its first call, and
that import alone is seconds of CPU. It cannot be avoided on the meta device, so the app
pays it once, at start, in a background thread: the first model a user opens then costs
what any later one does, and nothing waits for the warm-up unless it needs torch first.
It lives outside :mod:`classifier.analysis` so that importing it imports no torch: the
thread does that too.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_thread: threading.Thread | None = None


def start_warm_up() -> threading.Thread:
    """Start the warm-up in a daemon thread, once per process; return that thread.
    Cheap to call on every page run: later calls return the first thread."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_warm_up, name="analysis-warm-up", daemon=True)
            _thread.start()
        return _thread


def _warm_up() -> None:
    """Analyse a tiny net that runs the ops every net starts with (convolution, pooling,
    a residual sum, a linear layer), importing what their first call imports."""
    from torch import nn

    from classifier.analysis.summary import analyze

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(self.pool(x + self.conv(x)).flatten(1))

    analyze(Tiny(), (3, 8, 8))
