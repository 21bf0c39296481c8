"""The CRM core's API and pages; ROUTES collects every controller of the domain."""

from crm.liaison.controllers import units
from crm.liaison.controllers import interactions

ROUTES = [*units.ROUTES, *interactions.ROUTES]
