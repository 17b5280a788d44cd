"""``manage.py audit_verify``: walk the audit hash chain and report the first row tampered with."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.audit_guard import ChainHead, chain_verify


def _head(text: str) -> ChainHead:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise CommandError(f"--expect takes POSITION:HASH as logged by the daily head line, not {text!r}.")
    return ChainHead(int(seq), digest)


class Command(BaseCommand):
    help = (
        "Recompute the audit hash chain (audit events and the Part 2 disclosure ledger) and report "
        "rows changed, deleted or inserted out of order. Exits 1 on any finding. Prints ids and "
        "positions only, never a row's content."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--expect",
            action="append",
            default=[],
            metavar="POSITION:HASH",
            help="A head logged earlier (the daily 'audit chain head' log line); the chain must still "
            "carry that hash at that position. Repeat for several.",
        )
        parser.add_argument("--all", action="store_true", help="List every finding, not only the first.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = chain_verify(expect=[_head(text) for text in options["expect"]])
        if report.ok:
            self.stdout.write(f"Audit chain intact: {report.links} links, head {report.head}.")
            return
        shown = report.problems if options["all"] else report.problems[:1]
        for problem in shown:
            self.stderr.write(problem)
        more = len(report.problems) - len(shown)
        if more:
            self.stderr.write(f"... and {more} more finding(s); --all lists them.")
        raise CommandError(
            f"Audit chain broken: {len(report.problems)} finding(s) in {report.links} links "
            f"(head {report.head})."
        )
