"""Every problem of grid_service has its title in zh-CN and English."""

from shared.testing import assert_problem_texts


def test_every_problem_class_has_both_titles() -> None:
    classes = assert_problem_texts("grid_service")
    assert all(c.__module__.startswith("grid_service") for c in classes)
