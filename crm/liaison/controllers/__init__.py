"""The CRM core's API and pages; ROUTES collects every controller of the domain."""

from crm.liaison.controllers import units
from crm.liaison.controllers import contacts, groups, csv_io
from crm.liaison.controllers import interactions, assignments, portfolio, home

ROUTES = [*units.ROUTES, *contacts.ROUTES, *groups.ROUTES, *csv_io.ROUTES, *interactions.ROUTES, *assignments.ROUTES, *portfolio.ROUTES, *home.ROUTES]
