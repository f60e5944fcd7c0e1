import math
import threading
import time

import pytest

from daclab import clock as clocks


def test_virtual_clock_advances_instantly_by_the_wait():
    clock = clocks.VirtualClock(start_epoch=1000.0)
    wall = time.perf_counter()
    clock.sleep(3600.0)
    assert time.perf_counter() - wall < 0.1
    assert clock.now() == 3600.0
    assert clock.timestamp() == 4600.0


def test_virtual_clock_with_speedup_sleeps_the_scaled_wall_time():
    clock = clocks.VirtualClock(speedup=100.0)
    wall = time.perf_counter()
    clock.sleep(5.0)
    assert 0.04 <= time.perf_counter() - wall < 1.0
    assert clock.now() == 5.0


def test_virtual_clock_refuses_bad_arguments():
    with pytest.raises(ValueError, match="speedup"):
        clocks.VirtualClock(speedup=0)
    with pytest.raises(ValueError, match="backwards"):
        clocks.VirtualClock().advance(-1)


def test_use_installs_the_process_clock_and_sleep_goes_through_it():
    clock = clocks.VirtualClock()
    previous = clocks.use(clock)
    try:
        clocks.sleep(12.5)
        assert clock.now() == 12.5
        assert clocks.current() is clock
    finally:
        clocks.use(previous)
    assert isinstance(clocks.current(), type(previous))


def test_virtual_clock_is_consistent_under_threads():
    clock = clocks.VirtualClock()
    threads = [threading.Thread(target=lambda: [clock.sleep(1.0) for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert math.isclose(clock.now(), 4000.0)


def test_poll_until_returns_the_first_true_value_and_waits_on_the_clock():
    clock = clocks.VirtualClock()
    previous = clocks.use(clock)
    try:
        replies = iter(["", "", "42"])
        assert clocks.poll_until(lambda: next(replies), timeout_s=10, interval_s=0.5,
                                 timed_out=lambda: TimeoutError("never")) == "42"
        assert clock.now() == 1.0
        with pytest.raises(TimeoutError, match="still busy at 3"):
            clocks.poll_until(lambda: False, timeout_s=2.0, interval_s=0.75,
                              timed_out=lambda: TimeoutError(f"still busy at {clock.now():g}"))
        assert clock.now() == 3.0  # the last wait is cut to the deadline
    finally:
        clocks.use(previous)


def test_own_time_moves_with_this_threads_waits_only():
    clock = clocks.VirtualClock()
    clock.sleep(5.0)
    other = threading.Thread(target=clock.sleep, args=(600.0,))
    other.start()
    other.join()
    assert clock.now() == pytest.approx(605.0)
    assert clock.own_time() == pytest.approx(5.0)  # the other thread's 600 s are not this thread's
    clock.sleep(1.0)
    assert clock.own_time() == pytest.approx(6.0)
    real = clocks.RealClock()
    before = real.own_time()
    real.sleep(0.01)
    assert real.own_time() - before >= 0.01
