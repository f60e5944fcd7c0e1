"""Screenshots of the window, saved as PNG artefacts of the test run for a person to look at, and
the window on the simulated lab for the tests that drive it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

SCREEN_SIZE = (1366, 768)  # the smallest screen the window is laid out for (a lab laptop)
SCREENSHOT_DIR = Path(os.environ.get("DACLAB_SCREENSHOTS", Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"))


def save_screenshot(widget, name: str) -> Path:
    """Grab ``widget`` as it is drawn now into ``SCREENSHOT_DIR/name.png`` and return the path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    if not widget.grab().save(str(path)):
        raise OSError(f"the screenshot {path} could not be written")
    return path


@contextlib.contextmanager
def simulated_window(data_root: Path) -> Iterator:
    """The window on the simulated lab (CeH9 cell-1 at 120 K), shown at SCREEN_SIZE, shut down and
    its lab closed afterwards."""
    from daclab.gui.main_window import MainWindow
    from daclab.lab import Lab

    lab = Lab.open("simulated", sample="ceh9_cell1", start_K=120.0, seed=3)
    main = MainWindow(lab, data_root, lab_file="simulated")
    main.resize(*SCREEN_SIZE)
    main.show()
    try:
        yield main
    finally:
        main.shutdown()
        main.close()
        lab.close()
