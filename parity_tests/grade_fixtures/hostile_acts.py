"""The hostile acts of the demo class, one per student: appended to ``base_layers.py``.

Every act that tries to reach outside leaves a marker at ``/tmp/cs231n-grade-escaped-*``
when it succeeds: outside a sandbox that is this machine's ``/tmp``; inside it, the
sandbox's own, gone with it. The tests check no marker appears here.
"""

ACTS = {
    # Loops forever in one target: that target is a timeout, the others are graded.
    "infinite_loop": '''
def svm_loss(x, y):
    while True:
        pass
''',
    # Asks for 20 GB: the memory limit stops it (killed).
    "huge_allocation": '''
def svm_loss(x, y):
    hog = np.ones(20 * 1024 ** 3, dtype=np.uint8)
    return float(hog[0]), np.zeros_like(x)
''',
    # Forks until the process limit: killed.
    "fork_bomb": '''
import os


def svm_loss(x, y):
    while True:
        os.fork()
''',
    # Runs shell commands: they run inside the sandbox (no network, nothing outside).
    "os_system": '''
import os

os.system("echo escaped > /tmp/cs231n-grade-escaped-os-system; "
          "touch /submission/escaped 2>/dev/null; "
          "python3 -c 'import urllib.request as u; u.urlopen(\\"http://example.com\\", timeout=3)'"
          " >/dev/null 2>&1 && echo network > /tmp/cs231n-grade-escaped-network")
''',
    # Looks for other students' files and fails loudly if it finds one.
    "read_sibling": '''
import glob
import os

_MINE = os.path.dirname(os.path.abspath(__file__))


def _siblings():
    found = []
    for pattern in ("/tmp/cs231n-submission-*/*/cs231n/layers.py",
                    "/tmp/cs231n-submission-*/cs231n/layers.py", "/tmp/*/*/cs231n/layers.py",
                    "/work/*/*/*/cs231n/layers.py", "/home/*/*/*/cs231n/layers.py",
                    os.path.join(_MINE, "..", "..", "*", "cs231n", "layers.py")):
        found += [p for p in glob.glob(pattern)  # regular files: a FIFO would block
                  if os.path.isfile(p) and not os.path.abspath(p).startswith(_MINE)]
    return found


def svm_loss(x, y):
    others = _siblings()
    if others:
        with open(others[0]) as f:
            f.read()
        with open("/tmp/cs231n-grade-escaped-read-sibling", "w") as f:
            f.write(others[0])
        raise RuntimeError(f"read another student's file: {others[0]}")
    N = x.shape[0]
    margins = np.maximum(0, x - x[np.arange(N), y][:, None] + 1.0)
    margins[np.arange(N), y] = 0
    dx = (margins > 0).astype(x.dtype)
    dx[np.arange(N), y] = -dx.sum(axis=1)
    return margins.sum() / N, dx / N
''',
    # Tries to forge its own gradebook rows; its loss is wrong, so it must fail.
    "write_gradebook": '''
import os

for _root, _dirs, _files in os.walk("/"):
    if "gradebook.csv" in _files:
        try:
            with open(os.path.join(_root, "gradebook.csv"), "a") as _f:
                _f.write("write_gradebook,cs231n/layers.py,svm_loss,svm_scores,pass,0,,0\\n")
            open("/tmp/cs231n-grade-escaped-gradebook", "w").write(_root)
        except OSError:
            pass
    if _root.count(os.sep) > 6:
        _dirs[:] = []


def svm_loss(x, y):
    return 1.0, np.zeros_like(x)
''',
    # Patches the oracle in its own process so everything "passes", prints "PASS", and
    # returns a wrong gradient: the judge's process computes the verdict, so it fails.
    "patch_oracle": '''
import os
import sys

for _name, _module in list(sys.modules.items()):
    if _name.startswith("ref_torch"):
        for _attr in ("compare_result", "parity_rtol", "diagnose"):
            if hasattr(_module, _attr):
                setattr(_module, _attr, lambda *a, **k: None)
try:
    import ref_torch.oracle.report as _report
    _report.OracleReport.verdict = property(lambda self: "pass")
except ImportError:
    pass
print("PASS svm_loss: all tests passed")
os.write(1, b"PASS svm_loss\\n")


def svm_loss(x, y):
    return 0.5, np.ones_like(x)
''',
    # Exits at import: the file does not load (error), nothing else is affected.
    "exits_at_import": '''
import sys

sys.exit(0)
''',
}
