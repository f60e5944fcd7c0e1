"""Curves that stay fluid with millions of points: data are appended, never re-plotted.

A :class:`LiveCurve` keeps its points in numpy buffers that grow by doubling, so adding a point
costs nothing and a redraw hands pyqtgraph views of the buffers without copying. The item
draws only what is in view (``clipToView``) and at most about one point pair per screen pixel
(``autoDownsample`` with the "peak" method, which keeps each pixel column's minimum and maximum
so that a spike in an overnight R(T) does not vanish). Redraws are batched: ``append`` marks the
curve stale and ``refresh`` (called by a timer of the view, ~10 per second) draws once for any
number of new points.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

INITIAL_CAPACITY = 1024


def fast_item_options() -> dict:
    """PlotDataItem options that keep a redraw proportional to the pixels, not to the points."""
    return {"clipToView": True, "autoDownsample": True, "downsampleMethod": "peak", "connect": "finite"}


class LiveCurve:
    """One growing curve on a pyqtgraph PlotItem.

    ``append(x, y)`` takes scalars or arrays; ``set_data`` replaces everything (a re-plot of a
    finished run); ``refresh()`` draws if something changed and says whether it did.
    """

    def __init__(self, plot: pg.PlotItem, name: str | None = None, pen=None, symbol: str | None = None,
                 symbol_size: int = 5, brush=None):
        self.plot = plot
        options = fast_item_options()
        if symbol is not None:
            options.update(symbol=symbol, symbolSize=symbol_size, symbolBrush=brush, symbolPen=None)
        self.item = pg.PlotDataItem(name=name, pen=pen, **options)
        plot.addItem(self.item)
        self._x = np.empty(INITIAL_CAPACITY)
        self._y = np.empty(INITIAL_CAPACITY)
        self._count = 0
        self._stale = False

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
        end = self._count + x.size
        if end > self._x.size:
            capacity = max(end, 2 * self._x.size)
            self._x = np.resize(self._x, capacity)
            self._y = np.resize(self._y, capacity)
        self._x[self._count:end] = x
        self._y[self._count:end] = y
        self._count = end
        self._stale = True

    def set_data(self, x, y) -> None:
        self.clear()
        self.append(x, y)
        self.refresh()

    def clear(self) -> None:
        self._count = 0
        self._stale = True

    def refresh(self) -> bool:
        if not self._stale:
            return False
        self.item.setData(self.x, self.y)
        self._stale = False
        return True

    def remove(self) -> None:
        self.plot.removeItem(self.item)
