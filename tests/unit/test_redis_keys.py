"""Timeline members: lexical order must be numeric order for every 63-bit id."""

from __future__ import annotations

import fnmatch
import random

from domain.ids import MAX_ID
from infra.redis_keys import ID_WIDTH, RedisKeys, member, post_id_of


def test_members_have_fixed_width_and_round_trip() -> None:
    for post_id in (1, 42, 10**17 + 3, MAX_ID - 1, MAX_ID):
        m = member(post_id)
        assert len(m) == ID_WIDTH == 19
        assert post_id_of(m) == post_id
        assert post_id_of(m.encode()) == post_id


def test_ids_near_2_pow_63_that_doubles_cannot_tell_apart_sort_exactly() -> None:
    ids = [MAX_ID - k for k in range(0, 4096, 3)]
    # as Redis scores (IEEE doubles) these collapse onto a handful of values
    assert len({float(i) for i in ids}) < len(ids) // 100
    members = [member(i) for i in ids]
    assert [post_id_of(m) for m in sorted(members)] == sorted(ids)
    assert len(set(members)) == len(ids)


def test_lexical_order_is_numeric_order_across_magnitudes() -> None:
    rng = random.Random(1234)
    ids = {rng.randrange(1, MAX_ID + 1) for _ in range(2000)}
    ids |= {1, 9, 10, 99, 100, 10**18 - 1, 10**18, MAX_ID}
    ids |= {rng.randrange(1, 10**k) for k in range(1, 19) for _ in range(5)}
    by_member = sorted(ids, key=member)
    assert by_member == sorted(ids)


def test_keys_live_under_the_prefix_and_rebuild_patterns_cover_timeline_keys() -> None:
    keys = RedisKeys("t1:")
    produced = [keys.home(5), keys.authored(5), keys.followers(5),
                keys.projection_position("timelines"), keys.revoked_session("abc")]
    assert all(k.startswith("t1:") for k in produced)
    assert len(set(produced)) == len(produced)
    assert keys.home(5) != keys.home(55) != RedisKeys("t2:").home(55)
    patterns = keys.timeline_patterns()
    assert all(p.startswith("t1:") for p in patterns)
    for owned in (keys.home(5), keys.authored(5), keys.followers(5)):
        assert any(fnmatch.fnmatchcase(owned, p) for p in patterns), owned
    # a rebuild must not wipe what is not the timeline projector's
    for other in (keys.revoked_session("abc"), RedisKeys("t2:").home(5)):
        assert not any(fnmatch.fnmatchcase(other, p) for p in patterns), other
