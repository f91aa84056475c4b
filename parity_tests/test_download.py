"""The download command's checking and extraction, on small archives built here
(no network on these machines). A fake CIFAR-10 of zeros has the real layout."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import pickle
import tarfile
import threading

import numpy as np
import pytest

from scripts import download_cifar10 as dl
from scratch_numpy.data import META_FILE, TEST_FILE, TRAIN_FILES


def batch_bytes() -> bytes:
    return pickle.dumps({b"data": np.zeros((10_000, 3072), np.uint8),
                         b"labels": [i % 10 for i in range(10_000)]}, protocol=2)


def meta_bytes() -> bytes:
    return pickle.dumps({b"label_names": [f"class{i}".encode() for i in range(10)]}, protocol=2)


def build_archive(path, extra_members=(), broken=False):
    """A cifar-10-python.tar.gz look-alike; returns its md5."""
    batch = batch_bytes()
    members = [(f"cifar-10-batches-py/{n}", batch) for n in (*TRAIN_FILES, TEST_FILE)]
    members.append(("cifar-10-batches-py/" + META_FILE, meta_bytes()))
    if broken:
        members[0] = (members[0][0], batch[:1000])
    members.extend(extra_members)
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / dl.ARCHIVE_NAME
    return path, build_archive(path)


@pytest.fixture(scope="module")
def archive_url(archive):
    """The archive served over HTTP on the loopback interface only, for this module's tests."""
    path, _ = archive
    handler = functools.partial(_QuietHandler, directory=str(path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_install_good_archive(archive, tmp_path):
    path, md5 = archive
    target = dl.install_archive(path, tmp_path, md5)
    assert target == tmp_path / "cifar-10-batches-py"
    assert dl.is_valid_copy(target)
    assert [p.name for p in tmp_path.iterdir()] == ["cifar-10-batches-py"]  # temp dir removed


def test_md5_mismatch_is_refused_and_nothing_is_written(archive, tmp_path):
    path, _ = archive
    with pytest.raises(RuntimeError, match="md5 mismatch"):
        dl.install_archive(path, tmp_path / "dest", "0" * 32)
    assert not (tmp_path / "dest").exists()


def test_archive_with_corrupt_batch_leaves_a_good_copy_alone(archive, tmp_path):
    path, md5 = archive
    good = dl.install_archive(path, tmp_path, md5)
    before = {p.name: p.stat().st_mtime_ns for p in good.iterdir()}
    bad = tmp_path / "bad.tar.gz"
    bad_md5 = build_archive(bad, broken=True)
    with pytest.raises(RuntimeError, match="does not hold a valid CIFAR-10"):
        dl.install_archive(bad, tmp_path, bad_md5)
    assert {p.name: p.stat().st_mtime_ns for p in good.iterdir()} == before


def test_path_traversal_member_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    md5 = build_archive(evil, extra_members=[("../../escaped.txt", b"gotcha")])
    dest = tmp_path / "a" / "b"
    with pytest.raises(tarfile.OutsideDestinationError):
        dl.install_archive(evil, dest, md5)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "a" / "escaped.txt").exists()
    assert not (dest / "cifar-10-batches-py").exists()


def test_download_is_idempotent_and_moves_an_invalid_copy_aside(archive, archive_url, tmp_path,
                                                                capsys):
    _, md5 = archive
    url = archive_url  # goes through torchvision's download code, loopback only
    invalid = tmp_path / "cifar-10-batches-py"
    invalid.mkdir()
    (invalid / "data_batch_1").write_bytes(b"user's broken copy")

    target = dl.download_cifar10(tmp_path, url=url, md5=md5)
    assert dl.is_valid_copy(target)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("cifar-10-batches-py.invalid-")]
    assert len(aside) == 1 and (aside[0] / "data_batch_1").read_bytes() == b"user's broken copy"

    stamp = (target / "data_batch_1").stat().st_mtime_ns
    dl.download_cifar10(tmp_path, url=url, md5=md5)
    assert "already present and valid" in capsys.readouterr().out
    assert (target / "data_batch_1").stat().st_mtime_ns == stamp


def test_download_with_wrong_md5_fails_cleanly(archive_url, tmp_path, capsys):
    assert dl.main(["--dir", str(tmp_path), "--url", archive_url]) == 1  # official md5 differs
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "cifar-10-batches-py").exists()
    assert [p for p in tmp_path.iterdir()] == []


def test_existing_copy_found_by_the_loader_needs_no_download(cifar10, capsys):
    # CIFAR10_DIR points at a valid copy: no network, nothing written.
    target = dl.download_cifar10(url="http://127.0.0.1:9/unreachable")
    assert dl.is_valid_copy(target)
    assert "already present and valid" in capsys.readouterr().out


# ---- working folders: removed on SIGTERM, and when a killed run left them -------------------

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# Runs the command in a child process whose extraction extracts, says so, then waits: the
# test signals it mid-extraction. The md5 is the small archive's (the command checks the
# official one).
SLOW_EXTRACTION = """
import sys, tarfile, time
from scripts import download_cifar10 as dl
extract = tarfile.TarFile.extractall
def slow(self, path, *args, **kwargs):
    extract(self, path, *args, **kwargs)
    print("extracting into", path, flush=True)
    time.sleep(120)
tarfile.TarFile.extractall = slow
dl.OFFICIAL_MD5 = sys.argv[3]
sys.exit(dl.main(["--dir", sys.argv[1], "--url", sys.argv[2]]))
"""


@pytest.fixture
def small_archive_url(archive, archive_url):
    """A small archive (one member) beside the module's archive, served by the same server."""
    name = "small.tar.gz"
    path = archive[0].parent / name
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/readme.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    return archive_url.rsplit("/", 1)[0] + "/" + name, hashlib.md5(path.read_bytes()).hexdigest()


def _start_slow_extraction(dest, url, md5):
    child = subprocess.Popen([sys.executable, "-c", SLOW_EXTRACTION, str(dest), url, md5],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = child.stdout.readline()  # blocks until the extraction has written its files
    assert line.startswith("extracting into"), (line, child.stderr.read() if child.poll() else "")
    working = [p.name for p in dest.iterdir() if p.name.startswith((".extract-", ".download-"))]
    assert sorted(n.split("-")[0] for n in working) == [".download", ".extract"], working
    return child


def test_sigterm_during_extraction_removes_the_working_folders(small_archive_url, tmp_path):
    url, md5 = small_archive_url
    child = _start_slow_extraction(tmp_path, url, md5)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM, err
    # (Before it, the download's progress bar.)
    assert err.endswith("\nerror: stopped by SIGTERM; the partial download and extraction "
                        "were removed\n") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no .extract-*, no .download-*, no copy


def test_a_run_killed_outright_leaves_folders_the_next_run_removes(small_archive_url, tmp_path,
                                                                    capsys):
    url, md5 = small_archive_url
    child = _start_slow_extraction(tmp_path, url, md5)
    child.kill()  # SIGKILL: nothing can clean up
    child.communicate(timeout=60)
    left = sorted(tmp_path.iterdir())
    assert len(left) == 2
    # Their lock died with the process: the next run removes them, and says so.
    assert dl.remove_stale_working_folders(tmp_path) == left
    assert list(tmp_path.iterdir()) == []
    assert capsys.readouterr().out.count("a working folder left by an interrupted run") == 2


def test_only_unused_working_folders_of_this_command_are_removed(tmp_path):
    import fcntl

    def folder(name, lock=None, age_h=0.0):
        path = tmp_path / name
        (path / "cifar-10-batches-py").mkdir(parents=True)
        (path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"x")
        if lock is not None:
            (path / dl.LOCK_NAME).write_text(lock)
        stamp = time.time() - age_h * 3600
        for p in [*path.rglob("*"), path]:
            os.utime(p, (stamp, stamp), follow_symlinks=False)
        return path

    gone = folder(".extract-a1b2c3d4", lock="4242\n")   # its run locked it, and is gone
    held = folder(".extract-held0000", lock="4343\n", age_h=48)
    holder = open(held / dl.LOCK_NAME)
    fcntl.flock(holder, fcntl.LOCK_EX)                   # a run is still using it
    starting = folder(".download-starting", lock="")     # a run between mkdtemp and its lock
    old_unlocked = folder(".extract-old_0000", age_h=7)  # an earlier version's, untouched 7 h
    new_unlocked = folder(".extract-new_0000", age_h=1)  # maybe an earlier version running now
    others = [folder(".extract-toolong123", lock="1\n"), folder("extract-abcdefgh", lock="1\n"),
              folder("cifar-10-batches-py.invalid-20240101-000000", age_h=48)]
    (tmp_path / ".extract-file0000").write_bytes(b"a file, not a folder")

    try:
        removed = dl.remove_stale_working_folders(tmp_path)
    finally:
        holder.close()
    assert removed == sorted([gone, old_unlocked])
    for kept in (held, starting, new_unlocked, *others, tmp_path / ".extract-file0000"):
        assert kept.exists()
    assert dl.remove_stale_working_folders(tmp_path) == [held]  # its lock is free now


def test_a_link_named_like_a_working_folder_is_left_alone(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / dl.LOCK_NAME).write_text("1\n")
    (tmp_path / ".extract-link0000").symlink_to(target)
    assert dl.remove_stale_working_folders(tmp_path) == []
    assert (target / dl.LOCK_NAME).exists()


def test_the_idempotent_run_removes_stale_working_folders_too(archive, tmp_path, capsys):
    path, md5 = archive
    dl.install_archive(path, tmp_path, md5)
    stale = tmp_path / ".extract-zzzz9999"
    stale.mkdir()
    (stale / dl.LOCK_NAME).write_text("99999\n")
    dl.download_cifar10(tmp_path, url="http://127.0.0.1:9/unreachable", md5=md5)
    assert not stale.exists()
    assert "already present and valid" in capsys.readouterr().out


def test_a_bad_batch_count_is_an_error_not_a_reason_to_set_a_good_copy_aside(
        archive, tmp_path, monkeypatch, capsys):
    path, md5 = archive
    good = dl.install_archive(path, tmp_path, md5)
    monkeypatch.setenv("CIFAR10_TRAIN_BATCHES", "abc")
    assert dl.main(["--dir", str(tmp_path), "--url", "http://127.0.0.1:9/unreachable"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: CIFAR10_TRAIN_BATCHES='abc' is not allowed: it must be an integer in 1..5")
    assert sorted(tmp_path.iterdir()) == [good]  # nothing moved aside, nothing downloaded


def test_a_deeply_nested_batch_is_set_aside_by_the_command(archive, archive_url, tmp_path):
    """The 1 MB file that crashed every command (a dict key nested 10**6 deep): the download
    command, in a fresh process, calls the copy invalid and sets it aside."""
    _, md5 = archive
    bad = tmp_path / "cifar-10-batches-py"
    bad.mkdir()
    (bad / "data_batch_1").write_bytes(b"\x80\x04}" + b")" + b"\x85" * 10**6 + b"Ns.")
    script = ("import sys\nfrom scripts import download_cifar10 as dl\n"
              "dl.OFFICIAL_MD5 = sys.argv[3]\n"
              "sys.exit(dl.main(['--dir', sys.argv[1], '--url', sys.argv[2]]))\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path), archive_url, md5],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "moved the invalid copy" in result.stdout
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("cifar-10-batches-py.invalid-")]
    assert len(aside) == 1 and dl.is_valid_copy(bad)
