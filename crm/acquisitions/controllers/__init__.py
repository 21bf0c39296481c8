"""Routes of the acquisitions domain: JSON API under /api and pages."""

from crm.acquisitions.controllers.api import AcquisitionsApiController
from crm.acquisitions.controllers.courses import CitationPageController, CoursePageController
from crm.acquisitions.controllers.plan import AcquisitionsPageController
from crm.acquisitions.controllers.public import PublicSuggestionController
from crm.acquisitions.controllers.slips import SlipPageController
from crm.acquisitions.controllers.suggestions import SuggestionPageController

ROUTES: list = [
    AcquisitionsApiController, AcquisitionsPageController, CoursePageController, CitationPageController,
    SuggestionPageController, SlipPageController, PublicSuggestionController,
]
