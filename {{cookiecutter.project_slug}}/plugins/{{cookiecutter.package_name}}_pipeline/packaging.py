"""Packaging the run's code: what SageMaker runs, and exactly which version it was.

Each run uploads its own copy of the ML package, so a job never runs code other than the commit
(or working tree) the run started from:

- ``code/source.tar.gz``: the package's files at the archive root, for training script mode
  (``sagemaker_submit_directory``; the toolkit runs ``train.py`` from it);
- ``code/src/<package>/``: the same files unpacked, for processing jobs (``python -m``);
- ``code/expectations/``: the Great Expectations suites the data checks use;
- ``code/manifest.json``: the git commit (or, outside git, a content hash), whether the tree
  had uncommitted changes, the lock file's hash and the jobs' image and its digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

from .config import PipelineConfig
from .hooks import s3_hook
from .runs import Run


def source_files(folder: Path) -> list[Path]:
    """The files below ``folder``, without Python's caches, in a stable order."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def tree_digest(files: list[Path], root: Path) -> str:
    """sha256 over the files' paths and bytes: equal trees, equal digests."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def source_tarball(package_dir: Path) -> bytes:
    """A reproducible tar.gz of the package (fixed order, times and owners)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as tar:
        for path in source_files(package_dir):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(package_dir).as_posix())
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def git_state(root: Path) -> dict:
    """The commit the code came from and whether the tree had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--", "."))
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": dirty}


def manifest(root: Path, package: str, image_uri: str | None, image_digest: str | None) -> dict:
    files = source_files(root / package)
    lock = root / "uv.lock"
    return {
        **git_state(root),
        "source_sha256": tree_digest(files, root),
        "lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else None,
        "image_uri": image_uri,
        "image_digest": image_digest,
        "files": [path.relative_to(root).as_posix() for path in files],
    }


def code_version(manifest: dict) -> str:
    """The commit when there is one and the tree was clean, else the content hash."""
    if manifest["git_commit"] and not manifest["git_dirty"]:
        return manifest["git_commit"]
    return f"sha256:{manifest['source_sha256']}"


def upload(s3, layout, root: Path, package: str, manifest_doc: dict) -> None:
    """Upload the tarball, the unpacked package, the suites and the manifest under the run."""
    bucket, prefix = layout.code.removeprefix("s3://").split("/", 1)
    package_dir = root / package
    s3.put_object(Bucket=bucket, Key=f"{prefix}/source.tar.gz", Body=source_tarball(package_dir))
    for path in source_files(package_dir):
        key = f"{prefix}/src/{package}/{path.relative_to(package_dir).as_posix()}"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    for suite in sorted((root / "expectations").glob("*.json")):
        s3.put_object(
            Bucket=bucket, Key=f"{prefix}/expectations/{suite.name}", Body=suite.read_bytes()
        )
    s3.put_object(
        Bucket=bucket,
        Key=f"{prefix}/manifest.json",
        Body=json.dumps(manifest_doc, indent=2).encode(),
        ContentType="application/json",
    )


def package_code(config: PipelineConfig, run: Run) -> dict:
    """Upload the run's code and its manifest; return the manifest."""
    root = config.path.parent
    digest = run.image_uri.partition("@")[2] or None
    recorded = manifest(root, config.package, config.env.image_uri, digest)
    upload(s3_hook(config).get_conn(), run.layout, root, config.package, recorded)
    recorded["code_version"] = code_version(recorded)
    return recorded
