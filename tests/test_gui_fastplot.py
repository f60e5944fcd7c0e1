"""LiveCurve: growing buffers, batched redraws, and a display reduced to the pixels that keeps
spikes, NaN breaks and the newest reading."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from daclab.gui.fastplot import INITIAL_CAPACITY, LiveCurve

MILLION = 1_000_000


@pytest.fixture
def plot_widget(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(600, 400)
    widget.show()
    qtbot.waitUntil(lambda: widget.getPlotItem().getViewBox().width() > 100)
    return widget


@pytest.fixture
def plot(plot_widget):
    return plot_widget.getPlotItem()


def shown(curve: LiveCurve) -> tuple[np.ndarray, np.ndarray]:
    """The points pyqtgraph draws for the curve now (after its own processing)."""
    x, y = curve.item.getData()
    return (np.empty(0), np.empty(0)) if x is None else (np.asarray(x), np.asarray(y))


def move_to_count(curve: LiveCurve) -> int:
    """Number of separate strokes in the drawn line (a NaN starts a new one)."""
    path = curve.item.curve.getPath()
    return sum(path.elementAt(i).isMoveTo() for i in range(path.elementCount()))


def contains_point(x: np.ndarray, y: np.ndarray, px: float, py: float) -> bool:
    return bool(np.any((x == px) & (y == py)))


def test_scalars_and_arrays_are_appended_in_order(plot):
    curve = LiveCurve(plot, pen="b")
    curve.append(1.0, 10.0)
    curve.append([2.0, 3.0], np.array([20.0, 30.0]))
    curve.append(np.float32(4.0), 40)
    assert len(curve) == 4
    np.testing.assert_array_equal(curve.x, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(curve.y, [10.0, 20.0, 30.0, 40.0])


def test_growth_past_the_initial_capacity_keeps_every_value(plot):
    rng = np.random.default_rng(7)
    xs, ys = [], []
    curve = LiveCurve(plot)
    while sum(map(len, xs)) < 5 * INITIAL_CAPACITY:
        n = int(rng.integers(1, 700))
        x, y = rng.normal(size=n), rng.normal(size=n)
        xs.append(x)
        ys.append(y)
        curve.append(x, y)
    np.testing.assert_array_equal(curve.x, np.concatenate(xs))
    np.testing.assert_array_equal(curve.y, np.concatenate(ys))


def test_a_shape_mismatch_names_both_sizes(plot):
    curve = LiveCurve(plot)
    with pytest.raises(ValueError, match=r"x has 3 values and y has 2"):
        curve.append([1, 2, 3], [1, 2])
    assert len(curve) == 0


def test_refresh_draws_only_when_something_changed(plot):
    curve = LiveCurve(plot, pen="b")
    assert curve.refresh() is False
    curve.append([1.0, 2.0], [3.0, 4.0])
    assert curve.refresh() is True
    assert curve.refresh() is False
    curve.append(3.0, 5.0)
    curve.append(4.0, 6.0)
    assert curve.refresh() is True
    assert curve.refresh() is False


def test_the_item_holds_exactly_the_data_after_refresh(plot):
    x = np.linspace(0.0, 10.0, 500)
    y = np.cos(x)
    curve = LiveCurve(plot, pen="b")
    curve.append(x[:200], y[:200])
    curve.refresh()
    curve.append(x[200:], y[200:])
    held_x, _ = curve.item.getOriginalDataset()
    assert len(held_x) == 200  # nothing drawn before the refresh
    curve.refresh()
    held_x, held_y = curve.item.getOriginalDataset()
    np.testing.assert_array_equal(held_x, x)
    np.testing.assert_array_equal(held_y, y)
    drawn_x, drawn_y = shown(curve)  # fewer points than pixels: nothing is reduced
    np.testing.assert_array_equal(drawn_x, x)
    np.testing.assert_array_equal(drawn_y, y)


def test_a_nan_breaks_the_line(plot):
    curve = LiveCurve(plot, pen="b")
    curve.append([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, np.nan, 4.0, 5.0, 6.0])
    curve.refresh()
    assert move_to_count(curve) == 2
    curve.set_data([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    assert move_to_count(curve) == 1


def test_a_curve_of_nan_only_draws_nothing_until_a_real_reading_comes(plot):
    curve = LiveCurve(plot, pen=None, symbol="o")
    curve.append([1.0, 2.0], [np.nan, np.nan])  # e.g. fits that found nothing yet
    curve.refresh()
    assert curve.item.getData() == (None, None)
    np.testing.assert_array_equal(curve.y, [np.nan, np.nan])  # kept all the same
    curve.append(3.0, 4.0)
    curve.refresh()
    x, y = shown(curve)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, [np.nan, np.nan, 4.0])


def test_a_million_points_are_drawn_as_a_few_per_pixel_and_keep_a_spike(plot):
    time_s = np.linspace(0.0, 43_200.0, MILLION)  # an overnight run
    resistance = 1.0 + 1e-3 * np.sin(time_s / 600.0)
    spike_at = 612_345
    resistance[spike_at] = 7.5
    resistance[spike_at + 2] = -3.0
    curve = LiveCurve(plot, pen="b")
    curve.append(time_s, resistance)
    curve.refresh()

    x, y = shown(curve)
    width_px = plot.getViewBox().width()
    assert 0 < len(x) <= 8 * width_px  # a few points per pixel column instead of 10^6
    assert contains_point(x, y, time_s[spike_at], 7.5)
    assert contains_point(x, y, time_s[spike_at + 2], -3.0)
    assert x[0] <= time_s[2000] and x[-1] == time_s[-1]  # the whole run, up to the last reading


def test_zoomed_in_only_the_points_around_the_view_are_drawn(plot):
    time_s = np.linspace(0.0, 10_000.0, MILLION)
    rng = np.random.default_rng(1)
    resistance = 2.0 + rng.normal(0.0, 1e-3, MILLION)
    spike_at = int(np.searchsorted(time_s, 4050.0))
    resistance[spike_at] = 9.0
    resistance[spike_at + 1] = -9.0
    curve = LiveCurve(plot, pen="b")
    curve.append(time_s, resistance)
    curve.refresh()
    plot.setXRange(4000.0, 4100.0, padding=0.0)  # 10^4 of the 10^6 points

    x, y = shown(curve)
    visible = np.count_nonzero((time_s >= 4000.0) & (time_s <= 4100.0))
    width_px = plot.getViewBox().width()
    assert visible > 8 * width_px  # more readings than pixels in view...
    assert len(x) <= 8 * width_px  # ...reduced to a few per pixel column, not only clipped
    assert contains_point(x, y, time_s[spike_at], 9.0)
    assert contains_point(x, y, time_s[spike_at + 1], -9.0)
    bin_width_s = (time_s[1] - time_s[0]) * visible / width_px  # a generous bound on a bin
    assert x.min() >= 4000.0 - bin_width_s and x.max() <= 4100.0 + bin_width_s
    assert x.min() <= 4000.0 and x.max() >= 4100.0  # the line reaches both edges

    plot.enableAutoRange(x=True)
    plot.getViewBox().updateAutoRange()
    x, _ = shown(curve)
    assert x.min() < 100.0 and x.max() == time_s[-1]  # zoomed out again: the whole run


def test_a_cooldown_zoomed_on_the_transition_is_clipped_to_the_view(plot):
    # falling, noisy temperature: bisection would find nothing, the curve must still be drawn
    rng = np.random.default_rng(3)
    temperature = np.linspace(300.0, 2.0, MILLION) + rng.normal(0.0, 0.01, MILLION)
    resistance = 0.5 * (1.0 + np.tanh((temperature - 172.0) / 1.5))
    curve = LiveCurve(plot, pen="b")
    curve.append(temperature, resistance)
    curve.refresh()
    plot.setXRange(170.0, 173.0, padding=0.0)

    x, y = shown(curve)
    inside = (temperature >= 170.0) & (temperature <= 173.0)
    assert 0 < len(x) < np.count_nonzero(inside)
    assert x.min() <= 170.05 and x.max() >= 172.95
    assert x.min() > 169.5 and x.max() < 173.5  # the rest of the sweep is left out
    # the lowest and highest reading inside the view are drawn, nothing from far outside it
    assert y.min() <= resistance[inside].min() and y.max() >= resistance[inside].max()
    near = (temperature >= 169.5) & (temperature <= 173.5)
    assert y.min() >= resistance[near].min() and y.max() <= resistance[near].max()


def test_the_newest_reading_is_drawn_at_once(plot):
    curve = LiveCurve(plot, pen="b")
    x = np.arange(MILLION, dtype=float)
    curve.append(x, np.zeros(MILLION))
    curve.refresh()
    for k, value in enumerate((5.0, -2.0, 3.0)):
        curve.append(MILLION + k, value)
        curve.refresh()
        drawn_x, drawn_y = shown(curve)
        assert drawn_x[-1] == MILLION + k and drawn_y[-1] == value


def test_a_nan_among_a_million_points_still_breaks_the_line(plot):
    curve = LiveCurve(plot, pen="b")
    y = np.ones(MILLION)
    y[400_000] = np.nan
    curve.append(np.arange(MILLION, dtype=float), y)
    curve.refresh()
    assert move_to_count(curve) == 2


def test_log_x_zoom_finds_the_slice_in_data_units(plot):
    frequency = np.logspace(0.0, 6.0, 600_000)
    curve = LiveCurve(plot, pen="b")
    curve.append(frequency, np.log(frequency))
    curve.refresh()
    plot.setLogMode(x=True, y=False)
    plot.setXRange(2.0, 3.0, padding=0.0)  # 100 Hz to 1 kHz

    log_x, _ = shown(curve)  # pyqtgraph hands back the mapped (decade) values
    assert 0 < len(log_x) < np.count_nonzero((frequency >= 100.0) & (frequency <= 1000.0))
    assert log_x.min() <= 2.0 and log_x.max() >= 3.0
    assert log_x.min() > 1.99 and log_x.max() < 3.01


def test_a_derivative_from_the_menu_is_taken_on_every_reading(plot):
    x = np.arange(100_000, dtype=float)
    curve = LiveCurve(plot, pen="b")
    curve.append(x, x**2)
    curve.refresh()
    assert len(shown(curve)[0]) < len(x)  # reduced for display...
    curve.item.setDerivativeMode(True)  # what the plot's "dy/dx" menu entry calls
    drawn_x, slope = shown(curve)
    np.testing.assert_array_equal(drawn_x, x[:-1])  # ...but differentiated on all readings
    np.testing.assert_allclose(slope, 2.0 * x[:-1] + 1.0)  # (x+1)^2 - x^2
    curve.item.setDerivativeMode(False)
    assert len(shown(curve)[0]) < len(x)


def test_clear_and_set_data(plot):
    curve = LiveCurve(plot, pen="b")
    curve.append([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    curve.refresh()
    curve.clear()
    assert len(curve) == 0 and curve.x.size == 0
    assert curve.refresh() is True
    assert curve.item.getData() == (None, None)

    curve.set_data([7.0, 8.0], [9.0, 10.0])  # replaces and draws at once
    assert curve.refresh() is False
    np.testing.assert_array_equal(shown(curve)[0], [7.0, 8.0])
    np.testing.assert_array_equal(shown(curve)[1], [9.0, 10.0])
    curve.set_data([1.0], [2.0])
    np.testing.assert_array_equal(curve.x, [1.0])


def test_remove_takes_the_curve_off_the_plot(plot):
    curve = LiveCurve(plot, name="R", pen="b")
    other = LiveCurve(plot, name="fit", pen="r")
    curve.append(np.arange(10.0), np.arange(10.0))
    curve.refresh()
    curve.remove()
    assert curve.item not in plot.items and other.item in plot.items
    plot.setXRange(2.0, 3.0)  # the view keeps working without the removed curve


def test_symbols_only_curve_draws_points_and_no_line(plot):
    curve = LiveCurve(plot, pen=None, symbol="o", symbol_size=6, brush="r")
    curve.append([1.0, 2.0], [3.0, 4.0])
    curve.refresh()
    assert curve.item.opts["pen"] is None and curve.item.opts["symbol"] == "o"
    assert len(curve.item.scatter.data) == 2
