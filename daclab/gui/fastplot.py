"""Curves that stay fluid with millions of points: data are appended, never re-plotted.

A :class:`LiveCurve` keeps its points in numpy buffers that grow by doubling, so adding a point
costs nothing, and a redraw hands pyqtgraph either a view of the buffers (no copy) or the
extremes of the bins described below. Redraws are batched: ``append`` marks the curve stale and ``refresh`` (called by a timer of the view, ~10 per
second) draws once for any number of new points.

What is drawn stays proportional to the pixels, not to the points:

* peak decimation: consecutive readings are grouped into bins and each bin is drawn as its lowest
  and highest point, in the order they were measured, so that a one-point spike in an overnight
  R(T) survives with its true position. The bin size follows from the number of points in view
  and the view's width in pixels (``BINS_PER_PIXEL`` bins per pixel column); bins sit at fixed
  multiples of their size, complete ones are kept, and a refresh only computes the new ones, so
  a redraw costs the pixels, not the points. pyqtgraph's own automatic downsampling assumes
  evenly spaced x (it goes wrong for a sweep that comes back to where it started, a cooldown
  followed by a warm-up, where the mean x step is ~0), drops the newest readings that do not
  fill a bin, and scans every point at each redraw; it is switched off on the item.
* clipping to the view: while x follows the data (autorange) the whole run is drawn; once the
  user zooms in x, only the slice from the first to the last point inside the view is handed
  over (a y axis left on autorange then fits the visible part). The curve finds that slice itself (bisection while x never decreases, a mask otherwise), because
  pyqtgraph's ``clipToView`` bisects in any case, which is meaningless on a cooldown (falling
  temperature) or an I-V loop.
* switching a transform in the plot's context menu (FFT, dy/dx, subtract mean, phase map) hands
  pyqtgraph every reading again, since those are computed from the whole sequence; log x maps
  the view back to data units to find the slice.
* a NaN (a failed reading) breaks the line there (``connect="finite"``); the finiteness test of
  the drawn points is skipped while no NaN was ever appended.

``PlotItem.addItem`` imposes the plot's context-menu settings (no decimation, no clipping) on every
data item it receives: options given to the item before (:func:`fast_item_options`) are lost and
must be set again after adding it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

INITIAL_CAPACITY = 1024
# Peak bins per pixel column of the view: each bin is drawn as two points (its min and max), so
# about 4 points per column, plenty for a line of one pixel width.
BINS_PER_PIXEL = 2
# A new decimation factor is applied only when it differs from the current one by more than this
# fraction: a growing curve would otherwise change it (and recompute its display) at every tick.
DECIMATION_HYSTERESIS = 0.25
# Upper bound of the bins handed to pyqtgraph when the slice holds many points outside the view.
MAX_BINS_PER_PIXEL = 16
# A curve this short is handed over whole even when zoomed (slicing would gain nothing).
FULL_SLICE_POINTS = 20_000


def fast_item_options() -> dict:
    """PlotDataItem options that keep a redraw proportional to the pixels, not to the points.

    Set them on the item after ``PlotItem.addItem`` (which resets decimation and clipping to the
    plot's menu), e.g. ``item.setDownsampling(auto=True, method="peak"); item.setClipToView(True)``;
    clipping is only correct when x never decreases.
    """
    return {"clipToView": True, "autoDownsample": True, "downsampleMethod": "peak", "connect": "finite"}


class _LiveDataItem(pg.PlotDataItem):
    """A PlotDataItem that tells its curve when a transform of the plot's context menu (log x,
    FFT, dy/dx, ...) is switched: those need the readings as they are, not the reduced view."""

    on_transform_changed = None  # set by the LiveCurve once it is ready

    def _transform_changed(self) -> None:
        if self.on_transform_changed is not None:
            self.on_transform_changed()

    def setLogMode(self, xState: bool, yState: bool):
        super().setLogMode(xState, yState)
        self._transform_changed()

    def setFftMode(self, state: bool):
        super().setFftMode(state)
        self._transform_changed()

    def setSubtractMeanMode(self, state: bool):
        super().setSubtractMeanMode(state)
        self._transform_changed()

    def setDerivativeMode(self, state: bool):
        super().setDerivativeMode(state)
        self._transform_changed()

    def setPhasemapMode(self, state: bool):
        super().setPhasemapMode(state)
        self._transform_changed()


# PlotDataItem options under which pyqtgraph computes from the whole sequence of readings
WHOLE_DATA_TRANSFORMS = ("fftMode", "subtractMeanMode", "derivativeMode", "phasemapMode")


class LiveCurve:
    """One growing curve on a pyqtgraph PlotItem.

    ``append(x, y)`` takes scalars or arrays; ``set_data`` replaces everything (a re-plot of a
    finished run); ``refresh()`` draws if something changed and says whether it did. With
    ``pen=None`` and a ``symbol`` only the points are drawn; with neither, a default line.
    """

    def __init__(self, plot: pg.PlotItem, name: str | None = None, pen=None, symbol: str | None = None,
                 symbol_size: int = 5, brush=None):
        self.plot = plot
        options: dict = {"connect": "finite"}
        if pen is not None or symbol is not None:  # else pyqtgraph's default line
            options["pen"] = pen
        if symbol is not None:
            options.update(symbol=symbol, symbolSize=symbol_size, symbolBrush=brush, symbolPen=None)
        self.item = _LiveDataItem(name=name, **options)
        plot.addItem(self.item)
        self.item.setDownsampling(ds=1, auto=False, method="peak")
        self.item.setClipToView(False)
        self._new_buffers()
        self._stale = False
        self._shown = (0, 0, 1)  # (start, stop, readings per bin) handed to the item
        self._decimation_in_use = 1
        self.item.on_transform_changed = lambda: self._show(force=True)
        self._view = self.item.getViewBox()
        if self._view is not None:
            # zooming or resizing changes how many points share a pixel column
            self._view.sigXRangeChanged.connect(self._on_view_changed)
            self._view.sigResized.connect(self._on_view_changed)

    def _new_buffers(self) -> None:
        # fresh arrays rather than overwriting: the item keeps views of the old ones until the
        # next refresh and must not see them change under it
        self._x = np.empty(INITIAL_CAPACITY)
        self._y = np.empty(INITIAL_CAPACITY)
        self._count = 0
        self._x_increasing = True
        self._all_finite = True
        self._any_finite = False  # a curve of NaN only has nothing to draw
        self._bins_size, self._bins_x, self._bins_y = 0, np.empty(0), np.empty(0)

    def __len__(self) -> int:
        return self._count

    @property
    def x(self) -> np.ndarray:
        return self._x[:self._count]

    @property
    def y(self) -> np.ndarray:
        return self._y[:self._count]

    def append(self, x, y) -> None:
        x = np.atleast_1d(np.asarray(x, dtype=float))
        y = np.atleast_1d(np.asarray(y, dtype=float))
        if x.shape != y.shape:
            raise ValueError(f"x has {x.size} values and y has {y.size}; a curve needs pairs")
        x, y = x.ravel(), y.ravel()
        if x.size == 0:
            return
        end = self._count + x.size
        if end > self._x.size:
            capacity = max(end, 2 * self._x.size)
            self._x = _grown(self._x, self._count, capacity)
            self._y = _grown(self._y, self._count, capacity)
        if self._x_increasing:
            previous = self._x[self._count - 1] if self._count else -np.inf
            # comparisons with NaN are False: a NaN in x also ends clipping
            self._x_increasing = bool(x[0] >= previous and np.all(x[1:] >= x[:-1]))
        finite = np.isfinite(x) & np.isfinite(y)
        self._all_finite = self._all_finite and bool(finite.all())
        self._any_finite = self._any_finite or bool(finite.any())
        self._x[self._count:end] = x
        self._y[self._count:end] = y
        self._count = end
        self._stale = True

    def set_data(self, x, y) -> None:
        self.clear()
        self.append(x, y)
        self.refresh()

    def clear(self) -> None:
        self._new_buffers()
        self._stale = True

    def refresh(self) -> bool:
        if not self._stale:
            return False
        self._stale = False
        self._show(force=True)
        return True

    def remove(self) -> None:
        self.item.on_transform_changed = None
        if self._view is not None:
            self._view.sigXRangeChanged.disconnect(self._on_view_changed)
            self._view.sigResized.disconnect(self._on_view_changed)
            self._view = None
        self.plot.removeItem(self.item)

    def _on_view_changed(self, *_) -> None:
        self._show(force=False)

    def _show(self, force: bool) -> None:
        """Hand the item the points around the view, reduced to a few per pixel column."""
        if not self._any_finite:
            start, stop, decimation = 0, 0, 1
        elif any(self.item.opts[transform] for transform in WHOLE_DATA_TRANSFORMS):
            start, stop, decimation = 0, self._count, 1
        else:
            start, stop, in_view = self._window()
            decimation = self._decimation(in_view, stop - start)
        if not force and (start, stop, decimation) == self._shown:
            return
        self._shown = (start, stop, decimation)
        self._decimation_in_use = decimation
        if decimation == 1:
            x, y = self._x[start:stop], self._y[start:stop]
        else:
            x, y = self._peaks(start, stop, decimation)
        self.item.setSkipFiniteCheck(self._all_finite)
        self.item.setData(x, y)

    def _peaks(self, start: int, stop: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The lowest and highest point of every bin of ``size`` readings between start and stop.

        Bins sit at fixed multiples of ``size`` so that they do not shift as points arrive; the
        complete ones are kept (only new bins are computed at a refresh) and the last, partial
        bin is added each time, followed by the last reading, so that the line ends on it.
        """
        if size != self._bins_size:
            self._bins_size, self._bins_x, self._bins_y = size, np.empty(0), np.empty(0)
        done = self._bins_x.size // 2
        complete = stop // size
        if complete > done:
            x, y = _bin_extremes(self._x[done * size:complete * size], self._y[done * size:complete * size], size)
            self._bins_x = np.concatenate((self._bins_x, x))
            self._bins_y = np.concatenate((self._bins_y, y))
        first_bin = start // size
        tail = slice(complete * size, stop)
        tail_x, tail_y = _bin_extremes(self._x[tail], self._y[tail], stop - complete * size)
        # the line ends on the newest reading, wherever it lies within its bin
        newest = slice(stop - 1, stop)
        if tail_x.size and tail_x[-1] == self._x[stop - 1] and tail_y[-1] == self._y[stop - 1]:
            newest = slice(stop, stop)  # it is the last extreme already
        return (np.concatenate((self._bins_x[2 * first_bin:2 * complete], tail_x, self._x[newest])),
                np.concatenate((self._bins_y[2 * first_bin:2 * complete], tail_y, self._y[newest])))

    def _window(self) -> tuple[int, int, int]:
        """(start, stop) of the points to hand over and how many of them are inside the view.

        With x following the data, everything; when zoomed, from the first to the last point
        inside the view plus one on each side, so that the line runs on to the edges.
        """
        count = self._count
        if self._view is None or self._view.autoRangeEnabled()[0]:
            return 0, count, count
        left, right = self._view.viewRange()[0]
        if self.item.opts["logMode"][0]:  # the view is in decades
            left, right = 10.0 ** left, 10.0 ** right
        x = self.x
        if self._x_increasing:
            first = int(np.searchsorted(x, left, "left"))
            last = int(np.searchsorted(x, right, "right"))
            in_view = last - first
        else:
            inside = (x >= left) & (x <= right)  # False for NaN
            in_view = int(np.count_nonzero(inside))
            if in_view == 0:
                # nothing inside, but a segment may still cross the view: keep everything
                return 0, count, 0
            first = int(np.argmax(inside))
            last = count - int(np.argmax(inside[::-1]))
        if count <= FULL_SLICE_POINTS:
            return 0, count, in_view
        return max(first - 1, 0), min(last + 1, count), in_view

    def _decimation(self, in_view: int, handed: int) -> int:
        """Readings per bin: points in view / (BINS_PER_PIXEL x view width in pixels), and no more
        than MAX_BINS_PER_PIXEL bins per pixel over the whole slice (an I-V loop or a cooldown and
        warm-up put points outside the view between the first and last one inside)."""
        current = self._decimation_in_use
        width_px = self._view.width() if self._view is not None else 0.0
        if not width_px > 0:
            return current if handed else 1  # not laid out yet: keep what was chosen
        wanted = max(1, int(in_view // (BINS_PER_PIXEL * width_px)), int(handed // (MAX_BINS_PER_PIXEL * width_px)))
        if wanted > 1 and current > 1 and abs(wanted - current) <= DECIMATION_HYSTERESIS * current:
            return current
        return wanted


def _bin_extremes(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """For each run of ``size`` consecutive points, the point of lowest and of highest y, in the
    order they were measured (a bin holding a NaN gives its NaN: the line breaks there)."""
    if x.size == 0:
        return x, y
    if x.size < size:
        size = x.size  # the partial last bin
    rows = y.reshape(-1, size)
    offsets = np.arange(rows.shape[0]) * size
    low = np.argmin(rows, axis=1) + offsets
    high = np.argmax(rows, axis=1) + offsets
    order = np.empty(2 * rows.shape[0], dtype=np.intp)
    order[0::2] = np.minimum(low, high)
    order[1::2] = np.maximum(low, high)
    return x[order], y[order]


def _grown(buffer: np.ndarray, used: int, capacity: int) -> np.ndarray:
    grown = np.empty(capacity)
    grown[:used] = buffer[:used]
    return grown
