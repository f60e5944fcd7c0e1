"""Qt and pyqtgraph run headless on this machine (the system libraries `make` installs)."""

import numpy as np


def test_a_plot_renders_offscreen(qtbot):
    import pyqtgraph as pg

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(320, 240)
    temperatures = np.linspace(2, 300, 200)
    widget.plot(temperatures, np.tanh((temperatures - 100) / 5), pen="r")
    widget.show()
    image = widget.grab().toImage()
    assert image.width() == 320 and image.height() == 240
    # something other than the background was drawn
    colours = {image.pixel(x, y) for x in range(0, 320, 8) for y in range(0, 240, 8)}
    assert len(colours) > 2
