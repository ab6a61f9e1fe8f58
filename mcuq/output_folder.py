"""The output folder of one compile: checked before any work, and left as it was when the job fails.

`guarded` refuses a folder that holds files (unless ``force``), file names the file system cannot
store, and a folder that cannot be created or written, all before any work. During the job the files
it will overwrite wait in a hidden folder beside them; if the job fails, what it wrote is removed,
they come back, and a folder it created is removed with everything in it. An error whose
``keeps_output`` is set (a verdict on complete files, such as a verification failure) keeps the new
files: they are what the user needs to see.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcuq.errors import OutputError, OutputExistsError

BACKUP_PREFIX = ".mcuq-previous-"


@contextmanager
def guarded(folder: Path, names: list[str], force: bool) -> Iterator[Path]:
    """Check ``folder`` for writing ``names`` (top-level files, or folders as ``build/``), create it,
    and undo the job's changes to it if the body raises."""
    names = [name.rstrip("/") for name in names]
    try:
        check_folder(folder, names, force)
    except OSError as exc:  # e.g. a folder name too long, or a folder that cannot be listed
        raise OutputError(f"cannot use the output folder {str(folder)!r} ({exc.strerror}); choose another -o") \
            from None
    created = create_folder(folder)
    try:
        check_writable(folder)
    except OutputError:
        remove(created)
        raise
    backup = set_aside(folder, names)
    try:
        yield folder
    except BaseException as exc:  # Ctrl-C included: put back what the user had
        if getattr(exc, "keeps_output", False):
            remove(backup)
        else:
            restore(folder, names, backup)
            remove(created)
        raise
    remove(backup)


def check_folder(folder: Path, names: list[str], force: bool) -> None:
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise OutputExistsError(f"{str(folder)!r} exists and is not a folder; choose another -o")
    if os.path.isdir(folder) and any(folder.iterdir()) and not force:
        raise OutputExistsError(
            f"output folder {str(folder)!r} exists and is not empty; pass --force (force=True) to "
            f"overwrite {', '.join(names)} in it (other files are left alone), or choose another -o"
        )
    limit = name_max(folder)
    for name in names:
        size = len(os.fsencode(name))
        if size > limit:
            raise OutputError(
                f"the output file name {name[:40]!r}... is {size} bytes long; the file system of {str(folder)!r} "
                f"stores at most {limit}: choose a shorter --name (by default the model file's name)"
            )


def name_max(folder: Path) -> int:
    """The longest file name (in bytes) the file system holding ``folder`` (or its nearest existing
    parent) stores; 255 where the system does not say."""
    existing = next((p for p in [folder, *folder.absolute().parents] if os.path.isdir(p)), Path("/"))
    try:
        return os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf on Windows
        return 255


def create_folder(folder: Path) -> Path | None:
    """Create ``folder`` and missing parents; return the topmost folder created (None if it existed)."""
    missing = [p for p in [folder, *folder.absolute().parents] if not os.path.lexists(p)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        for path in missing:  # the deepest first: remove only what this call made
            with_no_error(path.rmdir)
        raise OutputError(f"cannot create the output folder {str(folder)!r} ({exc.strerror}); choose another -o") \
            from None
    return missing[-1] if missing else None


def check_writable(folder: Path) -> None:
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write in the output folder {str(folder)!r} ({exc.strerror}); choose another -o") \
            from None


def set_aside(folder: Path, names: list[str]) -> Path | None:
    """Move the files the job will overwrite into a hidden folder in ``folder`` (a rename: cheap)."""
    present = [name for name in names if os.path.lexists(folder / name)]
    if not present:
        return None
    backup = Path(tempfile.mkdtemp(prefix=BACKUP_PREFIX, dir=folder))
    for name in present:
        os.replace(folder / name, backup / name)
    return backup


def restore(folder: Path, names: list[str], backup: Path | None) -> None:
    """Remove what the job wrote under ``names`` and bring back what it had set aside."""
    for name in names:
        remove(folder / name)
    if backup is not None:
        for saved in backup.iterdir():
            os.replace(saved, folder / saved.name)
        remove(backup)


def remove(path: Path | None) -> None:
    if path is None or not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with_no_error(path.unlink)


def with_no_error(action) -> None:
    """Clean-up on the way out of a failure must not hide that failure."""
    try:
        action()
    except OSError:
        pass

