"""RollingZScore: exact window statistics, masks, drift, restart from history."""

from __future__ import annotations

import numpy as np
import pytest

from tui_trader.rating.zscore import RollingZScore


def window_stats(hist: list[list[float]], window: int):
    """Reference: per symbol, numpy mean / population std of its last `window` finite values."""
    h = np.array(hist, dtype=float)
    n = h.shape[1]
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    cnt = np.zeros(n, dtype=int)
    win = []
    for i in range(n):
        col = h[:, i]
        vals = col[np.isfinite(col)][-window:]
        win.append(vals)
        cnt[i] = len(vals)
        if len(vals):
            mean[i] = vals.mean()
            std[i] = vals.std()
    return mean, std, cnt, win


def test_matches_numpy_over_the_window_on_random_data():
    rng = np.random.default_rng(1)
    n, w = 7, 12
    zs = RollingZScore(n, w, min_history=3)
    hist = []
    for t in range(100):
        x = rng.normal(1500.0, 40.0, n)
        hist.append(x.tolist())
        z, mean, std = zs.update(x)
        m_ref, s_ref, c_ref, win = window_stats(hist, w)
        np.testing.assert_allclose(mean, m_ref, rtol=1e-13)
        np.testing.assert_allclose(std, s_ref, rtol=1e-9)
        np.testing.assert_array_equal(zs.count, c_ref)
        if t + 1 >= 3:
            np.testing.assert_allclose(z, (x - m_ref) / s_ref, rtol=1e-8, atol=1e-12)
        else:
            np.testing.assert_array_equal(z, 0.0)
        for i in (0, n - 1):
            np.testing.assert_array_equal(zs.values_ordered(i), win[i])


def test_z_is_of_the_current_value_against_the_window_including_it():
    zs = RollingZScore(1, 4, min_history=2)
    for v in (1.0, 2.0, 3.0):
        zs.update(np.array([v]))
    z, mean, std = zs.update(np.array([10.0]))
    vals = np.array([1.0, 2.0, 3.0, 10.0])
    assert mean[0] == pytest.approx(vals.mean())
    assert std[0] == pytest.approx(vals.std(ddof=0))
    assert z[0] == pytest.approx((10.0 - vals.mean()) / vals.std())
    # the window then drops the oldest value
    z, mean, _ = zs.update(np.array([4.0]))
    assert mean[0] == pytest.approx(np.mean([2.0, 3.0, 10.0, 4.0]))
    np.testing.assert_array_equal(zs.values_ordered(0), [2.0, 3.0, 10.0, 4.0])


def test_z_zero_with_little_history_or_constant_window_never_nan():
    zs = RollingZScore(3, 5)  # default min_history = min(window, 20) = 5
    assert zs.min_history == 5
    for t in range(4):
        z, _, _ = zs.update(np.array([float(t), 7.0, 1e12]))
        np.testing.assert_array_equal(z, 0.0)  # count < 5
    z, _, std = zs.update(np.array([4.0, 7.0, 1e12]))
    assert z[0] != 0.0 and np.isfinite(z[0])
    assert z[1] == 0.0 and std[1] == 0.0  # constant window: std 0 -> z 0
    assert z[2] == 0.0 and std[2] == 0.0
    assert RollingZScore(2, 100).min_history == 20


def test_masked_symbols_keep_their_state_and_previous_z():
    rng = np.random.default_rng(5)
    n, w = 4, 6
    zs = RollingZScore(n, w, min_history=2)
    hist = []
    last_z = np.zeros(n)
    for t in range(60):
        x = rng.normal(100.0, 5.0, n)
        mask = rng.random(n) < 0.6
        if t == 30:
            mask[:] = False
        before = (zs.mean.copy(), zs.std.copy(), zs.count.copy())
        z, mean, std = zs.update(x, mask)
        hist.append(np.where(mask, x, np.nan).tolist())
        m_ref, s_ref, c_ref, _ = window_stats(hist, w)
        np.testing.assert_allclose(mean, m_ref, rtol=1e-13)
        np.testing.assert_allclose(std, s_ref, rtol=1e-9)
        np.testing.assert_array_equal(zs.count, c_ref)
        # the updated symbols' z: of the new value against its window, from the 2nd value on
        with np.errstate(invalid="ignore", divide="ignore"):
            z_ref = np.where(c_ref >= 2, (x - m_ref) / s_ref, 0.0)
        np.testing.assert_allclose(z[mask], z_ref[mask], rtol=1e-9, atol=1e-12)
        off = ~mask
        np.testing.assert_array_equal(z[off], last_z[off])
        np.testing.assert_array_equal(mean[off], before[0][off])
        np.testing.assert_array_equal(zs.count[off], before[2][off])
        last_z = z


def test_nan_values_count_as_no_new_value():
    zs = RollingZScore(2, 3, min_history=2)
    zs.update(np.array([1.0, 1.0]))
    zs.update(np.array([np.nan, 2.0]))
    np.testing.assert_array_equal(zs.count, [1, 2])
    np.testing.assert_array_equal(zs.values_ordered(0), [1.0])


def test_no_drift_after_a_million_updates_with_a_large_offset():
    rng = np.random.default_rng(11)
    n, w, steps = 50, 64, 20_000  # 10^6 symbol updates
    zs = RollingZScore(n, w, min_history=2)
    # a large offset plus level jumps of 1e5 every 500 steps: running sums kept around
    # an old reference point lose ~1e-2 of the std here unless they are re-based exactly
    level = 1e9 + 1e5 * (np.arange(steps) // 500)
    data = level[:, None] + np.cumsum(rng.normal(0.0, 1.0, (steps, n)), axis=0)
    for t in range(steps):
        z, mean, std = zs.update(data[t])
    win = data[-w:].astype(np.longdouble)  # extended-precision reference
    m_ref = win.mean(axis=0)
    s_ref = np.sqrt(((win - m_ref) ** 2).mean(axis=0))
    np.testing.assert_allclose(mean, m_ref.astype(float), rtol=0, atol=1e-6)  # ulp(1e9) ~ 1.2e-7
    np.testing.assert_allclose(std, s_ref.astype(float), rtol=1e-10)
    z_ref = ((win[-1] - m_ref) / s_ref).astype(float)
    np.testing.assert_allclose(z, z_ref, rtol=0, atol=1e-9)


def test_load_equals_sequential_updates():
    rng = np.random.default_rng(3)
    n, w, t_len = 5, 8, 40
    hist = rng.normal(1500.0, 30.0, (t_len, n))
    hist[rng.random((t_len, n)) < 0.3] = np.nan
    hist[:, 4] = np.nan
    hist[-3, 4] = 1500.0  # one lone value
    seq = RollingZScore(n, w, min_history=3)
    for row in hist:
        seq.update(row, np.isfinite(row))
    loaded = RollingZScore(n, w, min_history=3)
    loaded.update(np.full(n, 42.0))  # stale state is discarded by load()
    loaded.load(hist)
    np.testing.assert_array_equal(loaded.count, seq.count)
    np.testing.assert_allclose(loaded.mean, seq.mean, rtol=1e-13)
    np.testing.assert_allclose(loaded.std, seq.std, rtol=1e-9)
    np.testing.assert_allclose(loaded.z, seq.z, rtol=1e-8, atol=1e-12)
    for i in range(n):
        np.testing.assert_array_equal(loaded.values_ordered(i), seq.values_ordered(i))
    # and both continue identically
    nxt = rng.normal(1500.0, 30.0, n)
    a = loaded.update(nxt)
    b = seq.update(nxt)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-12)


def test_attributes_are_read_only_and_results_are_copies():
    zs = RollingZScore(2, 3)
    z, mean, _ = zs.update(np.array([1.0, 2.0]))
    mean[0] = 99.0
    assert zs.mean[0] == 1.0
    with pytest.raises(ValueError):
        zs.z[0] = 1.0


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((3, 1), {}), ((3, 0), {}), ((-1, 5), {}), ((3, 5), {"min_history": 1}), ((3, 5), {"min_history": 6})],
)
def test_bad_construction_raises(args, kwargs):
    with pytest.raises(ValueError):
        RollingZScore(*args, **kwargs)


def test_bad_update_and_load_raise():
    zs = RollingZScore(3, 4)
    with pytest.raises(ValueError, match="shape"):
        zs.update(np.zeros(2))
    with pytest.raises(ValueError, match="mask"):
        zs.update(np.zeros(3), np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="history"):
        zs.load(np.zeros((5, 2)))
    with pytest.raises(IndexError):
        zs.values_ordered(3)
