"""Which files of the working folder are artifacts."""

import os

from worker.artifacts import changed_files, snapshot


def test_new_and_changed_files_are_artifacts_unchanged_ones_are_not(tmp_path):
    (tmp_path / "model.glm").write_text("model")
    (tmp_path / "weather.csv").write_text("1,2")
    (tmp_path / "rewritten.csv").write_text("old")
    before = snapshot(tmp_path)

    (tmp_path / "weather.csv").write_text("1,2,3")  # changed size
    (tmp_path / "rewritten.csv").write_text("new")  # same size, later time
    os.utime(tmp_path / "rewritten.csv", ns=(1, before["rewritten.csv"][1] + 1000))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "volts.csv").write_text("v")
    (tmp_path / "empty.txt").touch()

    assert changed_files(before, snapshot(tmp_path)) == [
        "empty.txt",
        "out/volts.csv",
        "rewritten.csv",
        "weather.csv",
    ]


def test_a_file_replaced_by_another_is_changed(tmp_path):
    (tmp_path / "result.csv").write_text("same")
    before = snapshot(tmp_path)
    (tmp_path / "new.csv").write_text("same")
    os.utime(tmp_path / "new.csv", ns=(before["result.csv"][1], before["result.csv"][1]))
    os.replace(tmp_path / "new.csv", tmp_path / "result.csv")

    assert changed_files(before, snapshot(tmp_path)) == ["result.csv"]


def test_symlinks_and_git_metadata_are_never_artifacts(tmp_path):
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("host file")
    before = snapshot(tmp_path)
    os.symlink(secret, tmp_path / "link.csv")
    os.symlink(tmp_path.parent, tmp_path / "linked_folder")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "index").write_text("x")

    assert changed_files(before, snapshot(tmp_path)) == []


def test_deleted_files_are_not_artifacts(tmp_path):
    (tmp_path / "gone.csv").write_text("x")
    before = snapshot(tmp_path)
    os.remove(tmp_path / "gone.csv")

    assert changed_files(before, snapshot(tmp_path)) == []
