"""Every code sample in README.md and docs/ runs as written (the rules: samples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .samples import ROOT, Sample, all_samples, output_matches, run, samples_in

SAMPLES = all_samples()


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.where for s in SAMPLES])
def test_sample_runs_as_written(sample: Sample, tmp_path: Path) -> None:
    done = run(sample, tmp_path)
    assert done.returncode == 0, f"{sample.where}\n{done.stdout}\n{done.stderr}"
    if sample.output is not None:
        assert output_matches(sample.output, done.stdout), (
            f"{sample.where} printed:\n{done.stdout}\nthe page shows:\n{sample.output}"
        )


def test_the_readme_and_the_guide_have_samples_to_run() -> None:
    """The collection finds the README's first workflow and its output."""
    [first, *_] = samples_in(ROOT / "README.md")
    assert first.output is not None
    assert len(SAMPLES) >= 20


def test_a_program_and_its_output_are_paired_only_when_adjacent(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nprint(1)\n```\n\nIt prints:\n\n```text\n1\n```\n\n"
        "```python\nprint(2)\n```\n\nSome prose.\n\nMore prose.\n\n```text\nnot output\n```\n"
        "```python\ndef test_it() -> None:\n    pass\n```\n"
    )
    first, second, third = samples_in(page)
    assert (first.output, second.output, third.output) == ("1\n", None, None)
    assert (first.line, second.line) == (1, 11)
    assert third.is_test_module and not first.is_test_module


def test_a_failing_sample_or_a_wrong_output_is_caught(tmp_path: Path) -> None:
    failing = Sample(path=ROOT / "README.md", line=1, code="raise SystemExit(3)\n", output=None)
    assert run(failing, tmp_path).returncode == 3
    assert output_matches("id ...\ndone\n", "id 1f3a\ndone\n")
    assert not output_matches("done\n", "done twice\n")
