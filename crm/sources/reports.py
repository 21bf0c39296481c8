"""A run's report as plain text lines, for the CLI (``crm harvest``, ``crm ingest``) and logs."""

from crm.i18n import _
from crm.sources import labels
from crm.sources.models import SourceRun
from crm.sources.services.sources import rejections

#: How many rejected records a text report lists (the page /runs/{id} lists all that were kept).
SHOWN_REJECTIONS = 10


def report_lines(run: SourceRun, shown: int = SHOWN_REJECTIONS) -> list[str]:
    name = run.source.name if run.source else str(run.source_id)
    lines = [
        _("Run %(id)s of source %(source_id)s «%(name)s»: %(status)s", id=run.id, source_id=run.source_id, name=name,
          status=labels.label(labels.RUN_STATUSES, run.status)),
        _("Read %(read)s, new %(new)s, updated %(updated)s, unchanged or duplicates %(duplicates)s, rejected %(rejected)s.",
          read=run.read, new=run.new, updated=run.updated, duplicates=run.duplicates, rejected=run.rejected),
    ]
    if run.message:
        lines.append(run.message)
    listed = rejections(run)
    for rejection in listed[:shown]:
        where = _("record %(number)s", number=rejection.number) if rejection.number is not None else _("a record")
        key = f" [{rejection.record_key}]" if rejection.record_key else ""
        lines.append(f"  {where}{key}: {rejection.reason}")
    if run.rejected > min(shown, len(listed)):
        lines.append("  " + _("… %(more)s more rejected records: see the report at /runs/%(id)s.",
                               more=run.rejected - min(shown, len(listed)), id=run.id))
    return lines
