"""Files rnnkit writes: whole or not at all, and never over a file it did not write.

:func:`replace_atomically` writes one file beside its destination and renames it
over it (models, report files). :func:`check_folder` and :func:`write_folder` are the
one place a report folder is judged and written: a manifest, :data:`MANIFEST`, lists
the files rnnkit wrote there, so a later run can replace its own report and nothing
else.
"""

import contextlib
import errno
import json
import os
import secrets

MANIFEST = ".rnnkit-report.json"


def replace_atomically(path, write, replaceable=None):
    """Call ``write(tmp)`` on a new file beside ``path``, then rename it over ``path``.

    An interrupted write leaves an earlier file intact. The file gets the permissions
    any new file gets (0o666 less the umask), not tempfile.mkstemp's 0o600. An OSError
    names ``path``, not the temporary file the user never asked for.

    With ``replaceable``, what is at ``path`` once the new file is written is judged
    again then (``replaceable(path)``, false: FileExistsError, the file intact), not only
    by the caller before the write: another program may have put a file there meanwhile.
    A name still free is taken by a hard link, which fails if that program took it
    between the check and the link, where a rename would replace its file.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    # The temporary name keeps the destination's extension: matplotlib picks the image
    # format from it.
    extension = os.path.splitext(path)[1][:16]
    # Named before it is made and made inside the try that removes it: an interrupt right
    # after os.open would otherwise leave a temporary file behind, which a report folder's
    # next run refuses as a file rnnkit did not write.
    tmp = None
    try:
        try:
            while tmp is None:
                tmp = os.path.join(directory, f".rnnkit-{secrets.token_hex(6)}.tmp{extension}")
                try:
                    # O_EXCL: never open a file someone else just made; mode 0o666 lets the
                    # kernel apply the umask, as for any new file.
                    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                except FileExistsError:
                    tmp = None  # someone else's: never removed
            write(tmp)
            if replaceable is None:
                os.replace(tmp, path)
            else:
                _put(tmp, path, replaceable)
        except BaseException:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise
    except OSError as err:
        # Errors about another file (one the writer reads, say) keep their own name.
        if err.errno is None or err.filename not in (None, tmp):
            raise
        raise OSError(err.errno, err.strerror, path) from err


# What os.link raises on a file system without hard links (FAT and exFAT, some network
# shares; Windows reports EINVAL): the new file is then renamed in place, as without
# replaceable. Any other error is the save's.
_NO_HARD_LINKS = {errno.EPERM, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}


def _put(tmp, path, replaceable):
    """Move the written ``tmp`` to ``path`` unless a file there is not ``replaceable``.

    A program that puts its own file at ``path`` between the last judgement and the
    rename of a replaceable file still loses it: a window of microseconds, where the
    judgement before the write left the whole write open.
    """
    if not os.path.lexists(path):
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise FileExistsError(
                errno.EEXIST, "appeared while rnnkit was writing it; not replaced", path
            ) from None
        except OSError as err:
            if err.errno not in _NO_HARD_LINKS:
                raise
        else:
            # the model is in place; a temporary name a virus scanner holds open for a
            # moment must not turn the saved model into an error
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
    if os.path.lexists(path) and not replaceable(path):
        raise FileExistsError(
            errno.EEXIST, "appeared while rnnkit was writing it and is not its file", path
        )
    os.replace(tmp, path)


def _listed(out):
    """The files the manifest in ``out`` says rnnkit wrote (none if it is missing or bad)."""
    try:
        with open(os.path.join(out, MANIFEST)) as f:
            files = json.load(f)["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    return {name for name in files if isinstance(name, str)} if isinstance(files, list) else set()


def _existing_folder(out):
    """The nearest folder at or above ``out`` that exists: where a new folder would be made."""
    path = os.path.abspath(out)
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def check_folder(out, names, overwrite=False):
    """Refuse, before any work, a report folder ``out`` that could not take files ``names``.

    ``out`` may be missing (it is made at :func:`write_folder`), empty, or hold only
    files rnnkit wrote (listed in its manifest). A folder with other files is refused
    unless ``overwrite``, and even then a file rnnkit did not write is never replaced.

    Raises
    ------
    FileExistsError
        ``out`` is a file, or holds files rnnkit did not write.
    NotADirectoryError
        A parent of ``out`` is a file.
    PermissionError
        ``out`` (or the folder it would be made in) is not writable.
    """
    out = os.fspath(out)
    base = _existing_folder(out)
    if not os.path.isdir(base):
        if base == os.path.abspath(out):
            raise FileExistsError(f"report folder {out!r} is a file; expected a folder")
        raise NotADirectoryError(
            f"report folder {out!r} cannot be made: {base!r} is a file, not a folder"
        )
    if not os.access(base, os.W_OK | os.X_OK):
        raise PermissionError(f"report folder {out!r}: no permission to write in {base!r}")
    if base != os.path.abspath(out):
        return
    listed = _listed(out)
    foreign = sorted(
        name
        for name in os.listdir(out)
        if name != MANIFEST and (name not in listed or not os.path.isfile(os.path.join(out, name)))
    )
    if not foreign:
        return
    shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
    clash = sorted(set(foreign) & set(names))
    if clash:
        raise FileExistsError(
            f"report folder {out!r} already has {', '.join(clash)}, which rnnkit did not "
            "write and never replaces; name a new folder"
        )
    if not overwrite:
        raise FileExistsError(
            f"report folder {out!r} holds files rnnkit did not write ({shown}); name a new "
            "folder, or pass --overwrite (overwrite=True) to write the report beside them"
        )


def write_folder(out, files, overwrite=False, retire=()):
    """Write report files into folder ``out``, each atomically, and list them in its manifest.

    Parameters
    ----------
    out : str or path
    files : dict of file name -> function that writes that file at the path it is given
    overwrite : bool
        Write beside files rnnkit did not write (never over them).
    retire : names of files an earlier report may have left
        Those the manifest lists (rnnkit wrote them) and this report does not write are
        removed afterwards, so that the folder holds one report, not a mix of two. Only
        these names: a manifest cannot make rnnkit delete anything else.

    Returns
    -------
    list of str
        The file names written, sorted.
    """
    out = os.fspath(out)
    check_folder(out, files, overwrite)
    os.makedirs(out, exist_ok=True)
    # The manifest first: a run cut short leaves files it lists, never files it does not
    # (which would make rnnkit's own folder look like the user's).
    kept = {name for name in _listed(out) if os.path.isfile(os.path.join(out, name))}
    manifest = {"written_by": "rnnkit", "files": sorted(kept | set(files))}

    def write_manifest(path):
        with open(path, "w") as f:
            json.dump(manifest, f, indent=1)

    replace_atomically(os.path.join(out, MANIFEST), write_manifest)
    for name, write in files.items():
        replace_atomically(os.path.join(out, name), write)
    stale = (kept & set(retire)) - set(files)
    if stale:
        for name in stale:
            os.remove(os.path.join(out, name))
        manifest["files"] = sorted(set(manifest["files"]) - stale)
        replace_atomically(os.path.join(out, MANIFEST), write_manifest)
    return sorted(files)


# Writers for write_folder: each takes the (temporary) path it is given.
def text_writer(text):
    """A writer of ``text`` as UTF-8."""

    def write(path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    return write


def figure_writer(figure, dpi=110):
    """A writer of a matplotlib figure; the format follows the file's extension."""
    return lambda path: figure.savefig(path, dpi=dpi)
