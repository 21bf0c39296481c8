"""Routes of the questions domain: JSON API under /api and pages."""

from crm.questions.controllers import api, faq, public, reply, reports, triage

ROUTES: list = [*public.ROUTES, *reply.ROUTES, *faq.ROUTES, *reports.ROUTES, *triage.ROUTES, *api.ROUTES]
