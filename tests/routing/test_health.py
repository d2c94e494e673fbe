"""HealthRecord as a pure state machine: every transition is driven by an explicit ``now``
(no sleeping, no real clock), and every expected number is worked out by hand."""

from __future__ import annotations

import pytest

from llama_router.ratelimits import RateLimitInfo
from llama_router.routing.filters import Healthy
from llama_router.state.health import HealthConfig, HealthRecord, HealthSnapshot

from .helpers import T0, make_candidate, make_context


def fresh(**config: float) -> HealthRecord:
    return HealthRecord(HealthConfig(**config))  # type: ignore[arg-type]


def fail(record: HealthRecord, now: float, times: int = 1, error: str = "ProviderError") -> None:
    for _ in range(times):
        record.record_failure(now, error, counts_against_health=True, cooldown=None)


def succeed(record: HealthRecord, now: float, times: int = 1, ttft: float | None = None) -> None:
    for _ in range(times):
        record.record_success(now, ttft=ttft)


def rate_limited(record: HealthRecord, now: float, cooldown: float | None) -> None:
    record.record_failure(now, "RateLimitedError", counts_against_health=False, cooldown=cooldown)


def open_circuit(record: HealthRecord, now: float) -> None:
    fail(record, now, times=record.config.failure_threshold)
    assert record.snapshot(now).circuit == "open"


# -- a fresh record ------------------------------------------------------------------------


def test_fresh_record_knows_nothing_and_is_available() -> None:
    snap = fresh().snapshot(T0)
    assert snap == HealthSnapshot()
    assert snap.samples == 0
    assert snap.ttft_ewma is None
    assert snap.ttft_p95 is None
    assert snap.success_rate is None
    assert snap.circuit == "closed"
    assert snap.available(T0)


def test_default_config_matches_the_documented_tuning() -> None:
    cfg = HealthConfig()
    assert cfg.ewma_alpha == 0.2
    assert cfg.failure_threshold == 5
    assert cfg.failure_rate == 0.5
    assert cfg.min_calls == 20
    assert cfg.open_for == 30.0
    assert cfg.quota_low_fraction == 0.05


# -- latency statistics --------------------------------------------------------------------


def test_ttft_ewma_with_alpha_one_fifth() -> None:
    record = fresh()
    record.record_success(T0, ttft=1.0)
    assert record.snapshot(T0).ttft_ewma == pytest.approx(1.0)  # the first sample as is
    record.record_success(T0 + 1, ttft=0.5)
    # 0.2 * 0.5 + 0.8 * 1.0 = 0.9
    assert record.snapshot(T0 + 1).ttft_ewma == pytest.approx(0.9)
    record.record_success(T0 + 2, ttft=2.0)
    # 0.2 * 2.0 + 0.8 * 0.9 = 0.4 + 0.72 = 1.12
    snap = record.snapshot(T0 + 2)
    assert snap.ttft_ewma == pytest.approx(1.12)
    assert snap.samples == 3
    assert snap.successes == 3


def test_tokens_per_second_ewma() -> None:
    record = fresh()
    record.record_success(T0, ttft=0.1, output_tokens=100, generation_s=1.0)  # 100 tok/s
    assert record.snapshot(T0).tps_ewma == pytest.approx(100.0)
    record.record_success(T0, ttft=0.1, output_tokens=400, generation_s=2.0)  # 200 tok/s
    # 0.2 * 200 + 0.8 * 100 = 120
    assert record.snapshot(T0).tps_ewma == pytest.approx(120.0)
    record.record_success(T0, ttft=0.1, output_tokens=25, generation_s=0.5)  # 50 tok/s
    # 0.2 * 50 + 0.8 * 120 = 10 + 96 = 106
    assert record.snapshot(T0).tps_ewma == pytest.approx(106.0)


def test_success_without_measurements_counts_but_adds_no_sample() -> None:
    record = fresh()
    record.record_success(T0, ttft=0.4, output_tokens=100, generation_s=1.0)
    record.record_success(T0, ttft=None)  # no TTFT measured
    record.record_success(T0, ttft=None, output_tokens=0, generation_s=3.0)  # nothing generated
    record.record_success(T0, ttft=None, output_tokens=50, generation_s=None)  # no timing
    snap = record.snapshot(T0)
    assert snap.successes == 4
    assert snap.samples == 1
    assert snap.ttft_ewma == pytest.approx(0.4)
    assert snap.tps_ewma == pytest.approx(100.0)


def test_ttft_percentiles_over_a_small_bounded_window() -> None:
    record = fresh(latency_window=5)
    for ttft in (10.0, 20.0, 30.0, 40.0, 50.0):
        record.record_success(T0, ttft=ttft)
    snap = record.snapshot(T0)
    # sorted [10..50], last index 4: p50 = [round(2.0)] = 30, p95 = [round(3.8)] = 50
    assert (snap.ttft_p50, snap.ttft_p95) == (30.0, 50.0)

    for ttft in (1.0, 2.0, 3.0):
        record.record_success(T0, ttft=ttft)
    snap = record.snapshot(T0)
    # 10, 20, 30 evicted: window [40, 50, 1, 2, 3] -> sorted [1, 2, 3, 40, 50]
    assert (snap.ttft_p50, snap.ttft_p95) == (3.0, 50.0)

    for ttft in (4.0, 5.0):
        record.record_success(T0, ttft=ttft)
    snap = record.snapshot(T0)
    # 40 and 50 evicted: window [1, 2, 3, 4, 5]
    assert (snap.ttft_p50, snap.ttft_p95) == (3.0, 5.0)
    assert snap.samples == 10  # the sample count is not bounded by the window


def test_ttft_percentiles_over_the_default_window_of_100() -> None:
    record = fresh()
    for i in range(1, 121):
        record.record_success(T0, ttft=float(i))
    snap = record.snapshot(T0)
    # window holds 21..120 (100 values, value = 21 + sorted index); last index 99:
    # p50 -> index round(49.5) = 50 -> 71; p95 -> index round(94.05) = 94 -> 115
    assert snap.ttft_p50 == 71.0
    assert snap.ttft_p95 == 115.0


def test_success_rate_over_the_bounded_outcome_window() -> None:
    record = fresh()
    # S S S F repeated 15 times: 60 outcomes, 45 S and 15 F, never 2 failures in a row.
    for i in range(60):
        if i % 4 == 3:
            fail(record, T0 + i)
        else:
            succeed(record, T0 + i)
    snap = record.snapshot(T0 + 60)
    assert (snap.successes, snap.failures) == (45, 15)
    # the window keeps outcomes 10..59; failures at 11, 15, ..., 59 -> 13 of 50
    assert snap.success_rate == pytest.approx(37 / 50)
    assert snap.circuit == "closed"


def test_rate_limit_failures_do_not_count_as_outcomes() -> None:
    record = fresh()
    succeed(record, T0, times=3)
    fail(record, T0)
    rate_limited(record, T0, cooldown=None)
    rate_limited(record, T0, cooldown=None)
    snap = record.snapshot(T0)
    assert snap.success_rate == pytest.approx(3 / 4)
    assert snap.failures == 1
    assert snap.consecutive_failures == 1
    assert snap.last_error == "RateLimitedError"


# -- circuit breaker: opening ------------------------------------------------------------------


def test_four_consecutive_failures_keep_the_circuit_closed_the_fifth_opens_it() -> None:
    record = fresh()
    fail(record, T0, times=4)
    snap = record.snapshot(T0)
    assert snap.circuit == "closed"
    assert snap.consecutive_failures == 4
    assert snap.available(T0)

    fail(record, T0 + 2, error="ProviderUnavailableError")
    snap = record.snapshot(T0 + 2)
    assert snap.circuit == "open"
    assert snap.consecutive_failures == 5
    assert snap.available_at == pytest.approx(T0 + 2 + 30.0)
    assert not snap.available(T0 + 2)
    assert snap.last_error == "ProviderUnavailableError"


def test_a_success_resets_the_consecutive_count() -> None:
    record = fresh()
    fail(record, T0, times=4)
    succeed(record, T0)
    fail(record, T0, times=4)
    snap = record.snapshot(T0)
    assert snap.circuit == "closed"
    assert snap.consecutive_failures == 4
    assert snap.failures == 8


def test_failure_rate_opens_only_once_min_calls_outcomes_are_known() -> None:
    record = fresh()
    # (F F F F S) x 3 then F F F: 18 outcomes, 15 failures (83 %), but fewer than 20
    for _ in range(3):
        fail(record, T0, times=4)
        succeed(record, T0)
    fail(record, T0, times=3)
    assert record.snapshot(T0).circuit == "closed"
    succeed(record, T0)  # 19 outcomes
    fail(record, T0 + 1)  # 20 outcomes, 16 failures, only 1 in a row
    snap = record.snapshot(T0 + 1)
    assert snap.consecutive_failures == 1
    assert snap.circuit == "open"
    assert snap.available_at == pytest.approx(T0 + 1 + 30.0)


def test_failure_rate_of_exactly_one_half_opens() -> None:
    record = fresh()
    for _ in range(10):  # S F x 10: the 20th outcome is the 10th failure -> 10/20
        succeed(record, T0)
        fail(record, T0)
    assert record.snapshot(T0).circuit == "open"


def test_failure_rate_just_under_one_half_stays_closed() -> None:
    record = fresh()
    succeed(record, T0)
    for _ in range(10):  # S (S F) x 10: 21 outcomes, 10 failures -> 0.476
        succeed(record, T0)
        fail(record, T0)
    snap = record.snapshot(T0)
    assert snap.circuit == "closed"
    assert snap.success_rate == pytest.approx(11 / 21)
    fail(record, T0)  # 22 outcomes, 11 failures -> 0.5
    assert record.snapshot(T0).circuit == "open"


# -- circuit breaker: open, half-open, probe -------------------------------------------------


def test_open_circuit_is_unavailable_until_open_for_has_passed() -> None:
    record = fresh()
    open_circuit(record, T0)
    for now in (T0, T0 + 10, T0 + 29.9):
        snap = record.snapshot(now)
        assert snap.circuit == "open"
        assert not snap.available(now)
        assert not record.try_probe(now)
    snap = record.snapshot(T0 + 30)
    assert snap.circuit == "half_open"
    assert snap.available(T0 + 30)
    assert not snap.probe_in_flight


def test_half_open_grants_exactly_one_probe() -> None:
    record = fresh()
    open_circuit(record, T0)
    assert record.try_probe(T0 + 30) is True
    assert record.try_probe(T0 + 30) is False
    assert record.try_probe(T0 + 45) is False  # still in flight, later
    snap = record.snapshot(T0 + 45)
    assert snap.circuit == "half_open"
    assert snap.probe_in_flight
    assert not snap.available(T0 + 45)


def test_try_probe_is_always_granted_while_closed() -> None:
    record = fresh()
    assert all(record.try_probe(T0) for _ in range(5))
    assert not record.snapshot(T0).probe_in_flight


def test_probe_success_closes_the_circuit_and_resets_open_for() -> None:
    record = fresh()
    open_circuit(record, T0)
    assert record.try_probe(T0 + 30)
    fail(record, T0 + 31)  # probe fails: open for 60 s
    assert record.try_probe(T0 + 91)
    record.record_success(T0 + 92, ttft=0.3)
    snap = record.snapshot(T0 + 92)
    assert snap.circuit == "closed"
    assert snap.consecutive_failures == 0
    assert not snap.probe_in_flight
    assert snap.available(T0 + 92)
    assert snap.loaded is True

    # open again: back to 30 s, not 120 s
    fail(record, T0 + 100, times=5)
    snap = record.snapshot(T0 + 100)
    assert snap.circuit == "open"
    assert snap.available_at == pytest.approx(T0 + 130)


def test_probe_failure_reopens_for_twice_as_long() -> None:
    record = fresh()
    open_circuit(record, T0)
    assert record.try_probe(T0 + 30)
    fail(record, T0 + 32)
    snap = record.snapshot(T0 + 32)
    assert snap.circuit == "open"
    assert not snap.probe_in_flight
    assert snap.available_at == pytest.approx(T0 + 32 + 60)
    assert record.snapshot(T0 + 91.9).circuit == "open"
    assert not record.try_probe(T0 + 91.9)
    assert record.snapshot(T0 + 92).circuit == "half_open"

    assert record.try_probe(T0 + 92)
    fail(record, T0 + 92)  # again: 120 s
    assert record.snapshot(T0 + 92).available_at == pytest.approx(T0 + 92 + 120)


def test_open_time_doubling_is_capped_at_max_open_for() -> None:
    record = fresh(open_for=30.0, max_open_for=100.0)
    now = T0
    open_circuit(record, now)
    expected = [60.0, 100.0, 100.0]  # 30 -> 60 -> 120 capped to 100 -> stays 100
    for open_for in expected:
        now = record.snapshot(now).available_at
        assert record.try_probe(now)
        fail(record, now)
        assert record.snapshot(now).available_at == pytest.approx(now + open_for)


def test_release_probe_gives_the_probe_back() -> None:
    record = fresh()
    open_circuit(record, T0)
    assert record.try_probe(T0 + 30)
    record.release_probe()
    snap = record.snapshot(T0 + 30)
    assert snap.circuit == "half_open"
    assert not snap.probe_in_flight
    assert snap.available(T0 + 30)
    assert record.try_probe(T0 + 30)  # can be claimed again
    assert not record.try_probe(T0 + 30)


def test_release_probe_without_a_probe_changes_nothing() -> None:
    record = fresh()
    before = record.snapshot(T0)
    record.release_probe()
    assert record.snapshot(T0) is before


def test_healthy_filter_over_real_snapshots() -> None:
    record = fresh()
    open_circuit(record, T0)
    healthy = Healthy()

    def verdict(now: float) -> str | None:
        cand = make_candidate("a", health=record.snapshot(now))
        return healthy.reject(make_context([cand], now=now), cand)

    assert verdict(T0 + 10) == "circuit open for 20.0 s more (ProviderError)"
    assert verdict(T0 + 30) is None  # half-open: the probe may go
    assert record.try_probe(T0 + 30)
    assert verdict(T0 + 30) == "half-open: its one probe request is in flight"


# -- rate limits: cooldown, never the circuit -------------------------------------------------


def test_rate_limits_never_open_the_circuit() -> None:
    record = fresh()
    for i in range(30):
        rate_limited(record, T0 + i, cooldown=None)
    snap = record.snapshot(T0 + 30)
    assert snap.circuit == "closed"
    assert snap.consecutive_failures == 0
    assert snap.failures == 0
    assert snap.available(T0 + 30)  # no cooldown given, so none applied here


def test_retry_after_cooldown_keeps_it_out_exactly_that_long() -> None:
    record = fresh()
    rate_limited(record, T0, cooldown=30.0)
    snap = record.snapshot(T0)
    assert snap.circuit == "closed"
    assert snap.available_at == pytest.approx(T0 + 30)
    assert not record.snapshot(T0 + 29.9).available(T0 + 29.9)
    assert record.snapshot(T0 + 30).available(T0 + 30)

    cand = make_candidate("a", health=record.snapshot(T0 + 10))
    reason = Healthy().reject(make_context([cand], now=T0 + 10), cand)
    assert reason == "cooling down for 20.0 s more (RateLimitedError)"


def test_cooldown_is_capped_at_max_cooldown() -> None:
    record = fresh()
    rate_limited(record, T0, cooldown=7200.0)
    assert record.snapshot(T0).available_at == pytest.approx(T0 + 3600.0)
    capped = fresh(max_cooldown=120.0)
    rate_limited(capped, T0, cooldown=7200.0)
    assert capped.snapshot(T0).available_at == pytest.approx(T0 + 120.0)


def test_a_shorter_later_cooldown_does_not_shorten_an_earlier_one() -> None:
    record = fresh()
    rate_limited(record, T0, cooldown=60.0)
    rate_limited(record, T0 + 10, cooldown=5.0)
    assert record.snapshot(T0 + 10).available_at == pytest.approx(T0 + 60)
    rate_limited(record, T0 + 20, cooldown=50.0)
    assert record.snapshot(T0 + 20).available_at == pytest.approx(T0 + 70)


def test_zero_or_negative_cooldown_is_ignored() -> None:
    record = fresh()
    rate_limited(record, T0, cooldown=0.0)
    rate_limited(record, T0, cooldown=-5.0)
    assert record.snapshot(T0).available(T0)


def test_cooldown_outlasting_the_open_circuit_keeps_it_out() -> None:
    record = fresh()
    fail(record, T0, times=4)
    record.record_failure(T0, "AuthenticationError", counts_against_health=True, cooldown=300.0)
    snap = record.snapshot(T0)
    assert snap.circuit == "open"
    assert snap.available_at == pytest.approx(T0 + 300)  # max(open 30 s, cooldown 300 s)
    snap = record.snapshot(T0 + 30)
    assert snap.circuit == "half_open"
    assert not snap.available(T0 + 30)  # still cooling down
    assert snap.available(T0 + 300)


def test_rate_limited_probe_frees_the_probe_without_reopening() -> None:
    record = fresh()
    open_circuit(record, T0)
    assert record.try_probe(T0 + 30)
    rate_limited(record, T0 + 30, cooldown=5.0)
    snap = record.snapshot(T0 + 30)
    assert snap.circuit == "half_open"
    assert not snap.probe_in_flight
    assert snap.available_at == pytest.approx(T0 + 35)
    assert record.try_probe(T0 + 35)


# -- quota ----------------------------------------------------------------------------------


def test_quota_low_until_the_requests_reset_passes() -> None:
    record = fresh()
    record.observe_rate_limits(
        T0, RateLimitInfo(limit_requests=1000, remaining_requests=50, reset_requests=20.0)
    )  # 50 <= 5 % of 1000
    assert record.snapshot(T0).quota_low
    assert record.snapshot(T0 + 19.9).quota_low
    assert not record.snapshot(T0 + 20).quota_low
    assert record.snapshot(T0 + 20).available(T0 + 20)  # quota_low never blocks


def test_quota_above_five_percent_is_not_low() -> None:
    record = fresh()
    record.observe_rate_limits(
        T0,
        RateLimitInfo(
            limit_requests=1000,
            remaining_requests=51,
            reset_requests=20.0,
            limit_tokens=6000,
            remaining_tokens=301,
            reset_tokens=5.0,
        ),
    )
    assert not record.snapshot(T0).quota_low


def test_quota_without_limit_or_remaining_is_not_low() -> None:
    record = fresh()
    record.observe_rate_limits(T0, RateLimitInfo(remaining_requests=0, reset_requests=20.0))
    record.observe_rate_limits(T0, RateLimitInfo(limit_tokens=6000, reset_tokens=20.0))
    record.observe_rate_limits(T0, RateLimitInfo())
    assert not record.snapshot(T0).quota_low


def test_token_quota_without_reset_is_low_for_a_minute() -> None:
    record = fresh()
    record.observe_rate_limits(T0, RateLimitInfo(limit_tokens=6000, remaining_tokens=300))
    assert record.snapshot(T0 + 59.9).quota_low
    assert not record.snapshot(T0 + 60).quota_low


def test_success_with_rate_limit_headers_marks_quota_low() -> None:
    record = fresh()
    record.record_success(
        T0,
        ttft=0.2,
        rate_limits=RateLimitInfo(limit_tokens=6000, remaining_tokens=0, reset_tokens=7.66),
    )
    assert record.snapshot(T0 + 7.6).quota_low
    assert not record.snapshot(T0 + 7.7).quota_low


# -- snapshot caching ------------------------------------------------------------------------


def test_snapshot_is_cached_until_something_changes() -> None:
    record = fresh()
    record.record_success(T0, ttft=0.5)
    first = record.snapshot(T0)
    assert record.snapshot(T0) is first
    assert record.snapshot(T0 + 100) is first  # time alone changes nothing here
    record.record_success(T0 + 100, ttft=1.0)
    second = record.snapshot(T0 + 100)
    assert second is not first
    assert second.samples == 2
    assert first.samples == 1  # the old snapshot is frozen
    assert record.snapshot(T0 + 101) is second


def test_snapshot_reflects_the_quota_reset_passing() -> None:
    record = fresh()
    record.observe_rate_limits(
        T0, RateLimitInfo(limit_requests=100, remaining_requests=1, reset_requests=20.0)
    )
    low = record.snapshot(T0 + 1)
    assert low.quota_low
    assert record.snapshot(T0 + 2) is low
    reset = record.snapshot(T0 + 20)
    assert reset is not low
    assert not reset.quota_low
    assert record.snapshot(T0 + 21) is reset


def test_snapshot_reflects_open_turning_half_open() -> None:
    record = fresh()
    open_circuit(record, T0)
    opened = record.snapshot(T0 + 1)
    assert record.snapshot(T0 + 10) is opened
    half = record.snapshot(T0 + 30)
    assert half is not opened
    assert half.circuit == "half_open"
    assert opened.circuit == "open"


def test_set_loaded_changes_the_snapshot_only_when_it_changes() -> None:
    record = fresh()
    first = record.snapshot(T0)
    assert first.loaded is None
    record.set_loaded(None)
    assert record.snapshot(T0) is first
    record.set_loaded(False)
    cold = record.snapshot(T0)
    assert cold is not first
    assert cold.loaded is False
    record.record_success(T0, ttft=2.0)  # a success means the model is loaded now
    assert record.snapshot(T0).loaded is True


# -- HealthSnapshot.available --------------------------------------------------------------


@pytest.mark.parametrize(
    ("snapshot", "now", "expected"),
    [
        (HealthSnapshot(), 0.0, True),
        (HealthSnapshot(available_at=T0 + 1), T0, False),
        (HealthSnapshot(available_at=T0), T0, True),
        (HealthSnapshot(circuit="half_open"), T0, True),
        (HealthSnapshot(circuit="half_open", probe_in_flight=True), T0, False),
        (HealthSnapshot(circuit="open", available_at=T0 + 5), T0, False),
    ],
)
def test_snapshot_available(snapshot: HealthSnapshot, now: float, expected: bool) -> None:
    assert snapshot.available(now) is expected


def test_retry_after_on_a_success_deprioritises_for_that_long_without_blocking() -> None:
    record = fresh()
    record.record_success(T0, ttft=0.2, rate_limits=RateLimitInfo(retry_after=2.0))
    snap = record.snapshot(T0 + 1.9)
    assert snap.quota_low
    assert snap.available(T0 + 1.9)  # advisory: never a cooldown
    assert not record.snapshot(T0 + 2.0).quota_low


def test_retry_after_on_a_success_is_capped_and_zero_does_nothing() -> None:
    record = fresh()
    record.observe_rate_limits(T0, RateLimitInfo(retry_after=0.0))
    assert not record.snapshot(T0).quota_low
    cap = record.config.max_cooldown
    record.observe_rate_limits(T0, RateLimitInfo(retry_after=cap * 10))
    assert record.snapshot(T0 + cap - 1).quota_low
    assert not record.snapshot(T0 + cap).quota_low
