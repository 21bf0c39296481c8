"""The question relay: public form, triage, lecturer reply by signed link, student feedback, FAQ, reports."""
