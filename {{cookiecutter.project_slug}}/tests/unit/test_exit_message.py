"""A processing job's exit message: the one line SageMaker returns as its ExitMessage."""

import pytest

from {{ cookiecutter.package_name }} import exit_message


def test_an_exception_becomes_the_exit_message_and_still_fails_the_script(tmp_path, monkeypatch):
    message_file = tmp_path / "output" / "message"
    monkeypatch.setenv(exit_message.ENV_VAR, str(message_file))

    def main():
        raise ValueError("the data has no rows with a target")

    with pytest.raises(ValueError):
        exit_message.run(main)
    assert message_file.read_text() == "ValueError: the data has no rows with a target"


def test_a_message_is_cut_to_1_kb_of_utf8_without_splitting_a_character(tmp_path, monkeypatch):
    message_file = tmp_path / "message"
    monkeypatch.setenv(exit_message.ENV_VAR, str(message_file))

    exit_message.write("é" * 1000)  # 2 bytes each

    assert message_file.read_text(encoding="utf-8") == "é" * 512


def test_without_the_variable_nothing_is_written_and_the_status_is_kept(tmp_path, monkeypatch):
    monkeypatch.delenv(exit_message.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)

    with pytest.raises(SystemExit) as exited:
        exit_message.run(lambda: 2)
    exit_message.write("ignored")

    assert exited.value.code == 2
    assert list(tmp_path.iterdir()) == []
