"""liaison-crm: a CRM and current-awareness mailer for university liaison librarians."""

__version__ = "0.1.0"
