"""The cache of valid runbooks: a runbook found valid is not validated again by the same set-up; a
change of its bytes, its name or the set-up, a corrupt entry, or an invalid runbook is validated
afresh; a cache that is off or cannot be written changes nothing but the time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hybridops.runbook import cache, validate
from hybridops.runbook.validate import validate_file

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "valid" / "sample.yaml"


@pytest.fixture
def checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The runbooks the validator really checked (cache misses), in order; the cache in tmp_path."""
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    seen: list[str] = []
    real = validate._Validator.run

    def run(self: validate._Validator) -> list:
        seen.append(self.loaded.path.name)
        return real(self)

    monkeypatch.setattr(validate._Validator, "run", run)
    return seen


def copy(tmp_path: Path, name: str = "sample") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SAMPLE.read_text().replace("id: sample", f"id: {name}", 1))
    return path


def entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "valid").glob("*")) if (tmp_path / "cache" / "valid").is_dir() else []


def test_a_valid_runbook_is_checked_once_then_known(tmp_path: Path, checked: list[str]) -> None:
    path = copy(tmp_path)
    assert validate_file(path).problems == validate_file(path).problems == ()
    assert checked == ["sample.yaml"]
    [entry] = entries(tmp_path)
    assert entry.read_text() == entry.name  # an entry holds its own key


def test_a_changed_byte_or_another_name_is_checked_again(tmp_path: Path, checked: list[str]) -> None:
    path = copy(tmp_path)
    validate_file(path)
    path.write_text(path.read_text() + "\n# reviewed\n")
    validate_file(path)
    (tmp_path / "other").mkdir()
    validate_file(shutil.copy(path, tmp_path / "other" / "sample.yaml"))  # same name and bytes: known
    renamed = tmp_path / "other" / "renamed.yaml"
    path.rename(renamed)
    assert validate_file(renamed).problems  # the id no longer matches the file name
    assert checked == ["sample.yaml", "sample.yaml", "renamed.yaml"]


def test_an_invalid_runbook_is_never_remembered(tmp_path: Path, checked: list[str]) -> None:
    path = copy(tmp_path)
    path.write_text(path.read_text().replace("operation: DescribeServices", "operation: DescribeServicez", 1))
    first, again = validate_file(path).problems, validate_file(path).problems
    assert first == again and any("DescribeServicez" in p.message for p in first)
    assert checked == ["sample.yaml", "sample.yaml"] and entries(tmp_path) == []


def test_a_corrupt_entry_is_ignored_and_replaced(tmp_path: Path, checked: list[str]) -> None:
    path = copy(tmp_path)
    validate_file(path)
    [entry] = entries(tmp_path)
    for garbage in ("", entry.name[:10], "\x00\xff binary"):
        entry.write_bytes(garbage.encode("latin-1"))
        assert validate_file(path).problems == ()
    assert checked == ["sample.yaml"] * 4
    assert entry.read_text() == entry.name


def test_another_version_of_the_tool_or_its_libraries_does_not_find_the_entry(
        tmp_path: Path, checked: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = copy(tmp_path)
    validate_file(path)
    monkeypatch.setattr(cache, "_fingerprint", lambda: b"botocore-2.0 hybridops-0.2")
    validate_file(path)
    assert checked == ["sample.yaml", "sample.yaml"] and len(entries(tmp_path)) == 2


def test_the_fingerprint_follows_the_package_files_and_the_installed_distributions() -> None:
    import os

    import hybridops

    before = cache._fingerprint()
    cache._fingerprint.cache_clear()
    assert cache._fingerprint() == before  # deterministic
    module = Path(hybridops.__file__).parent / "runbook" / "validate.py"
    st = module.stat()
    try:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # an edit of the validator
        cache._fingerprint.cache_clear()
        assert cache._fingerprint() != before
    finally:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))
        cache._fingerprint.cache_clear()
    assert cache._fingerprint() == before


def test_off_or_unwritable_changes_nothing_but_the_time(tmp_path: Path, checked: list[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = copy(tmp_path)
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    assert validate_file(path).problems == validate_file(path).problems == ()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocked))
    assert validate_file(path).problems == validate_file(path).problems == ()
    assert checked == ["sample.yaml"] * 4 and entries(tmp_path) == []
