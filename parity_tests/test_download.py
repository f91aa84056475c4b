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
