"""Screenshots of the window, saved as PNG artefacts of the test run for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

SCREEN_SIZE = (1366, 768)  # the smallest screen the window is laid out for (a lab laptop)
SCREENSHOT_DIR = Path(os.environ.get("DACLAB_SCREENSHOTS", Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"))


def save_screenshot(widget, name: str) -> Path:
    """Grab ``widget`` as it is drawn now into ``SCREENSHOT_DIR/name.png`` and return the path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    if not widget.grab().save(str(path)):
        raise OSError(f"the screenshot {path} could not be written")
    return path
