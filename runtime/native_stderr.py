"""Filter what native libraries print straight to file descriptor 2, which Python's sys.stderr cannot catch."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable


@contextlib.contextmanager
def native_stderr_without(is_noise: Callable[[str], bool]):
    """Capture native stderr during the block, then pass on every line for which `is_noise` is false.

    LiteRT and TensorFlow print informational lines from C++ on every model load, import and conversion, with
    no switch to silence them; they would break the CLI's one-line errors. Real warnings and errors still get
    through.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not is_noise(line):
                    print(line, file=sys.stderr)
