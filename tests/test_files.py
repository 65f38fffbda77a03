"""Writing files: atomic replacement, modes, links, devices, stale temporaries, and outputs that would
destroy an input (netsieve._files and the commands and library writers that use it)."""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from netsieve import InvalidInputError
from netsieve import _files
from netsieve._files import atomic_write, atomic_write_text, check_outputs

torch = pytest.importorskip("torch")
from netsieve.cli import main  # noqa: E402

PYTHONPATH = str(Path(_files.__file__).parents[1])


@pytest.fixture
def umask():
    """Sets the umask for one test and restores it."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def temporaries(folder) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp"))


def model_file(path):
    from netsieve.torch import save_weights

    g = torch.Generator().manual_seed(0)
    w = torch.randn(48, 32, generator=g, dtype=torch.float64) * 0.05
    a, b = torch.randn(48, 1, generator=g, dtype=torch.float64), torch.randn(1, 32, generator=g, dtype=torch.float64)
    w += 0.05 * 6 * (48 * 32) ** 0.25 * (a / a.norm()) @ (b / b.norm())
    save_weights({"fc.weight": w.float(), "fc.bias": torch.zeros(48)}, path)
    return Path(path)


# -- modes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_files_get_the_mode_open_would_give(tmp_path, umask, mask):
    umask(mask)
    atomic_write_text(tmp_path / "a.txt", "x")
    assert mode(tmp_path / "a.txt") == 0o666 & ~mask
    assert _files._umask() == mask


@pytest.mark.parametrize("old_mode", [0o640, 0o644, 0o444])
def test_replaced_files_keep_their_mode(tmp_path, umask, old_mode):
    umask(0o077)
    path = tmp_path / "a.txt"
    path.write_text("old")
    os.chmod(path, old_mode)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and mode(path) == old_mode


def test_filter_in_place_keeps_the_input_mode_and_new_outputs_follow_umask(tmp_path, umask, capsys):
    umask(0o022)
    src = model_file(tmp_path / "m.safetensors")
    os.chmod(src, 0o644)
    assert main(["filter", str(src), str(src), "--overwrite"]) == 0
    assert mode(src) == 0o644
    assert main(["filter", str(src), str(tmp_path / "out.safetensors"), "--report", str(tmp_path / "r.json")]) == 0
    assert mode(tmp_path / "out.safetensors") == 0o644 and mode(tmp_path / "r.json") == 0o644
    assert temporaries(tmp_path) == []


def test_umask_fallback_without_proc(monkeypatch, umask):
    umask(0o027)
    real_open = open

    def no_proc(path, *a, **k):
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", no_proc)
    assert _files._umask() == 0o027
    assert os.umask(0o027) == 0o027  # and it is left as it was


# -- temporaries ----------------------------------------------------------------------------------


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_dead_processes_are_removed_others_kept(tmp_path):
    host = _files._host_tag()
    dead = tmp_path / f".out.json.{_dead_pid()}@{host}.abc123_x.tmp"
    alive = tmp_path / f".out.json.{os.getppid()}@{host}.abc123_y.tmp"  # a live process's write
    other_host = tmp_path / f".out.json.{_dead_pid()}@{'0' * 8 if host != '0' * 8 else '1' * 8}.abc123_z.tmp"
    old_style = tmp_path / ".out.json.k2j4h5l1.tmp"
    other_target = tmp_path / f".other.json.{_dead_pid()}@{host}.abc123_w.tmp"
    for p in (dead, alive, other_host, old_style, other_target):
        p.write_text("partial")
    atomic_write_text(tmp_path / "out.json", "{}")
    assert not dead.exists()
    assert alive.exists() and other_host.exists() and old_style.exists() and other_target.exists()
    assert (tmp_path / "out.json").read_text() == "{}"


def test_temporary_is_named_by_pid_and_removed_after_a_failed_write(tmp_path):
    seen = []

    def fail(tmp):
        seen.append(Path(tmp).name)
        Path(tmp).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    (tmp_path / "out.bin").write_bytes(b"keep")
    with pytest.raises(OSError, match=r"cannot write .*out\.bin: No space left on device") as info:
        atomic_write(tmp_path / "out.bin", fail)
    assert info.value.errno == errno.ENOSPC
    assert seen[0].startswith(f".out.bin.{os.getpid()}@{_files._host_tag()}.")
    assert (tmp_path / "out.bin").read_bytes() == b"keep"
    assert temporaries(tmp_path) == []


def test_a_killed_writer_leaves_a_temporary_the_next_write_removes(tmp_path):
    target = tmp_path / "out.json"
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from netsieve._files import atomic_write\n"
        "def die(tmp):\n"
        "    Path(tmp).write_text('partial')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        f"atomic_write({str(target)!r}, die)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=PYTHONPATH))
    assert run.returncode == -signal.SIGKILL
    assert len(temporaries(tmp_path)) == 1 and not target.exists()
    atomic_write_text(target, "done")
    assert temporaries(tmp_path) == [] and target.read_text() == "done"


def test_every_writer_name_is_the_same_function():
    from netsieve.torch import checkpoints, plots, rundir

    assert checkpoints.atomic_write is _files.atomic_write
    assert rundir.atomic_write_bytes is _files.atomic_write_bytes and rundir.atomic_write_text is _files.atomic_write_text
    assert plots.atomic_write_bytes is _files.atomic_write_bytes


# -- links and files that are not regular ----------------------------------------------------------


def test_symlinked_output_replaces_the_file_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


@pytest.fixture
def null_device(tmp_path):
    """A character device to write to. Not /dev/null itself when root: code that renames over devices
    would replace the system's /dev/null (as the bug this tests for once did)."""
    if os.geteuid() != 0:
        return "/dev/null"  # cannot be replaced without root, whatever the code does
    path = tmp_path / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        Path(path).write_text("probe")
    except OSError as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return str(path)


def test_character_device_is_written_through_not_replaced(null_device):
    before = os.stat(null_device)
    atomic_write_text(null_device, "discarded")
    after = os.stat(null_device)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(Path(fifo).read_text()), daemon=True)
    reader.start()
    atomic_write_text(fifo, "through the pipe")
    reader.join(10)
    assert got == ["through the pipe"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_folders_and_sockets_are_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="is a folder"):
        atomic_write_text(tmp_path, "x")
    short = tempfile.mkdtemp(prefix="ns")  # AF_UNIX paths are limited to ~100 bytes
    path = os.path.join(short, "s")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(path)
        with pytest.raises(InvalidInputError, match="socket"):
            atomic_write_text(path, "x")
        assert stat.S_ISSOCK(os.stat(path).st_mode)
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(short)


def test_filter_to_a_device_writes_through(tmp_path, capsys, null_device):
    src = model_file(tmp_path / "m.safetensors")
    before = os.stat(null_device)
    assert main(["filter", str(src), null_device, "--overwrite"]) == 0
    after = os.stat(null_device)
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


@pytest.mark.parametrize("stdout", ["pipe", "file"])
def test_analyze_json_to_stdout_is_written_through(tmp_path, stdout):
    import json

    src = model_file(tmp_path / "m.safetensors")
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")  # what /dev/stdout is; a private link, so a bug cannot replace /dev/stdout
    cmd = [sys.executable, "-m", "netsieve.cli", "analyze", str(src), "--quiet", "--json", str(link)]
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    if stdout == "pipe":
        run = subprocess.run(cmd, env=env, capture_output=True, text=True)
        text = run.stdout
    else:  # stdout redirected to a file: the JSON must land in that file, not replace it by rename
        with open(tmp_path / "out.txt", "w") as fh:
            run = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.PIPE, text=True)
        text = (tmp_path / "out.txt").read_text()
    assert run.returncode == 0, run.stderr
    assert json.loads(text)["layers"][0]["name"] == "fc.weight"
    assert link.is_symlink()
    assert _files._names_open_descriptor(Path("/dev/stdout")) and _files._names_open_descriptor(Path("/dev/fd/2"))
    assert not _files._names_open_descriptor(tmp_path / "m.safetensors")


# -- outputs that would destroy an input ------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--csv", "--json"])
@pytest.mark.parametrize("how", ["same path", "symlink", "hard link"])
def test_analyze_refuses_to_write_over_its_input(tmp_path, capsys, flag, how):
    src = model_file(tmp_path / "m.safetensors")
    raw = src.read_bytes()
    out = src
    if how == "symlink":
        out = tmp_path / "link.csv"
        out.symlink_to(src)
    elif how == "hard link":
        out = tmp_path / "hard.csv"
        os.link(src, out)
    assert main(["analyze", str(src), flag, str(out)]) == 1
    err = capsys.readouterr().err
    assert "is the input" in err and err.count("\n") == 1
    assert src.read_bytes() == raw and temporaries(tmp_path) == []


def test_analyze_refuses_two_outputs_that_are_one_file(tmp_path, capsys):
    src = model_file(tmp_path / "m.safetensors")
    (tmp_path / "sub").mkdir()
    # Neither exists yet; they are the same place all the same.
    assert main(["analyze", str(src), "--csv", str(tmp_path / "r.txt"), "--json", str(tmp_path / "sub" / ".." / "r.txt")]) == 1
    assert "same file" in capsys.readouterr().err
    assert not (tmp_path / "r.txt").exists()


def test_outputs_inside_an_input_folder_are_refused(tmp_path, capsys):
    from netsieve.torch import filter_checkpoint

    folder = tmp_path / "shards"
    folder.mkdir()
    model_file(folder / "model.safetensors")
    assert main(["analyze", str(folder), "--json", str(folder / "report.json")]) == 1
    assert "inside the input folder" in capsys.readouterr().err
    assert main(["analyze", str(folder), "--plots", str(folder)]) == 1
    assert "input folder" in capsys.readouterr().err
    for out in (folder / "filtered.safetensors", folder / "model.safetensors"):
        with pytest.raises(InvalidInputError, match="inside the input folder"):
            filter_checkpoint(folder, out, "hard", overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["model.safetensors"]


def test_filter_report_may_be_neither_the_model_nor_the_input(tmp_path, capsys):
    src = model_file(tmp_path / "m.safetensors")
    raw = src.read_bytes()
    out = tmp_path / "out.safetensors"
    assert main(["filter", str(src), str(out), "--report", str(out)]) == 1
    assert "same file" in capsys.readouterr().err and not out.exists()
    for args in ([str(src), str(out), "--report", str(src), "--overwrite"],
                 [str(src), str(src), "--report", str(src), "--overwrite"]):
        assert main(["filter", *args]) == 1
        err = capsys.readouterr().err
        assert "is the input" in err or "same file" in err
    assert src.read_bytes() == raw and not out.exists() and temporaries(tmp_path) == []
    # filtering in place stays possible, with --overwrite
    assert main(["filter", str(src), str(src), "--overwrite", "--report", str(tmp_path / "r.json")]) == 0
    assert src.read_bytes() != raw


def test_filter_output_folder_refused(tmp_path, capsys):
    src = model_file(tmp_path / "m.safetensors")
    assert main(["filter", str(src), str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_report_exports_refuse_the_analysed_file(tmp_path):
    from netsieve.torch import analyze

    src = model_file(tmp_path / "m.safetensors")
    raw = src.read_bytes()
    report = analyze(src)
    with pytest.raises(InvalidInputError, match="is the input"):
        report.to_csv(src)
    with pytest.raises(InvalidInputError, match="is the input"):
        report.to_json(src)
    assert src.read_bytes() == raw
    report.to_json(tmp_path / "r.json")  # anything else is fine


def test_check_outputs_rules(tmp_path, null_device):
    f = tmp_path / "in.bin"
    f.write_bytes(b"x")
    check_outputs([("a", tmp_path / "a"), ("b", tmp_path / "b"), ("c", None)], [f])
    check_outputs([("a", null_device), ("b", null_device)], [f])  # devices do not clash
    with pytest.raises(InvalidInputError, match="exists"):
        check_outputs([("a", f)], [], overwrite=False)
    with pytest.raises(InvalidInputError, match="pass overwrite"):
        check_outputs([("a", f)], [f], overwrite=False, in_place=("a",))
    check_outputs([("a", f)], [f], overwrite=True, in_place=("a",))
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        check_outputs([("a", tmp_path / "missing" / "x")])


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_output_folder_is_refused_before_work(tmp_path, capsys):
    src = model_file(tmp_path / "m.safetensors")
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        assert main(["filter", str(src), str(tmp_path / "out.safetensors"), "--report", str(ro / "r.json")]) == 1
        assert "not writable" in capsys.readouterr().err
        assert not (tmp_path / "out.safetensors").exists()
    finally:
        os.chmod(ro, 0o755)
