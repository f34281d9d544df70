"""Which files a run created or changed in its working folder.

A snapshot maps each regular file's path, relative to the folder and with
``/`` separators, to ``(size, mtime_ns, inode)``; whatever is new or differs
after the run is an artifact. Symlinks are never followed nor reported (a
checkout could point one at a host file), and ``.git`` is left out.
"""

import os
import stat

SKIPPED_FOLDERS = {".git"}


def snapshot(folder):
    files = {}
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(f for f in folders if f not in SKIPPED_FOLDERS)
        for name in names:
            path = os.path.join(root, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                relative = os.path.relpath(path, folder).replace(os.sep, "/")
                files[relative] = (info.st_size, info.st_mtime_ns, info.st_ino)
    return files


def changed_files(before, after):
    """Relative paths in ``after`` that are new or changed since ``before``, sorted."""
    return sorted(path for path, signature in after.items() if before.get(path) != signature)
