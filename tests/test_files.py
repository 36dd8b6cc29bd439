"""runtime.files: every result is written under a temporary name and renamed into place."""

from __future__ import annotations

import json

import pytest

from runtime import files


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary_one(tmp_path):
    target = tmp_path / "eval" / "sft.json"
    files.write_json(target, {"score": 0.5})
    with pytest.raises(RuntimeError), files.atomic(target) as tmp:
        tmp.write_text('{"score": 0.')
        raise RuntimeError("killed while writing")
    assert json.loads(target.read_text()) == {"score": 0.5}
    assert sorted(p.name for p in target.parent.iterdir()) == ["sft.json"]


def test_a_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "sft"
    for version in ("old", "new"):
        with files.atomic(target) as tmp:
            tmp.mkdir()
            (tmp / "weights").write_text(version)
    assert (target / "weights").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sft"]


def test_keep_existing_keeps_the_first_writer_of_a_cache_entry(tmp_path):
    entry = tmp_path / "cache" / "key"
    for writer in ("first", "second"):
        with files.atomic(entry, keep_existing=True) as tmp:
            tmp.mkdir()
            (tmp / "value").write_text(writer)
    assert (entry / "value").read_text() == "first"
    assert sorted(p.name for p in entry.parent.iterdir()) == ["key"]


def test_jsonl_rows_round_trip(tmp_path):
    rows = [{"prompt": "héllo", "score": 1.0}, {"prompt": "2", "score": 0.0}]
    files.write_jsonl(tmp_path / "rows.jsonl", rows)
    assert [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()] == rows
