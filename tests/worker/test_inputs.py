"""Filling the working folder: git checkout, then inputs by URL."""

import os
import subprocess

import pytest
import requests

from worker.inputs import PreparationError, checkout_repository, download_input, prepare_working_folder


def git(*arguments, cwd):
    subprocess.run(["git", *arguments], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repository(tmp_path):
    """A local git repository: model.glm on main, another on branch 'other'."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=repo)
    git("config", "user.email", "test@example.com", cwd=repo)
    git("config", "user.name", "test", cwd=repo)
    (repo / "model.glm").write_text("// main\n")
    (repo / "data").mkdir()
    (repo / "data" / "weather.csv").write_text("1,2\n")
    git("add", ".", cwd=repo)
    git("commit", "--quiet", "-m", "main", cwd=repo)
    git("checkout", "--quiet", "-b", "other", cwd=repo)
    (repo / "model.glm").write_text("// other\n")
    git("commit", "--quiet", "-am", "other", cwd=repo)
    git("checkout", "--quiet", "main", cwd=repo)
    return repo


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "work"
    path.mkdir()
    return path


def test_download_over_http(file_server, folder):
    served, url = file_server
    (served / "model.glm").write_bytes(b"clock {}\n" * 1000)

    download_input("model.glm", f"{url}/model.glm", folder)

    assert (folder / "model.glm").read_bytes() == b"clock {}\n" * 1000
    assert os.listdir(folder) == ["model.glm"]


def test_http_error_names_the_input_and_status(file_server, folder):
    _, url = file_server

    with pytest.raises(PreparationError, match=r"^failed to download input weather.csv: 404 "):
        download_input("weather.csv", f"{url}/missing.csv", folder)
    assert os.listdir(folder) == []


def test_unreachable_server_fails_the_input(folder):
    with pytest.raises(PreparationError, match="failed to download input a.glm: "):
        download_input("a.glm", "http://127.0.0.1:9/a.glm", folder, session=requests.Session())


def test_inputs_over_the_size_limit_are_refused(file_server, folder):
    served, url = file_server
    (served / "big.csv").write_bytes(b"x" * 5000)

    with pytest.raises(PreparationError, match="larger than 4096 bytes"):
        download_input("big.csv", f"{url}/big.csv", folder, limit=4096)
    assert os.listdir(folder) == []


def test_size_limit_comes_from_the_environment(file_server, folder, monkeypatch):
    served, url = file_server
    (served / "big.csv").write_bytes(b"x" * 5000)
    monkeypatch.setenv("WORKER_MAX_INPUT_BYTES", "100")

    with pytest.raises(PreparationError, match="larger than 100 bytes"):
        download_input("big.csv", f"{url}/big.csv", folder)


def test_file_urls_are_refused_unless_allowed(tmp_path, folder, monkeypatch):
    source = tmp_path / "local.glm"
    source.write_text("// local\n")
    monkeypatch.delenv("WORKER_ALLOW_FILE_URLS", raising=False)

    with pytest.raises(PreparationError, match="file URLs are not allowed"):
        download_input("model.glm", source.as_uri(), folder)

    monkeypatch.setenv("WORKER_ALLOW_FILE_URLS", "true")
    download_input("model.glm", source.as_uri(), folder)
    assert (folder / "model.glm").read_text() == "// local\n"


@pytest.mark.parametrize("url", ["ftp://example.com/a.glm", "gopher://x/a", "/etc/passwd", "a.glm"])
def test_other_url_schemes_are_refused(folder, url):
    with pytest.raises(PreparationError, match="unsupported URL scheme"):
        download_input("a.glm", url, folder)


@pytest.mark.parametrize("name", ["", ".", "..", "../a.glm", "sub/a.glm", "a\\b.glm", "a\0.glm", "x" * 256])
def test_input_names_must_be_plain_file_names(folder, name):
    with pytest.raises(PreparationError, match="not a plain file name"):
        download_input(name, "http://127.0.0.1:9/a.glm", folder)


def test_an_input_replaces_a_symlink_instead_of_writing_through_it(file_server, folder, tmp_path):
    served, url = file_server
    (served / "model.glm").write_text("// downloaded\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    os.symlink(outside, folder / "model.glm")

    download_input("model.glm", f"{url}/model.glm", folder)

    assert outside.read_text() == "keep me"
    assert not os.path.islink(folder / "model.glm")
    assert (folder / "model.glm").read_text() == "// downloaded\n"


def test_checkout_of_a_local_repository(repository, folder, monkeypatch):
    monkeypatch.setenv("WORKER_ALLOW_FILE_URLS", "1")

    checkout_repository(repository.as_uri(), None, str(folder))

    assert (folder / "model.glm").read_text() == "// main\n"
    assert (folder / "data" / "weather.csv").read_text() == "1,2\n"


def test_checkout_of_a_branch(repository, folder):
    checkout_repository(repository.as_uri(), "other", str(folder), allow_files=True)

    assert (folder / "model.glm").read_text() == "// other\n"


def test_checkout_of_a_missing_branch_fails_with_gits_reason(repository, folder):
    with pytest.raises(PreparationError, match=r"failed to check out .*: .*nope"):
        checkout_repository(repository.as_uri(), "nope", str(folder), allow_files=True)


@pytest.mark.parametrize("kind", ["file_url", "plain_path"])
def test_local_repositories_are_refused_unless_allowed(repository, folder, monkeypatch, kind):
    monkeypatch.delenv("WORKER_ALLOW_FILE_URLS", raising=False)
    url = repository.as_uri() if kind == "file_url" else str(repository)

    with pytest.raises(PreparationError, match="file URLs are not allowed"):
        checkout_repository(url, None, str(folder))
    assert os.listdir(folder) == []


def test_git_transports_that_run_commands_are_refused(folder, tmp_path):
    marker = tmp_path / "ran"

    with pytest.raises(PreparationError, match="failed to check out"):
        checkout_repository(f"ext::sh -c touch% {marker}", None, str(folder), allow_files=True)
    assert not marker.exists()


def test_inputs_come_after_the_checkout_and_override_it(repository, file_server, folder):
    served, url = file_server
    (served / "model.glm").write_text("// input\n")

    prepare_working_folder(
        str(folder),
        [{"name": "model.glm", "url": f"{url}/model.glm"}],
        repository.as_uri(),
        None,
        allow_files=True,
    )

    assert (folder / "model.glm").read_text() == "// input\n"
    assert (folder / "data" / "weather.csv").exists()


def test_failure_messages_never_show_a_password(folder):
    with pytest.raises(PreparationError) as error:
        checkout_repository("https://user:s3cret@127.0.0.1:9/repo.git", None, str(folder))

    assert "s3cret" not in str(error.value)
    assert str(error.value).startswith("failed to check out https://user:***@127.0.0.1:9/repo.git: ")
