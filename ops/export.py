"""`python -m ops export SUB --output FILE`: a user's account as one JSON document.

The same document as the API's ``GET /me/export`` (``shared/accounts.py``): the profile, the
Cognito attributes (nothing secret) and the account's dates. It is the user's personal data,
so it goes to the file named (created readable by its owner only), never to the console
unless ``--output -`` asks for it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from ops.target import add_target_arguments, resolve
from shared.accounts import AccountError, LookupIncomplete
from shared.aws import error_code
from shared.profile import UndecodableProfile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sub", help="the user's sub (the profile's key)")
    parser.add_argument("--output", required=True, metavar="FILE", help="where to write the JSON (- for stdout)")
    parser.add_argument("--username", help="the Cognito user name (default: the profile's, or found by sub)")
    add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    target = resolve(args)
    accounts = target.accounts()
    try:
        document = accounts.export(args.sub, args.username)
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - this is the console
        return 2
    except UndecodableProfile as exc:
        print(f"error: the profile of {args.sub} cannot be read ({exc.attribute}); erase or repair it", file=sys.stderr)  # noqa: T201
        return 1
    except LookupIncomplete as exc:
        print(f"error: {exc}; run it again", file=sys.stderr)  # noqa: T201 - this is the console
        return 1
    except (BotoCoreError, ClientError) as exc:
        code = error_code(exc) or type(exc).__name__
        print(f"error: export of {args.sub} failed ({code})", file=sys.stderr)  # noqa: T201
        return 1
    if document is None:
        print(f"error: no user or profile with sub {args.sub}", file=sys.stderr)  # noqa: T201
        return 1
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        write_private(Path(args.output), text)
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)  # noqa: T201
        return 1
    found = [name for name in ("profile", "cognito") if document[name] is not None]
    print(f"exported {args.sub} ({' and '.join(found)}) to {Path(args.output)}")  # noqa: T201
    return 0


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only, even when ``path`` exists with a wider mode.

    ``os.open``'s mode applies only to a file it creates, so the document goes to a new temporary
    file beside ``path`` (created 0o600) that then replaces it.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
