"""Hugging Face model ids, resolved offline through the local cache.

``netsieve analyze sentence-transformers/all-MiniLM-L6-v2`` and
``netsieve.torch.analyze("org/name", revision=...)`` read the weights that huggingface_hub has
already downloaded; netsieve never opens a network connection. The cache is found and read with
huggingface_hub's own conventions (this module needs neither huggingface_hub nor torch):

- the cache root: ``cache_dir=`` (``--cache-dir``), else ``HF_HUB_CACHE``, else the legacy
  ``HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub``, else
  ``~/.cache/huggingface/hub``;
- a model ``org/name`` lives in ``<root>/models--org--name/``; ``refs/<revision>`` holds the commit
  of a branch or tag (``main`` by default), ``snapshots/<commit>/`` the files of that commit
  (symbolic links into ``blobs/``). A 40-hex commit can be given as the revision directly.

The weights of a snapshot, in order of preference: ``model.safetensors``; the shards listed by
``model.safetensors.index.json``; any other top-level ``.safetensors`` files; ``pytorch_model.bin``;
the shards of ``pytorch_model.bin.index.json``. Safetensors files are always preferred over
``.bin`` files of the same snapshot (they are the same weights; reading both would count every
layer twice). A model or revision that is not cached, and a snapshot whose weight files point to
blobs that are missing, are errors naming the path searched.

:func:`locate` is the one entry point of every command that takes a model (``analyze``,
``filter``, and a later ``compare``): an existing path is returned as it is, a hub id resolved.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HubModel", "hub_cache", "is_hub_id", "resolve", "locate"]

# org/name as the Hub spells repository ids (letters, digits, "-", "_", "."; one slash).
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
DEFAULT_REVISION = "main"


def hub_cache(cache_dir: str | os.PathLike | None = None) -> Path:
    """The Hugging Face hub cache folder, found as huggingface_hub finds it.

    Parameters
    ----------
    cache_dir : str or os.PathLike, optional
        An explicit cache folder (wins over the environment).

    Returns
    -------
    pathlib.Path
        ``cache_dir``, ``$HF_HUB_CACHE``, ``$HUGGINGFACE_HUB_CACHE``, ``$HF_HOME/hub``,
        ``$XDG_CACHE_HOME/huggingface/hub`` or ``~/.cache/huggingface/hub``, the first that is set
        (``~`` expanded). It need not exist.

    Raises
    ------
    Nothing

    Examples
    --------
    >>> import os
    >>> from netsieve.hub import hub_cache
    >>> saved = os.environ.get("HF_HUB_CACHE")
    >>> os.environ["HF_HUB_CACHE"] = "/data/hf"
    >>> hub_cache()
    PosixPath('/data/hf')
    >>> hub_cache("/elsewhere")
    PosixPath('/elsewhere')
    >>> _ = os.environ.pop("HF_HUB_CACHE") if saved is None else os.environ.update(HF_HUB_CACHE=saved)
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name):
            return Path(env[name]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(xdg).expanduser() / "huggingface" / "hub"


def is_hub_id(text: str | os.PathLike) -> bool:
    """Whether ``text`` is spelled like a Hub model id ``org/name`` (it may also be a relative path).

    Parameters
    ----------
    text : str or os.PathLike

    Returns
    -------
    bool

    Raises
    ------
    Nothing

    Examples
    --------
    >>> from netsieve.hub import is_hub_id
    >>> is_hub_id("sentence-transformers/all-MiniLM-L6-v2"), is_hub_id("/tmp/model.safetensors"), is_hub_id("bert")
    (True, False, False)
    """
    return isinstance(text, str) and bool(_HUB_ID.match(text)) and ".." not in text.split("/")


@dataclass(frozen=True)
class HubModel:
    """A model found in the local Hugging Face cache (see :func:`resolve`).

    Attributes
    ----------
    repo_id : str
        ``org/name``.
    revision : str
        The revision asked for (a branch, tag or commit).
    commit : str
        The commit it resolved to.
    snapshot : pathlib.Path
        ``<cache>/models--org--name/snapshots/<commit>``.
    files : tuple of str
        The weight files chosen, relative to ``snapshot``.
    path : pathlib.Path
        What to read: the one weight file, or the snapshot folder when the weights are sharded
        (read only ``files`` of it).

    Examples
    --------
    >>> from pathlib import Path
    >>> from netsieve.hub import HubModel
    >>> m = HubModel("org/name", "main", "a" * 40, Path("/c/snapshots") / ("a" * 40), ("model.safetensors",),
    ...              Path("/c/snapshots") / ("a" * 40) / "model.safetensors")
    >>> print(m)
    org/name@main (aaaaaaaaaaaa): model.safetensors
    """

    repo_id: str
    revision: str
    commit: str
    snapshot: Path
    files: tuple[str, ...]
    path: Path

    def __str__(self) -> str:
        rev = self.revision if self.revision == self.commit else f"{self.revision} ({self.commit[:12]})"
        return f"{self.repo_id}@{rev}: {', '.join(self.files)}"


def _repo_folder(cache: Path, repo_id: str) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--"))


def _check_revision(revision: str) -> None:
    if not isinstance(revision, str) or not revision.strip():
        raise ValueError(f"revision must be a non-empty string (a branch, tag or commit), got {revision!r}")
    parts = revision.split("/")
    if revision.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"revision {revision!r} is not a branch, tag or commit name")


def _commit_of(repo: Path, repo_id: str, revision: str) -> str:
    if _COMMIT.match(revision) and (repo / "snapshots" / revision).is_dir():
        return revision
    ref = repo / "refs" / revision
    if ref.is_file():
        commit = ref.read_text().strip()
        if (repo / "snapshots" / commit).is_dir():
            return commit
        raise ValueError(f"{repo_id}: {ref} names commit {commit}, but {repo / 'snapshots' / commit} is missing")
    refs = sorted(str(p.relative_to(repo / "refs")) for p in (repo / "refs").rglob("*") if p.is_file()) if (repo / "refs").is_dir() else []
    snaps = sorted(p.name for p in (repo / "snapshots").iterdir()) if (repo / "snapshots").is_dir() else []
    raise ValueError(
        f"revision {revision!r} of {repo_id} is not in the Hugging Face cache (searched {ref} and "
        f"{repo / 'snapshots' / revision}; cached refs: {', '.join(refs) or 'none'}; cached commits: "
        f"{', '.join(snaps) or 'none'})"
    )


def _shards(snapshot: Path, index: str) -> list[str]:
    try:
        weight_map = json.loads((snapshot / index).read_text())["weight_map"]
        return sorted(set(str(v) for v in weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot read the shard index {snapshot / index}: {exc}") from exc


def _choose_files(snapshot: Path) -> list[str]:
    top = sorted(p.name for p in snapshot.iterdir() if not p.is_dir() or p.is_symlink())
    if "model.safetensors" in top:
        return ["model.safetensors"]
    if "model.safetensors.index.json" in top:
        return _shards(snapshot, "model.safetensors.index.json")
    safetensors = [n for n in top if n.endswith(".safetensors")]
    if safetensors:
        return safetensors
    if "pytorch_model.bin" in top:
        return ["pytorch_model.bin"]
    if "pytorch_model.bin.index.json" in top:
        return _shards(snapshot, "pytorch_model.bin.index.json")
    raise ValueError(
        f"no weight files (.safetensors or pytorch_model.bin) in the cached snapshot {snapshot} "
        f"(it holds {', '.join(top[:10]) or 'nothing'})"
    )


def resolve(repo_id: str, revision: str | None = None, *, cache_dir: str | os.PathLike | None = None) -> HubModel:
    """Finds the weights of a Hub model in the local cache, without any network access.

    Parameters
    ----------
    repo_id : str
        ``org/name``.
    revision : str, optional
        A branch or tag with a ``refs/`` entry, or a cached commit; default ``"main"``.
    cache_dir : str or os.PathLike, optional
        The cache folder (default: :func:`hub_cache`).

    Returns
    -------
    HubModel

    Raises
    ------
    ValueError
        ``repo_id`` is not an ``org/name`` id; the model is not cached (the message names the
        folder searched and how to download it); the revision is not cached (naming the cached
        refs and commits); the snapshot has no weight files.
    FileNotFoundError
        A chosen weight file is a link to a blob that is missing (an incomplete download).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from netsieve.hub import resolve
    >>> cache = pathlib.Path(tempfile.mkdtemp())
    >>> repo = cache / "models--org--tiny"
    >>> commit = "0123456789abcdef0123456789abcdef01234567"
    >>> (repo / "snapshots" / commit).mkdir(parents=True)
    >>> (repo / "refs").mkdir()
    >>> _ = (repo / "refs" / "main").write_text(commit)
    >>> for name in ("model.safetensors", "pytorch_model.bin", "config.json"):
    ...     _ = (repo / "snapshots" / commit / name).write_bytes(b"")
    >>> model = resolve("org/tiny", cache_dir=cache)
    >>> model.commit == commit, model.files
    (True, ('model.safetensors',))
    """
    if not is_hub_id(repo_id):
        raise ValueError(f"{repo_id!r} is not a Hugging Face model id of the form org/name")
    revision = DEFAULT_REVISION if revision is None else revision
    _check_revision(revision)
    cache = hub_cache(cache_dir)
    repo = _repo_folder(cache, repo_id)
    if not repo.is_dir():
        raise ValueError(
            f"{repo_id} is not in the Hugging Face cache (searched {repo}; the cache is chosen by "
            f"--cache-dir, HF_HUB_CACHE or HF_HOME); netsieve never downloads: fetch it with "
            f"`hf download {repo_id}`, or pass a local path"
        )
    commit = _commit_of(repo, repo_id, revision)
    snapshot = repo / "snapshots" / commit
    files = _choose_files(snapshot)
    for name in files:
        target = snapshot / name
        if not target.is_file():
            why = f"a link to a missing blob ({os.readlink(target)})" if target.is_symlink() else "missing"
            raise FileNotFoundError(
                f"{repo_id}@{revision}: weight file {target} is {why}; the cached download is incomplete "
                f"(fetch it again with `hf download {repo_id}`)"
            )
    path = snapshot / files[0] if len(files) == 1 else snapshot
    return HubModel(repo_id, revision, commit, snapshot, tuple(files), path)


def locate(
    path_or_id: str | os.PathLike, revision: str | None = None, *, cache_dir: str | os.PathLike | None = None
) -> tuple[Path, HubModel | None]:
    """What a command reads for a model argument: an existing path as it is, else a cached Hub model.

    Parameters
    ----------
    path_or_id : str or os.PathLike
        A file or folder, or an ``org/name`` id (a path that exists wins over an id).
    revision : str, optional
        For a hub id only (see :func:`resolve`).
    cache_dir : str or os.PathLike, optional
        For a hub id only.

    Returns
    -------
    (pathlib.Path, HubModel or None)
        The path to read and, for a hub id, the model found (its ``files`` say which files of a
        snapshot folder to read).

    Raises
    ------
    FileNotFoundError
        Neither a path nor an id spelling.
    ValueError
        A revision or cache folder given with a local path; the errors of :func:`resolve`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from netsieve.hub import locate
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> _ = file.write_bytes(b"")
    >>> locate(file) == (file, None)
    True
    """
    if os.path.lexists(path_or_id):
        if revision is not None or cache_dir is not None:
            raise ValueError(f"{path_or_id} is a local path: a revision or cache folder applies only to hub ids")
        return Path(path_or_id), None
    if not is_hub_id(path_or_id):
        raise FileNotFoundError(f"no such file or folder: {path_or_id}")
    try:
        model = resolve(str(path_or_id), revision, cache_dir=cache_dir)
    except ValueError as exc:
        if not (hub_cache(cache_dir) / ("models--" + str(path_or_id).replace("/", "--"))).is_dir():
            raise ValueError(f"no such file or folder: {path_or_id}, and {exc}") from None
        raise
    return model.path, model
