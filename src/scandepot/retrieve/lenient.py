"""Reading stored instances as they are: values outside their VR's rules (a Short String
of 22 characters, as real scanners write) are sent as stored, not warned about.

pydicom checks values as it converts them, under one process-wide setting; this turns the
checks off while any retrieval reads values and back on when the last one is done (a
count under a lock: pydicom's own context manager restores the setting it found, which
threads running side by side would leave off for good).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pydicom import config

_lock = threading.Lock()
_inside = 0
_saved: tuple[int, int] = (config.WARN, config.RAISE)


@contextmanager
def lenient() -> Iterator[None]:
    global _inside, _saved
    with _lock:
        if _inside == 0:
            _saved = (
                config.settings.reading_validation_mode,
                config.settings.writing_validation_mode,
            )
            config.settings.reading_validation_mode = config.IGNORE
            config.settings.writing_validation_mode = config.IGNORE
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                config.settings.reading_validation_mode = _saved[0]
                config.settings.writing_validation_mode = _saved[1]
