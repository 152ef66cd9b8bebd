"""A bug costs only its exercise: when exercise B's reference calls exercise A, B is graded with A's
calls answered by the grader (the reference's result, as data), not by the student's A.

The oracle is course.toml's points: the full solution earns every point, so with a broken
log_softmax_t and a renamed kl_divergence every exercise that calls them (cross_entropy, kd_loss,
hard_label_kd_loss, js_divergence, probability_loyalty) must keep all its points, and the two broken
ones must lose theirs. The same submission graded without the rule loses points downstream: the
test can fail.
"""

from __future__ import annotations

import pytest

from labgrader import grade as G
from labgrader.grade import grade_submission, upstream_answers

BROKEN_LOG_SOFTMAX = '''
def log_softmax_t(logits, T=1.0):
    return np.zeros_like(np.asarray(logits, dtype=np.float64))  # wrong everywhere
'''
RENAMED_KL = '''
def kl_div(p, q):  # renamed: the notebook no longer defines kl_divergence
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0).sum(axis=-1)
'''
DOWNSTREAM = ("cross_entropy", "kd_loss", "hard_label_kd_loss", "js_divergence", "probability_loyalty")


def test_dependencies_are_read_from_the_reference(lab01):
    deps = {ex: sorted(names) for ex, names in upstream_answers(lab01).items() if names}
    assert deps == {"js_divergence": ["kl_divergence"], "cross_entropy": ["log_softmax_t"],
                    "kd_loss": ["cross_entropy", "log_softmax_t"], "hard_label_kd_loss": ["cross_entropy"],
                    "probability_loyalty": ["js_divergence"], "majority_vote_bounds": ["majority_vote_accuracy"]}


@pytest.fixture(scope="module")
def broken(tmp_path_factory, course, lab01, submission_maker):
    path = tmp_path_factory.mktemp("cascade") / "broken.ipynb"
    return submission_maker(path, lab01, course, {"log_softmax_t": BROKEN_LOG_SOFTMAX, "kl_divergence": RENAMED_KL},
                            from_solution=True)


def test_a_broken_upstream_exercise_leaves_its_dependents_points(course, lab01, broken):
    r = grade_submission(course, lab01, broken, profile="quick")
    scores = {k: e["score"] for k, e in r["extra_data"]["exercises"].items()}
    points = {e.id: e.points for e in lab01.exercises}
    assert scores["log_softmax_t"] < points["log_softmax_t"]
    assert scores["kl_divergence"] == 0 and r["extra_data"]["exercises"]["kl_divergence"]["summary"] == "not defined"
    for ex in DOWNSTREAM:
        assert scores[ex] == points[ex], (ex, r["output"])
    # the exercises nobody calls are untouched too
    assert scores["softmax_t"] == points["softmax_t"]


def test_without_the_rule_the_bug_cascades(course, lab01, broken, monkeypatch):
    monkeypatch.setattr(G, "upstream_answers", lambda lab: {})
    r = grade_submission(course, lab01, broken, profile="quick")
    scores = {k: e["score"] for k, e in r["extra_data"]["exercises"].items()}
    assert scores["cross_entropy"] < 10 and scores["js_divergence"] < 10
