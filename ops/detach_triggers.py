"""detach-triggers: take profile-sync's two triggers off a user pool (see ops/triggers.py)."""

from __future__ import annotations

import argparse

from ops import triggers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    triggers.add_arguments(parser, force=False)


def run(args: argparse.Namespace) -> int:
    return triggers.run_detach(args)
