"""Sort keys of ordered gold queries and the tie groups they leave open."""
from __future__ import annotations

from env_server.core.order_keys import keyed_query, tie_groups


def test_keys_that_are_output_columns_are_read_off_the_rows():
    keyed = keyed_query("SELECT name, SUM(x) AS total FROM t GROUP BY name ORDER BY total DESC, 1")
    assert keyed is not None and keyed.extra == 0 and keyed.positions == (1, 0)


def test_keys_that_are_not_output_columns_are_appended():
    keyed = keyed_query("SELECT name FROM t ORDER BY price DESC, id")
    assert keyed is not None and keyed.extra == 2 and keyed.positions == (1, 2)
    assert "__dataops_key_0" in keyed.sql and "__dataops_key_1" in keyed.sql


def test_unordered_distinct_star_and_unparseable_give_no_keys():
    assert keyed_query("SELECT name FROM t") is None
    assert keyed_query("SELECT DISTINCT name FROM t ORDER BY price") is None
    assert keyed_query("SELECT * FROM t ORDER BY price") is None
    assert keyed_query("SELECT (((") is None


def test_equal_keys_and_float_noise_tie_but_an_exact_tiebreaker_does_not():
    assert tie_groups([(2.0, 1), (2.0, 2), (1.0, 3)], 1e-6, 1e-6) == ()  # ties broken by id
    assert tie_groups([(2.0,), (2.0,), (1.0,)], 1e-6, 1e-6) == ((0, 2),)
    # the order of 43.62 and 43.61999999999999 was decided by float noise, not by the data
    assert tie_groups([(43.62, 2), (43.61999999999999, 1), (10.0, 3)], 1e-6, 1e-6) == ((0, 2),)
    assert tie_groups([(5,), (4,), (3,)], 1e-6, 1e-6) == ()
