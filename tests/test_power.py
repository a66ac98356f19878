"""training/power.py: the McNemar power simulation is seeded and behaves like power."""
from training.power import power


def test_power_grows_with_tasks_and_is_seeded():
    small, large = power(0.3, 0.5, 28, trials=400), power(0.3, 0.5, 200, trials=400)
    assert small < large
    assert large > 0.9
    assert power(0.3, 0.5, 60, trials=300) == power(0.3, 0.5, 60, trials=300)
    assert power(0.3, 0.3, 200, trials=400) < 0.1  # no effect: about alpha or less (the exact test is conservative)
