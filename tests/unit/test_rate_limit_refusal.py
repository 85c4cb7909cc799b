"""Which bucket a refused request's 429 and headers describe (``infra.rate_limiter``).

A request passes only when every bucket charged for it allows it, so the 429 must
name the refusal that lasts longest: a client that waits its ``Retry-After`` can then
pass, and the ``X-RateLimit-*`` headers (``tightest`` of everything the request was
charged, as the headers middleware picks them) describe the same bucket.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from infra.rate_limiter import Decision, LimitScope, refusal, tightest

decisions = st.builds(
    Decision, allowed=st.booleans(), limit=st.integers(1, 10**6),
    remaining=st.integers(0, 10**6), reset_s=st.floats(0, 10**6),
    retry_after_s=st.floats(0, 10**6))
charges = st.lists(st.tuples(st.sampled_from(["requests", "posts", "likes"]),
                             st.sampled_from(["account", "ip"]), decisions),
                   min_size=1, max_size=6)


def refused_row(answer: Decision, charged: list[tuple[str, LimitScope, Decision]]
                ) -> tuple[str, LimitScope, Decision]:
    return next(row for row in charged if row[2] is answer)


@given(charges)
def test_a_refusal_names_the_bucket_that_refuses_longest(
        charged: list[tuple[str, LimitScope, Decision]]) -> None:
    refused = refusal(charged)
    refusals = [row for row in charged if not row[2].allowed]
    if not refusals:
        assert refused is None
        return
    assert refused is not None
    longest = max(decision.retry_after_s for _, _, decision in refusals)
    assert refused.decision.retry_after_s == longest
    assert not refused.decision.allowed
    action, scope, _ = refused_row(refused.decision, charged)
    assert refused.details["action"] == action and refused.details["scope"] == scope


@given(charges)
def test_the_headers_describe_the_bucket_the_429_names(
        charged: list[tuple[str, LimitScope, Decision]]) -> None:
    refused = refusal(charged)
    headers = tightest([decision for _, _, decision in charged])
    if refused is None:
        assert headers.remaining == min(d.remaining for _, _, d in charged)
    else:
        assert headers is refused.decision
        assert refused.headers["X-RateLimit-Limit"] == str(headers.limit)


def test_a_short_refusal_beside_a_long_one_is_not_what_the_client_is_told() -> None:
    soon = Decision(False, 10, 0, reset_s=5, retry_after_s=1)
    late = Decision(False, 3, 0, reset_s=3000, retry_after_s=1200)
    refused = refusal([("requests", "account", soon), ("posts", "account", late)])
    assert refused is not None
    assert refused.headers["Retry-After"] == "1200"
    assert refused.details["action"] == "posts"
    assert tightest([soon, late]) is late
