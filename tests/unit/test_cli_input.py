"""The operator commands' input files: what cannot be read is named, with the file and the
place, in one line on stderr — never a traceback, never a partial publish."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.ops.cli import main
from streams.ops.publish import parse_lines


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.yaml", None, "missing.yaml: cannot read: No such file or directory"),
        ("broken.yaml", b"- {integration_id: [\n", "broken.yaml: not valid YAML"),
        ("broken.json", b'[{"integration_id": ', "broken.json: not valid JSON"),
        ("latin1.yaml", b"- {integration_id: a\xe7\xe3o}\n", "latin1.yaml: not UTF-8 at byte 20"),
    ],
)
def test_integrations_apply_names_a_file_it_cannot_read(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes | None,
    expected: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["integrations", "apply", str(path)]) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err, err


def test_publish_names_a_file_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", str(tmp_path / "events.jsonl")]) == 1
    assert "events.jsonl: cannot read: No such file or directory" in capsys.readouterr().err


def test_a_line_that_is_not_utf8_is_rejected_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"event_id": "a"}\n{"note": "a\xe7\xe3o"}\n')
    with path.open(encoding="utf-8", errors="surrogateescape") as stream:
        results = list(parse_lines(stream))
    assert [number for number, _, _ in results] == [1, 2]
    _, record, errors = results[1]
    assert record is None and [e.message for e in errors] == ["not valid UTF-8 at column 12"]
