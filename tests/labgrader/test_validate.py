"""`course validate` on a small subset (one exercise), so CI keeps the machinery honest.

The full run is `course validate lab01` (about 2 minutes on 2 cores); its figures are in the README.
"""

from __future__ import annotations

from labgrader import validate as V
from labgrader.cli import main


def test_one_exercise_kills_every_non_equivalent_mutant(course, lab01):
    report = V.validate_lab(course, lab01, exercises=["cross_entropy"], examples=30, jobs=1, alternatives=False)
    (ex,) = report.exercises
    assert len(ex.results) >= 8
    assert ex.survivors == [], V.format_report(report)
    assert report.kill_rate == 1.0
    assert report.feedback_share >= 0.95
    assert not report.stale_equivalents and not report.killed_but_listed
    # Every killed mutant's feedback names a property and (where there is one) a small counterexample.
    for r in ex.results:
        if r.killed and r.by not in ("timeout", "error"):
            assert r.output.startswith("Property: cross_entropy")


def test_weak_checks_let_mutants_survive_and_the_report_shows_their_diff(course, lab01, monkeypatch):
    """With only the 'uniform logits' check, most cross_entropy mutants survive: the score must say so."""
    import labgrader.grade as G

    real = G.lab_checks

    def weak(lab):
        checks = real(lab)
        checks["cross_entropy"] = [c for c in checks["cross_entropy"] if c.name == "uniform_logits_give_log_c"]
        return checks

    monkeypatch.setattr(V, "lab_checks", weak)
    report = V.validate_lab(course, lab01, exercises=["cross_entropy"], examples=20, jobs=1, alternatives=False)
    assert report.kill_rate < 0.95
    text = V.format_report(report)
    assert "survivor cross_entropy/" in text and "--- reference" in text and "+++ mutant" in text


def test_stale_and_killed_equivalents_are_reported(course, lab01, tmp_path):
    from labgrader.mutation import mutants

    killable = next(m.id for m in mutants("cross_entropy", lab01.exercise("cross_entropy").load_reference())
                    if m.id.startswith("call:mean->sum"))
    f = tmp_path / "eq.toml"
    f.write_text(
        '[[equivalent]]\nlab = "lab01"\nexercise = "cross_entropy"\nmutant = "arith:99:0:gone"\nreason = "x"\n'
        f'[[equivalent]]\nlab = "lab01"\nexercise = "cross_entropy"\nmutant = "{killable}"\nreason = "wrong"\n'
    )
    report = V.validate_lab(course, lab01, exercises=["cross_entropy"], examples=20, jobs=1, alternatives=False,
                            equivalents_path=f)
    assert report.stale_equivalents == ["cross_entropy/arith:99:0:gone"]
    assert report.killed_but_listed == [f"cross_entropy/{killable}"]
    text = V.format_report(report)
    assert "stale entry" in text and "listed as equivalent but killed" in text


def test_cli_validate_subset_exit_code(capsys):
    assert main(["validate", "lab01", "--exercise", "cross_entropy", "--examples", "20", "--jobs", "1",
                 "--no-alternatives"]) == 0
    out = capsys.readouterr().out
    assert "cross_entropy" in out and "kill rate" in out and "feedback that teaches" in out
    assert main(["validate", "lab01", "--exercise", "nope"]) == 2


def test_public_kill_rate_counts_only_mutants_a_public_check_kills(course, lab01, monkeypatch):
    """Hidden-only checks kill mutants the self-check cannot see: the public share must drop to 0 with
    the public checks removed, and equal the share recomputed from each mutant's failing checks."""
    import labgrader.grade as G

    full = V.validate_lab(course, lab01, exercises=["cross_entropy"], examples=20, jobs=1, alternatives=False)
    killed = [r for r in full.exercises[0].counted if r.killed]
    public = {c.name for c in G.lab_checks(lab01)["cross_entropy"] if c.public}
    assert public, "cross_entropy has public checks"
    assert 0 < full.public_kill_rate <= 1
    assert full.public_kill_rate == sum(r.public for r in killed) / len(killed)
    assert "caught by the public checks alone" in V.format_report(full)

    real = G.lab_checks

    def hidden_only(lab):
        checks = real(lab)
        checks["cross_entropy"] = [c for c in checks["cross_entropy"] if not c.public]
        return checks

    monkeypatch.setattr(V, "lab_checks", hidden_only)
    report = V.validate_lab(course, lab01, exercises=["cross_entropy"], examples=20, jobs=1, alternatives=False)
    assert all(not r.public for r in report.exercises[0].counted if r.killed and r.by not in ("timeout", "error"))
    assert report.public_kill_rate < full.public_kill_rate
