"""The question relay's rules, by sub-feature: asking (students), triage (librarians), replies
(lecturers), notify (emails), timeline (the CRM), suggest, faq, reports and reminders."""
