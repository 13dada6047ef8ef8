"""attach-triggers: put profile-sync's two triggers on an adopted user pool (see ops/triggers.py)."""

from __future__ import annotations

import argparse

from ops import triggers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    triggers.add_arguments(parser, force=True)


def run(args: argparse.Namespace) -> int:
    return triggers.run_attach(args)
